"""Training runs: ``train`` writes a run folder (:mod:`~dendrinet.training.run_folder`),
one epoch at a time (:mod:`~dendrinet.training.epochs`); ``evaluate_run`` tests any
epoch's weights (:mod:`~dendrinet.training.evaluation`); the scikit-learn style
estimator (:mod:`~dendrinet.training.estimator`) trains in memory."""
from dendrinet.training.trainer import train  # noqa: F401

__all__ = ["train"]

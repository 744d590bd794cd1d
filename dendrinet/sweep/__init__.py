"""Sweeps: grids of training runs, run on Dask, each an ordinary run folder.

``dendrinet sweep SWEEP.toml --out DIR`` expands a sweep file (:mod:`dendrinet.sweep.spec`: models,
protocols, data sets, seeds and a grid over any model or protocol value) into runs,
trains each with :func:`dendrinet.training.trainer.train` into ``DIR/runs/<run id>/`` as one
Dask task (:mod:`dendrinet.sweep.execute`: a local cluster, or an existing one; a run whose worker
dies continues from its last epoch checkpoint elsewhere) and writes ``DIR/results.csv``,
``DIR/summary.md`` and ``DIR/learning_curves.png`` (:mod:`dendrinet.sweep.results`)::

    DIR/sweep.toml            copy of the sweep file
    DIR/sweep.json            the runs, their swept values, failures of the last invocation
    DIR/runs/<run id>/        one run folder per combination (docs/design.md)
    DIR/locks/<run id>.lock   held by the process training that run
    DIR/results.csv           one row per run and epoch
    DIR/summary.md            final test error, mean ± s.d. over seeds, per configuration
    DIR/learning_curves.png   mean ± s.d. bands per configuration

Dask is imported only when runs are executed.
"""
from dendrinet.sweep.execute import SweepOutcome, execute_run, run_sweep
from dendrinet.sweep.results import SweepReport, is_sweep_folder, write_sweep_report
from dendrinet.sweep.spec import RunSpec, Sweep, load_sweep

__all__ = ["load_sweep", "Sweep", "RunSpec", "run_sweep", "execute_run", "SweepOutcome",
           "write_sweep_report", "is_sweep_folder", "SweepReport"]

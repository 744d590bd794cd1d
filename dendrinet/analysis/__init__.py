"""Analysis of dendrinet spike output, modelled on Elephant/Neo.

Statistics take a list of ``neo.SpikeTrain``, a ``(times_ms, node_ids)`` pair
(with ``t_start``, ``t_stop`` in ms and ``n_nodes``), or a ``SpikeStore`` plus
population name (streamed chunk by chunk), and return ``quantities`` arrays.

>>> from dendrinet.analysis import mean_firing_rate, cv
>>> rates = mean_firing_rate(store, "hidden")          # doctest: +SKIP
>>> cvs = cv((times_ms, node_ids), t_start=0, t_stop=1000, n_nodes=50)  # doctest: +SKIP

Training runs (a run folder written by ``dendrinet train``, or a ``Run``, opened by
:mod:`~dendrinet.analysis.run_data`) are analysed by :mod:`~dendrinet.analysis.learning`
(learning curves, losses, angle to backprop, confusion matrix),
:mod:`~dendrinet.analysis.plateaus` and :mod:`~dendrinet.analysis.learned_weights`
(receptive fields, weight statistics, feedback alignment), drawn by
:mod:`~dendrinet.analysis.learning_plots`, and summarised by :func:`write_report`.
:mod:`~dendrinet.analysis.interop` exports to Neo and NWB.

>>> curves = learning_curves("runs/1hidden")                 # doctest: +SKIP
>>> write_report("runs/1hidden", "reports/1hidden")          # doctest: +SKIP
"""

from dendrinet.analysis.bursts import burst_probability, burst_rate, event_rate, spike_kinds
from dendrinet.analysis.interop import to_neo, to_nwb
from dendrinet.analysis.learned_weights import (
    alignment_angle, feedback_alignment, receptive_field_grid, receptive_fields,
    weight_statistics,
)
from dendrinet.analysis.learning import (
    backprop_angles, confusion_matrix, learning_curves, losses, per_class_error,
)
from dendrinet.analysis.learning_plots import (
    plot_backprop_angle, plot_confusion_matrix, plot_feedback_alignment, plot_learning_curves,
    plot_losses, plot_plateau_differences, plot_plateau_histograms, plot_receptive_fields,
    plot_weight_statistics,
)
from dendrinet.analysis.plateaus import plateau_distributions
from dendrinet.analysis.plots import (
    plot_bursts, plot_isi_histogram, plot_psth, plot_raster, plot_rate_heatmap,
)
from dendrinet.analysis.report import write_report
from dendrinet.analysis.short_term import transmitted_share
from dendrinet.analysis.run_data import hidden_layers, open_run
from dendrinet.analysis.spiketrains import SpikeSource, to_source
from dendrinet.analysis.statistics import (
    cv, cv2, fano_factor, isi, isi_histogram, mean_firing_rate, population_rate, psth,
    rates_by_presentation, spike_counts, synchrony,
)

__all__ = [
    "SpikeSource", "to_source",
    "mean_firing_rate", "population_rate", "spike_counts", "rates_by_presentation", "psth",
    "isi", "isi_histogram", "cv", "cv2", "fano_factor", "synchrony",
    "event_rate", "burst_rate", "burst_probability", "spike_kinds", "plot_bursts",
    "transmitted_share",
    "plot_raster", "plot_rate_heatmap", "plot_psth", "plot_isi_histogram",
    "open_run", "hidden_layers",
    "learning_curves", "losses", "backprop_angles", "confusion_matrix", "per_class_error",
    "plateau_distributions", "receptive_fields", "receptive_field_grid", "weight_statistics",
    "alignment_angle", "feedback_alignment",
    "plot_learning_curves", "plot_losses", "plot_backprop_angle", "plot_plateau_histograms",
    "plot_plateau_differences", "plot_receptive_fields", "plot_confusion_matrix",
    "plot_weight_statistics", "plot_feedback_alignment",
    "to_neo", "to_nwb", "write_report",
]

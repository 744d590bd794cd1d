"""Analysis of dendrinet spike output, modelled on Elephant/Neo.

Statistics take a list of ``neo.SpikeTrain``, a ``(times_ms, node_ids)`` pair
(with ``t_start``, ``t_stop`` in ms and ``n_nodes``), or a ``SpikeStore`` plus
population name (streamed chunk by chunk), and return ``quantities`` arrays.

>>> from dendrinet.analysis import mean_firing_rate, cv
>>> rates = mean_firing_rate(store, "hidden")          # doctest: +SKIP
>>> cvs = cv((times_ms, node_ids), t_start=0, t_stop=1000, n_nodes=50)  # doctest: +SKIP
"""

from dendrinet.analysis.plots import (
    plot_isi_histogram, plot_psth, plot_raster, plot_rate_heatmap,
)
from dendrinet.analysis.spiketrains import SpikeSource, to_source
from dendrinet.analysis.statistics import (
    cv, cv2, fano_factor, isi, isi_histogram, mean_firing_rate, population_rate, psth,
    rates_by_presentation, spike_counts, synchrony,
)

__all__ = [
    "SpikeSource", "to_source",
    "mean_firing_rate", "population_rate", "spike_counts", "rates_by_presentation", "psth",
    "isi", "isi_histogram", "cv", "cv2", "fano_factor", "synchrony",
    "plot_raster", "plot_rate_heatmap", "plot_psth", "plot_isi_histogram",
]

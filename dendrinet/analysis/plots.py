"""Matplotlib plots of spike output: raster (also with events and bursts told apart), rate
heatmap, PSTH, ISI histogram.

Each function draws into ``ax`` (a new figure when ``ax`` is None) and returns
the Axes; axis labels carry units. Nothing here calls ``plt.show``, so the
functions work with any backend, including ``Agg``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.transforms as mtransforms
from matplotlib.ticker import MaxNLocator
import numpy as np
import quantities as pq

from dendrinet.analysis.bursts import BURST_ISI_MS, BURST_START, IN_BURST, SINGLE, spike_kinds
from dendrinet.errors import DendrinetError

#: gid of the vertical line drawn at the start of each presentation window.
BOUNDARY_GID = "presentation-boundary"
#: Above this many presentations the raster no longer writes example labels.
MAX_LABELS = 40
#: Text written left of the example labels above a raster, saying what they are.
LABEL_TITLE = "class label:"
#: Short names of the phases in the tick labels of a rate heatmap.
PHASE_ABBREVIATIONS = {"forward": "fwd", "target": "tgt"}


def _magnitude(values, unit, name: str) -> np.ndarray:
    """Values as a float array in ``unit`` (plain arrays are taken to be in ``unit``)."""
    if isinstance(values, pq.Quantity):
        try:
            values = values.rescale(unit).magnitude
        except ValueError as err:
            raise DendrinetError(f"{name} must be in units of {unit.dimensionality}, "
                                 f"got {values.dimensionality}") from err
    values = np.asarray(values, dtype=np.float64)
    if np.isnan(values).any():
        raise DendrinetError(f"{name} contains NaN")
    return values


def _histogram(values, unit, name: str, plural: str, edges_ms
               ) -> tuple[np.ndarray, np.ndarray]:
    """Checked float arrays of a histogram: ``values`` (n_bins,) in ``unit`` and the bin
    edges (n_bins + 1,) in ms. ``name`` and ``plural`` name the values in errors."""
    values = _magnitude(values, unit, name)
    edges = _magnitude(edges_ms, pq.ms, "edges_ms")
    if values.ndim != 1 or edges.shape != (values.size + 1,):
        raise DendrinetError(f"need n_bins {plural} and n_bins + 1 edges, "
                             f"got shapes {values.shape} and {edges.shape}")
    return values, edges


def _new_axes(ax, figsize):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def plot_raster(times_ms, node_ids, presentations=None, ax=None, *, marker_size=4.0):
    """Spike raster: one tick per spike, time against neuron index.

    Parameters
    ----------
    times_ms : array, ms (or time Quantity)
        Spike times.
    node_ids : array of int
        Neuron index of each spike.
    presentations : dict of arrays, optional
        ``t_start``, ``t_stop`` (ms) of each presentation window, optionally
        ``phase`` and ``label``/``example_id``. Windows are shaded by phase, a
        dashed line marks the start of each window, and the class label of each
        example is written above the axes at its first window, after the title
        ``LABEL_TITLE`` (when there are at most ``MAX_LABELS`` windows).
    ax : matplotlib Axes, optional
        Axes to draw into.
    marker_size : float
        Tick size in points**2.

    Returns
    -------
    matplotlib.axes.Axes
        Y ticks are whole neuron indices.
    """
    times = _magnitude(times_ms, pq.ms, "times_ms")
    node_ids = np.asarray(node_ids)
    if times.ndim != 1 or times.shape != node_ids.shape:
        raise DendrinetError(f"times_ms and node_ids must be 1-D of equal length, "
                             f"got shapes {times.shape} and {node_ids.shape}")
    ax = _new_axes(ax, (9, 4))
    ax.scatter(times, node_ids, s=marker_size, marker="|", color="black", linewidths=0.8,
               rasterized=times.size > 20_000)
    return _finish_raster(ax, node_ids, presentations)


#: Kind, gid, label and colour of the three kinds of spikes in :func:`plot_bursts`.
BURST_STYLES = ((SINGLE, "single", "single event", "0.25"),
                (BURST_START, "burst-start", "burst: event", "tab:red"),
                (IN_BURST, "in-burst", "burst: later spikes", "tab:orange"))


def plot_bursts(times_ms, node_ids, presentations=None, ax=None, *, burst_isi=BURST_ISI_MS,
                marker_size=4.0):
    """Spike raster with events and bursts told apart
    (:mod:`dendrinet.analysis.bursts`): single events, the events that start bursts and
    the later spikes of bursts in three colours, the legend giving their counts and the
    burst probability (bursts / events) of all neurons together.

    Parameters
    ----------
    times_ms, node_ids, presentations, ax, marker_size
        As :func:`plot_raster`.
    burst_isi : float (ms) or time Quantity
        A spike closer than this to its neuron's previous spike belongs to its burst.

    Returns
    -------
    matplotlib.axes.Axes
        The spikes of each kind are one collection, with gid ``"single"``,
        ``"burst-start"`` or ``"in-burst"``.
    """
    times = _magnitude(times_ms, pq.ms, "times_ms")
    node_ids = np.asarray(node_ids)
    kinds = spike_kinds(times, node_ids, burst_isi=burst_isi)
    ax = _new_axes(ax, (9, 4))
    counts, handles = {}, []
    for kind, gid, label, colour in BURST_STYLES:
        chosen = kinds == kind
        counts[gid] = int(chosen.sum())
        handles.append(ax.scatter(times[chosen], node_ids[chosen], s=marker_size, marker="|",
                                  color=colour, linewidths=0.8, gid=gid,
                                  rasterized=times.size > 20_000,
                                  label=f"{label} ({counts[gid]})"))
    _finish_raster(ax, node_ids, presentations)
    events = counts["single"] + counts["burst-start"]
    share = f"{counts['burst-start'] / events:.2f}" if events else "-"
    labels = [h.get_label() for h in handles]
    if ax.get_legend() is not None:  # the phases' legend: one legend holds both
        phases = ax.get_legend()
        handles = [*phases.legend_handles, *handles]
        labels = [*(t.get_text() for t in phases.get_texts()), *labels]
    ax.legend(handles, labels, title=f"burst probability {share}", loc="upper left",
              bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False, markerscale=2)
    return ax


def _finish_raster(ax, node_ids, presentations):
    """Axis labels, whole neuron indices and the presentation windows of a raster."""
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron index")
    ax.yaxis.set_major_locator(MaxNLocator(nbins="auto", integer=True))
    if node_ids.size:
        ax.set_ylim(node_ids.min() - 0.5, node_ids.max() + 0.5)
    if presentations is not None:
        _draw_presentations(ax, presentations)
    return ax


def _draw_presentations(ax, presentations) -> None:
    starts = _magnitude(presentations["t_start"], pq.ms, "presentation t_start")
    stops = _magnitude(presentations["t_stop"], pq.ms, "presentation t_stop")
    phases = [_text(p) for p in np.asarray(presentations.get("phase", [""] * starts.size)).tolist()]
    colours = {phase: plt.cm.tab10(i) for i, phase in enumerate(dict.fromkeys(phases))}
    for start, stop, phase in zip(starts, stops, phases):
        ax.axvspan(start, stop, color=colours[phase], alpha=0.12, lw=0)
        ax.axvline(start, color="0.4", lw=0.7, ls="--", gid=BOUNDARY_GID)
    if any(phases):
        handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.3) for c in colours.values()]
        # Outside the axes, so that it hides no spikes.
        ax.legend(handles, list(colours), title="phase", loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    labels = presentations.get("label")
    if labels is None or starts.size > MAX_LABELS:
        return
    labels = [_text(x) for x in np.asarray(labels).tolist()]
    examples = np.asarray(presentations.get("example_id", np.arange(starts.size)))
    # One label per example: phases of the same example share it.
    new_example = np.r_[True, examples[1:] != examples[:-1]]
    above_axes = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    ax.text(-0.005, 1.01, LABEL_TITLE, transform=ax.transAxes, ha="right", va="bottom",
            fontsize="small", style="italic", clip_on=False)
    for start, label in zip(starts[new_example], np.asarray(labels, dtype=object)[new_example]):
        ax.text(start, 1.01, label, transform=above_axes, ha="left", va="bottom",
                fontsize="small", clip_on=False)


def _phase_name(phase: str) -> str:
    return PHASE_ABBREVIATIONS.get(phase, phase)


def plot_rate_heatmap(rates, labels=None, ax=None, *, phases=None, cmap="viridis"):
    """Heatmap of firing rates, one row per presentation, one column per neuron.

    Parameters
    ----------
    rates : array (n_presentations, n_nodes), Hz (or rate Quantity)
        E.g. the output of :func:`rates_by_presentation`.
    labels : array (n_presentations,), optional
        Example label of each presentation. Rows are then grouped by label
        (stable order), groups are separated by white lines and ticked with
        their label.
    ax : matplotlib Axes, optional
        Axes to draw into.
    phases : array (n_presentations,), optional
        Phase of each presentation (e.g. ``"forward"``, ``"target"``). When the rows
        hold more than one phase, the rows of each label are grouped by phase too
        (in order of first appearance), a thin dotted line separates the phases, and
        each group is ticked with its label and phase, e.g. ``"3 fwd"``, ``"3 tgt"``
        (abbreviations in ``PHASE_ABBREVIATIONS``, explained in the y label).
    cmap : str
        Matplotlib colormap name.

    Returns
    -------
    matplotlib.axes.Axes
        The image is ``ax.images[0]``; a colorbar labelled "rate (Hz)" is added.
    """
    rates = _magnitude(rates, pq.Hz, "rates")
    if rates.ndim != 2:
        raise DendrinetError(
            f"rates must be 2-D (n_presentations, n_nodes), got shape {rates.shape}")
    n_rows = rates.shape[0]
    if phases is not None:
        phases = np.array([_text(x) for x in np.asarray(phases).tolist()])
        if phases.shape != (n_rows,):
            raise DendrinetError(f"phases must have one entry per row of rates ({n_rows}), "
                                 f"got shape {phases.shape}")
        if labels is None:
            raise DendrinetError("phases are drawn together with labels; pass labels too")
    ax = _new_axes(ax, (7, 5))
    if labels is not None:
        labels = np.array([_text(x) for x in np.asarray(labels).tolist()])
        if labels.shape != (n_rows,):
            raise DendrinetError(f"labels must have one entry per row of rates ({n_rows}), "
                                 f"got shape {labels.shape}")
    marked = phases is not None and np.unique(phases).size > 1
    if labels is not None:
        if marked:
            rank = {phase: i for i, phase in enumerate(dict.fromkeys(phases.tolist()))}
            phase_rank = np.array([rank[p] for p in phases])
            order = np.lexsort((phase_rank, labels))  # by label, then phase; stable
            phases = phases[order]
        else:
            order = np.argsort(labels, kind="stable")
        rates, labels = rates[order], labels[order]
    image = ax.imshow(rates, aspect="auto", interpolation="nearest", cmap=cmap,
                      extent=(-0.5, rates.shape[1] - 0.5, rates.shape[0] - 0.5, -0.5))
    ax.figure.colorbar(image, ax=ax, label="rate (Hz)")
    ax.set_xlabel("neuron index")
    if labels is None:
        ax.set_ylabel("presentation")
        return ax
    new_label = np.r_[True, labels[1:] != labels[:-1]]
    if marked:
        new_group = new_label | np.r_[True, phases[1:] != phases[:-1]]
    else:
        new_group = new_label
    starts = np.flatnonzero(new_group)
    bounds = np.r_[starts, labels.size]
    for edge in bounds[1:-1]:
        if new_label[edge]:
            ax.axhline(edge - 0.5, color="white", lw=1.2)
        else:
            ax.axhline(edge - 0.5, color="white", lw=0.8, ls=":")
    if marked:
        ticks = [f"{labels[i]} {_phase_name(phases[i])}" for i in starts]
        shown = dict.fromkeys(phases.tolist())
        key = ", ".join(f"{_phase_name(p)} = {p}" for p in shown if _phase_name(p) != p)
        ax.set_ylabel("presentation, grouped by label and phase"
                      + (f"\n({key})" if key else ""))
    else:
        ticks = [labels[i] for i in starts]
        ax.set_ylabel("presentation, grouped by label")
    ax.set_yticks((bounds[:-1] + bounds[1:] - 1) / 2, ticks,
                  **({"fontsize": "small"} if len(ticks) > 12 else {}))
    return ax


def plot_psth(rate, edges_ms, ax=None, *, color="tab:blue"):
    """Population rate histogram as filled steps.

    Parameters
    ----------
    rate : array (n_bins,), Hz (or rate Quantity)
        Population rate per bin, e.g. the first output of :func:`psth`.
    edges_ms : array (n_bins + 1,), ms (or time Quantity)
        Bin edges, e.g. the second output of :func:`psth`.
    ax : matplotlib Axes, optional
        Axes to draw into.
    color : matplotlib colour

    Returns
    -------
    matplotlib.axes.Axes
        With equal bins the y label states their width, e.g.
        "population rate (Hz), 10 ms bins".
    """
    rate, edges = _histogram(rate, pq.Hz, "rate", "rates", edges_ms)
    ax = _new_axes(ax, (9, 3))
    ax.stairs(rate, edges, fill=True, color=color, alpha=0.8)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("population rate (Hz)" + bin_width_text(edges, ", "))
    return ax


def bin_width_text(edges_ms, prefix: str = "") -> str:
    """``prefix + "10 ms bins"`` for equal bins of 10 ms; ``""`` for unequal or no bins."""
    widths = np.diff(_magnitude(edges_ms, pq.ms, "edges_ms"))
    if widths.size == 0 or not np.allclose(widths, widths[0], rtol=1e-6, atol=1e-9):
        return ""
    return f"{prefix}{float(f'{widths[0]:.6g}'):g} ms bins"


def plot_isi_histogram(counts, edges_ms, ax=None, *, log=False, color="tab:gray"):
    """Histogram of inter-spike intervals.

    Parameters
    ----------
    counts : array (n_bins,)
        Number of intervals per bin, e.g. the first output of :func:`isi_histogram`.
    edges_ms : array (n_bins + 1,), ms (or time Quantity)
        Bin edges.
    ax : matplotlib Axes, optional
        Axes to draw into.
    log : bool
        Logarithmic count axis (shows the exponential tail of Poisson firing as a line).
    color : matplotlib colour

    Returns
    -------
    matplotlib.axes.Axes
    """
    counts, edges = _histogram(counts, pq.dimensionless, "counts", "counts", edges_ms)
    ax = _new_axes(ax, (6, 4))
    ax.stairs(counts, edges, fill=True, color=color)
    ax.set_xlim(edges[0], edges[-1])
    if log:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlabel("inter-spike interval (ms)")
    ax.set_ylabel("number of intervals")
    return ax

"""Export spikes to Neo and to NWB.

:func:`to_neo` turns any selection of a spike store (population, time window or
presentation, neurons) into ``neo.SpikeTrain`` objects, delegating to
:meth:`dendrinet.store.SpikeStore.to_neo`. :func:`to_nwb` writes a Neurodata
Without Borders file: one row of the ``units`` table per neuron (spike times in
seconds, with ``population`` and ``node_id`` columns) and one trial per
presentation phase. NWB needs the optional package ``pynwb``.
"""
from __future__ import annotations

import datetime
import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from dendrinet.errors import DendrinetError, StoreError
from dendrinet.storage.files import commit_temporary, create_temporary, remove_file

__all__ = ["to_neo", "to_nwb", "read_nwb_units"]


@contextmanager
def _opened(store):
    """A SpikeStore for ``store`` (a store or a path); closes what it opened."""
    from dendrinet.store import SpikeStore

    if isinstance(store, SpikeStore):
        yield store
        return
    if not isinstance(store, (str, os.PathLike)):
        raise DendrinetError(f"expected a SpikeStore or the path of a spikes .h5 file, got "
                             f"{type(store).__name__}")
    with SpikeStore(store, "r") as opened:
        yield opened


def _window(store, t_start, t_stop, presentation):
    if presentation is None:
        return t_start, t_stop
    if t_start is not None or t_stop is not None:
        raise DendrinetError("give either a presentation or a t_start/t_stop window, not both")
    return store.presentation_window(presentation)


def to_neo(store, population: str, *, t_start: float | None = None,
           t_stop: float | None = None, node_ids=None, presentation: int | None = None) -> list:
    """Spike trains of a selection as ``neo.SpikeTrain`` objects.

    Parameters
    ----------
    store : SpikeStore or path
        The spike store (a path is opened read-only and closed again).
    population : str
        Population name.
    t_start, t_stop : float, optional
        Window (ms); default the whole recording.
    node_ids : array_like of int, optional
        Neurons to export, in this order (default all).
    presentation : int, optional
        Row of the presentation table whose window to export (instead of
        ``t_start``/``t_stop``).

    Returns
    -------
    list of neo.SpikeTrain
        One per selected neuron (empty trains included), times in s, annotated with
        ``population`` and ``node_id``.
    """
    with _opened(store) as opened:
        t_start, t_stop = _window(opened, t_start, t_stop, presentation)
        return opened.to_neo(population, t_start, t_stop, node_ids)


def _require_pynwb():
    try:
        import pynwb
    except ImportError:
        raise DendrinetError("NWB export needs the optional package pynwb; install it with "
                             "'pip install dendrinet[nwb]' (or 'pip install pynwb')") from None
    return pynwb


def _session_start(path: Path) -> datetime.datetime:
    # NWB needs a time-zone-aware start; the store file's modification time is the
    # end of the recording, the closest stable date we have.
    return datetime.datetime.fromtimestamp(path.stat().st_mtime, tz=datetime.timezone.utc)


def to_nwb(store, path, *, populations=None, t_start: float | None = None,
           t_stop: float | None = None, session_description: str | None = None,
           overwrite: bool = False) -> Path:
    """Write the spikes of a store to an NWB file (``units`` table and trials).

    Parameters
    ----------
    store : SpikeStore or path
        The spike store.
    path : str or path-like
        The ``.nwb`` file to write.
    populations : list of str, optional
        Populations to export (default all), in this order; units are numbered
        consecutively population after population.
    t_start, t_stop : float, optional
        Window (ms); default the whole recording.
    session_description : str, optional
        Free text stored in the file (default: the store's content metadata).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        The written file. Each unit row has ``spike_times`` (s), ``population`` and
        ``node_id``; each presentation phase inside the window is a trial with
        ``start_time``, ``stop_time`` (s), ``example_id``, ``label``, ``phase``.

    Raises
    ------
    DendrinetError
        pynwb is missing, the file exists (without ``overwrite``), an unknown
        population or a bad window. Every population's spikes in the window are
        held in memory while writing.
    """
    pynwb = _require_pynwb()
    out = Path(path)
    if out.exists() and not overwrite:
        raise DendrinetError(f"{out} already exists; pass overwrite=True to replace it")
    if out.is_dir():
        raise DendrinetError(f"{out} is a directory")
    with _opened(store) as opened:
        names = opened.populations if populations is None else list(populations)
        if not names:
            raise StoreError(f"{opened.path}: the store has no population to export")
        for name in names:
            opened.n_nodes(name)  # raises a StoreError naming an unknown population
        start = 0.0 if t_start is None else float(t_start)
        stop = opened.t_stop if t_stop is None else float(t_stop)
        if not stop > start:
            raise DendrinetError(f"empty window: t_start {start} ms, t_stop {stop} ms")
        metadata = opened.metadata
        description = session_description or str(metadata.get("content", "dendrinet spikes"))
        nwb = pynwb.NWBFile(session_description=description,
                            identifier=f"dendrinet-{uuid.uuid4()}",
                            session_start_time=_session_start(opened.path),
                            source_script="dendrinet.analysis.interop.to_nwb",
                            source_script_file_name=str(opened.path))
        nwb.units = _units_table(opened, names, t_start, t_stop, start, stop)
        _add_trials(nwb, opened.presentations, start, stop)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp, fd = create_temporary(out, suffix=".tmp.nwb")  # pynwb warns about other suffixes
    os.close(fd)
    try:
        with pynwb.NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwb)
        commit_temporary(tmp, out)
    except BaseException:
        remove_file(tmp)
        raise
    return out


def _units_table(store, names, t_start, t_stop, start_ms: float, stop_ms: float):
    """The NWB ``units`` table, built column by column (``add_unit`` row by row takes
    seconds for a thousand neurons)."""
    from hdmf.common import ElementIdentifiers, VectorData, VectorIndex
    from pynwb.misc import Units

    from dendrinet.analysis.spiketrains import check_result_size

    # one row per declared neuron, spiking or not (about 64 bytes each in the columns)
    total = sum(store.n_nodes(name) for name in names)
    check_result_size(64.0 * total, f"to_nwb's units table of {total} neurons")
    times_s, counts, population, node_id = [], [], [], []
    for name in names:
        n_nodes = store.n_nodes(name)
        # None bounds: the whole recording, including a spike at the store's t_stop
        times, ids = store.spikes(name, t_start, t_stop)
        order = np.argsort(ids, kind="stable")  # keeps each neuron's times sorted
        times_s.append(times[order] / 1000.0)
        counts.append(np.bincount(ids, minlength=n_nodes))
        population += [name] * n_nodes
        node_id.append(np.arange(n_nodes, dtype=np.int64))
    n_units = len(population)
    spike_times = VectorData(name="spike_times", data=np.concatenate(times_s),
                             description="spike times of each unit (s)")
    intervals = VectorData(name="obs_intervals",
                           data=np.tile([[start_ms / 1000.0, stop_ms / 1000.0]], (n_units, 1)),
                           description="observation interval of each unit (s)")
    columns = [
        spike_times,
        VectorIndex(name="spike_times_index", data=np.cumsum(np.concatenate(counts)),
                    target=spike_times),
        intervals,
        VectorIndex(name="obs_intervals_index", data=np.arange(1, n_units + 1),
                    target=intervals),
        VectorData(name="population", data=population,
                   description="name of the dendrinet population"),
        VectorData(name="node_id", data=np.concatenate(node_id),
                   description="index of the neuron in its population"),
    ]
    return Units(name="units", id=ElementIdentifiers(name="id", data=np.arange(n_units)),
                 columns=columns, colnames=["spike_times", "obs_intervals", "population",
                                            "node_id"],
                 description="dendrinet neurons, one unit per neuron")


def _add_trials(nwb, presentations: dict, start_ms: float, stop_ms: float) -> None:
    inside = (presentations["t_start"] >= start_ms) & (presentations["t_stop"] <= stop_ms)
    if not inside.any():
        return
    nwb.add_trial_column("example_id", "index of the example in its data set")
    nwb.add_trial_column("label", "class label of the example (-1: none)")
    nwb.add_trial_column("phase", "presentation phase: forward, target or test")
    for i in np.flatnonzero(inside):
        nwb.add_trial(start_time=presentations["t_start"][i] / 1000.0,
                      stop_time=presentations["t_stop"][i] / 1000.0,
                      example_id=int(presentations["example_id"][i]),
                      label=int(presentations["label"][i]),
                      phase=str(presentations["phase"][i]))


def read_nwb_units(path) -> dict[str, list[np.ndarray]]:
    """Read back the spike times (s) per population from a file written by :func:`to_nwb`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict of str -> list of ndarray
        For each population, the spike times (s) of node 0, 1, ...
    """
    pynwb = _require_pynwb()
    if not Path(path).is_file():
        raise DendrinetError(f"NWB file {str(path)!r} not found")
    out: dict[str, list[np.ndarray]] = {}
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        units = io.read().units
        if units is None:
            return out
        populations = units["population"][:]
        node_ids = units["node_id"][:]
        for row, (population, node) in enumerate(zip(populations, node_ids)):
            trains = out.setdefault(str(population), [])
            if node != len(trains):
                raise DendrinetError(f"{path}: units of {population!r} are not in node order")
            trains.append(np.asarray(units["spike_times"][row], dtype=np.float64))
    return out

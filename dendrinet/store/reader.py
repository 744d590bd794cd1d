"""The reading half of a spike store: opening a store (SWMR read mode, retrying while
a writer flushes), checking its format, and the lazy reads (windows by binary search,
chunks, presentations). :class:`~dendrinet.store.writer.SpikeStore` adds writing."""
from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator

import h5py
import numpy as np

from dendrinet.errors import StoreError
from dendrinet.config.schedule import PHASE_NAMES as PHASES
from dendrinet.store.hdf5_files import CACHE_BYTES, NO_HDF5_LOCK
from dendrinet.store.layout import (CHUNK_ROWS, FORMAT, FORMAT_VERSION, PRESENTATION_COLUMNS,
                                    as_int, attribute, check_layout, check_read, shown,
                                    stored_rows)
from dendrinet.store.neo import spike_trains
from dendrinet.store.superblock import SWMR_WRITE_ACCESS, WRITE_ACCESS, superblock_of
from dendrinet.store.values import check_window, id_array

_OPEN_ATTEMPTS = 6  # a reader retries a file a writer is flushing: 10, 20, ... 160 ms


def serialised(method):
    """Run a method under the store's lock (the flush timer thread takes it too)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return wrapper


def _bisect(dataset: h5py.Dataset, n: int, value: float, side: str) -> int:
    """``np.searchsorted(dataset[:n], value, side)`` reading about log2(n/chunk) chunks.

    Bisects on the first element of each HDF5 chunk, then searches the one chunk
    that holds the answer, so only whole chunks are decompressed, never the dataset.
    """
    step = dataset.chunks[0] if dataset.chunks else CHUNK_ROWS  # contiguous: any block
    before = (lambda x: x < value) if side == "left" else (lambda x: x <= value)
    lo, hi = 0, (n + step - 1) // step  # over chunk indices
    while lo < hi:
        mid = (lo + hi) // 2
        if before(dataset[mid * step]):
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return 0
    start = (lo - 1) * step
    block = dataset[start:min(start + step, n)]
    return start + int(np.searchsorted(block, value, side))


class StoreReader:
    """The reading methods of :class:`~dendrinet.store.SpikeStore` (which documents
    them with the class), apart from the writing ones: a base class, not opened by
    itself. It relies on the state ``SpikeStore.__init__`` sets up (``path``, ``mode``,
    the open file, the lock, the spikes a writer holds in memory)."""

    # ---------------------------------------------------------------- opening
    def _h5(self, h5mode: str, **kwargs) -> h5py.File:
        return h5py.File(self.path, h5mode, libver="latest", rdcc_nbytes=CACHE_BYTES,
                         **NO_HDF5_LOCK, **kwargs)

    def _open_reader(self) -> h5py.File:
        """Open for reading, in SWMR mode: it reads a file a writer is appending to (or
        that a killed writer left), retrying checksums the writer is rewriting, and
        without HDF5's end-of-file check, which a growing file fails while the writer
        has reserved space it has not written yet. A file closed cleanly gets that check
        here (a truncated copy would otherwise open)."""
        name = str(self.path)
        error: OSError | None = None
        for attempt in range(_OPEN_ATTEMPTS):
            found = superblock_of(self.path)
            if found is None:
                break
            block, size = found
            if block.flags & WRITE_ACCESS and not block.flags & SWMR_WRITE_ACCESS:
                raise StoreError(f"spike store {name!r} is open for writing by a program that "
                                 "does not use SWMR, or its writer died without closing it; "
                                 f"if nothing writes it, SpikeStore.recover({name!r}) makes it "
                                 "readable")
            if not block.flags and block.end is not None and size < block.end:
                break  # closed cleanly, then cut short
            try:
                file = self._h5("r", swmr=True)
                self._flags = block.flags
                return file
            except OSError as err:
                error = err
            if not block.flags & SWMR_WRITE_ACCESS:
                break
            time.sleep(0.01 * 2 ** attempt)  # the writer is flushing: try again
        if "unable to lock file" in str(error):
            raise StoreError(f"spike store {name!r} is locked: another program has it open "
                             "for writing")
        raise StoreError(f"{name!r} is not a readable HDF5 file (truncated or corrupt)")

    def _check_format(self, file: h5py.File) -> None:
        """Check what the reader relies on before it reads anything: the format, the
        root attributes, the groups and, per population, ``n_nodes`` and the two
        columns (types and shapes; their values are checked as they are read). A
        hand-edited or foreign file is one StoreError naming the path and the problem."""
        name = str(self.path)
        fmt = attribute(file, "format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode(errors="replace")
        if not isinstance(fmt, str) or fmt != FORMAT:
            raise StoreError(f"{name!r} is an HDF5 file but not a dendrinet spike store")
        version = attribute(file, "format_version")
        if as_int(version) is None:
            raise StoreError(f"{name!r}: the root attribute format_version is "
                             f"{shown(version)}, not an integer (a damaged or hand-edited "
                             "spike store)")
        if as_int(version) != FORMAT_VERSION:
            raise StoreError(f"{name!r} has spike store format_version {as_int(version)}; "
                             f"this dendrinet reads version {FORMAT_VERSION}")
        check_layout(file, repr(name))

    @property
    def _live(self) -> h5py.File:
        if self._file is None:
            if self._failure is not None:
                self._failure_unreported = False
                raise StoreError(self._failure)
            raise StoreError(f"spike store {str(self.path)!r} is closed")
        return self._file

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._file is None else f"mode={self.mode!r}"
        return f"SpikeStore({str(self.path)!r}, {state})"

    def _write_pending(self, population: str | None = None) -> None:
        """Write the spikes a writer holds in memory (a writer's; a reader has none)."""

    # ------------------------------------------------------------- populations
    @property
    def populations(self) -> list[str]:
        """Names of the stored populations, sorted."""
        return sorted(self._live["spikes"])

    def _population(self, name: str) -> h5py.Group:
        spikes = self._live["spikes"]
        if not isinstance(name, str) or name not in spikes:
            raise StoreError(f"{str(self.path)!r} has no population {name!r}; "
                             f"available: {sorted(spikes)}")
        return spikes[name]

    def n_nodes(self, population: str) -> int:
        """Number of neurons (node ids ``0 .. n_nodes-1``) of a population."""
        if population not in self._n_nodes:  # valid: checked at open or by add_population
            self._n_nodes[population] = int(self._population(population).attrs["n_nodes"])
        return self._n_nodes[population]

    @serialised
    def n_spikes(self, population: str) -> int:
        """Number of stored spikes of a population."""
        group = self._population(population)
        self._write_pending(population)
        return stored_rows(group)

    def _latest_event(self) -> float:
        stops = self._read(self._live["presentations/t_stop"], slice(0, self.n_presentations))
        check_read(repr(str(self.path)), "presentation t_stop", stops)
        return max([self._last_time(p) for p in self.populations]
                   + [float(stops.max(initial=0.0))])

    # ------------------------------------------------------------------ reading
    @property
    def metadata(self) -> dict:
        """Run metadata, decoded from JSON."""
        out = {}
        for key, value in self._live["metadata"].attrs.items():
            try:
                out[key] = json.loads(value)
            except (TypeError, ValueError):  # an attribute some other tool added
                out[key] = value.item() if isinstance(value, np.generic) else value
        return out

    @property
    def t_stop(self) -> float:
        """Duration of the run so far (ms)."""
        t_stop = self._t_stop
        if self.mode == "r" and self._flags:  # a writer has it open, or died: it may
            t_stop = max(t_stop, self._latest_event())  # be between a batch and its t_stop
        return t_stop

    @property
    def dt(self) -> float | None:
        """Simulation time step (ms), or None when it was not recorded."""
        dt = self._live.attrs.get("dt")
        return None if dt is None else float(dt)

    def _last_time(self, population: str) -> float:
        if self._pending.get(population):
            return float(self._pending[population][-1][0][-1])
        group = self._population(population)
        n = stored_rows(group)
        if not n:
            return 0.0
        last = self._read(group["timestamps"], slice(n - 1, n))
        check_read(repr(str(self.path)), f"timestamps of {population!r}", last)
        return float(last[0])

    @property
    def presentations(self) -> dict[str, np.ndarray]:
        """All presentation rows: ``example_id``, ``label``, ``phase`` (str),
        ``t_start``, ``t_stop`` (ms)."""
        group = self._live["presentations"]
        n = min(group[name].shape[0] for name in PRESENTATION_COLUMNS)
        out = {name: self._read(group[name], slice(0, n)) for name in PRESENTATION_COLUMNS}
        where = repr(str(self.path))
        check_read(where, "presentation example_id", ids=out["example_id"])
        check_read(where, "presentation label", ids=out["label"], low=-1)
        check_read(where, "presentation phase", ids=out["phase"], n_nodes=len(PHASES))
        check_read(where, "presentation t_start", out["t_start"])
        check_read(where, "presentation t_stop", out["t_stop"])
        out["phase"] = np.array(PHASES)[out["phase"].astype(np.intp)]
        return out

    @property
    def n_presentations(self) -> int:
        """Number of presentation rows."""
        return min(self._live["presentations"][name].shape[0] for name in PRESENTATION_COLUMNS)

    def presentation_window(self, index: int) -> tuple[float, float]:
        """``(t_start, t_stop)`` in ms of presentation row ``index``."""
        n = self.n_presentations
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                or not 0 <= index < n:
            raise StoreError(f"presentation index must be an integer in [0, {n}), got {index!r}")
        group = self._live["presentations"]
        row = slice(int(index), int(index) + 1)
        window = np.concatenate([self._read(group["t_start"], row),
                                 self._read(group["t_stop"], row)])
        check_read(repr(str(self.path)), f"presentation {index}", window)
        return float(window[0]), float(window[1])

    def spikes(self, population: str, t_start: float | None = None, t_stop: float | None = None,
               node_ids=None) -> tuple[np.ndarray, np.ndarray]:
        """Spikes of a population in the window ``[t_start, t_stop)`` (ms).

        Only the chunks around the window are read (binary search on the sorted
        timestamps).

        Parameters
        ----------
        population : str
        t_start, t_stop : float, optional
            Window (ms); None means the start / the end of the recording (the end
            included).
        node_ids : array_like of int, optional
            Keep only the spikes of these neurons.

        Returns
        -------
        times_ms : ndarray of float64
        node_ids : ndarray of int64
        """
        group = self._population(population)
        check_window(t_start, t_stop)
        selected = None if node_ids is None else id_array(
            node_ids, self.n_nodes(population), f"selected node ids of {population!r}")
        n = self.n_spikes(population)  # also writes pending spikes
        timestamps = group["timestamps"]
        lo = 0 if t_start is None else _bisect(timestamps, n, float(t_start), "left")
        hi = n if t_stop is None else _bisect(timestamps, n, float(t_stop), "left")
        times = self._read(timestamps, slice(lo, hi))
        ids = self._read(group["node_ids"], slice(lo, hi))
        check_read(repr(str(self.path)), f"the spikes of {population!r}", times, ids,
                    self.n_nodes(population))
        if selected is not None:
            keep = np.isin(ids, selected)
            times, ids = times[keep], ids[keep]
        return times, ids

    def spikes_in_presentation(self, population: str, index: int, node_ids=None):
        """Spikes of a population during presentation row ``index`` (see :meth:`spikes`)."""
        return self.spikes(population, *self.presentation_window(index), node_ids=node_ids)

    def iter_chunks(self, population: str, chunk_size: int = 1_000_000
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(times_ms, node_ids)`` blocks of at most ``chunk_size`` spikes, in time
        order; memory is bounded by the block size (16 bytes per spike)."""
        group = self._population(population)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
                or chunk_size <= 0:
            raise StoreError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        n = self.n_spikes(population)
        n_nodes = self.n_nodes(population)
        last = -np.inf
        for start in range(0, n, int(chunk_size)):
            block = slice(start, min(start + int(chunk_size), n))
            times = self._read(group["timestamps"], block)
            ids = self._read(group["node_ids"], block)
            check_read(repr(str(self.path)), f"the spikes of {population!r}", times, ids,
                        n_nodes)
            if times.size and times[0] < last:  # sorted across blocks too
                raise StoreError(f"{str(self.path)!r}: the spikes of {population!r} are not "
                                 "sorted by time (a damaged or hand-edited store)")
            last = times[-1] if times.size else last
            yield times, ids

    def to_neo(self, population: str, t_start: float | None = None, t_stop: float | None = None,
               node_ids=None) -> list:
        """One ``neo.SpikeTrain`` per neuron (times in s), empty trains included.

        Parameters
        ----------
        t_start, t_stop : float, optional
            Window (ms); defaults to 0 and the store's ``t_stop``.
        node_ids : array_like of int, optional
            Neurons to export, in this order; default all ``0 .. n_nodes-1``. At most
            :data:`~dendrinet.store.MAX_NEO_TRAINS` (100,000) neurons per call: a
            larger population needs a selection, e.g. the neurons that spiked,
            ``np.unique(store.spikes(population)[1])``.

        Returns
        -------
        list of neo.SpikeTrain
            Times in s, ``t_start``/``t_stop`` the window in s; annotations
            ``population`` and ``node_id``.
        """
        return spike_trains(self, population, t_start, t_stop, node_ids)

    def _read(self, dataset: h5py.Dataset, selection: slice) -> np.ndarray:
        try:
            return dataset[selection]
        except OSError:
            raise StoreError(f"{str(self.path)!r}: dataset {dataset.name} is unreadable "
                             "(truncated or corrupt)") from None

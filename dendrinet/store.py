"""HDF5 spike store (SONATA-style layout), written while simulating, read lazily.

Layout of a store (all times in ms since the start of the run)::

    /                          attrs: format="dendrinet-spikes", format_version=1,
                                      t_stop (run duration so far), dt (time step)
    /spikes/<population>/      attrs: sorting="by_time", n_nodes
        timestamps             float64, attr units="ms", non-decreasing
        node_ids               int64, in [0, n_nodes)
    /presentations/            one row per presentation phase (1-D columns)
        example_id, label      int64 (label -1 when there is none)
        phase                  enum int8: forward=0, target=1, test=2
        t_start, t_stop        float64 ms
    /metadata                  attrs: one JSON string per key (model, protocol,
                               seed, versions of the libraries, ...)

Every dataset is chunked, compressed (gzip 4 + shuffle) and resizable, so spikes are
appended batch by batch and memory stays bounded. While a writer has the file open it
is in SWMR mode (HDF5 single-writer/multiple-reader): HDF5 then orders its writes so
that the file on disk is readable at every instant, and a writer killed by SIGKILL
leaves everything appended before its last flush readable (``append_*`` flush by
default). Without SWMR a killed writer left unreadable compressed chunks in about one
run out of ten (freed chunk space was reused while the on-disk index still pointed at
it). SWMR's price: file space freed when the partly filled last chunk is rewritten is
never reused, so many tiny flushed batches bloat the file (see ``append_spikes``).
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from dendrinet.errors import StoreError

FORMAT = "dendrinet-spikes"
FORMAT_VERSION = 1
#: Rows per HDF5 chunk of the spike datasets (128 KiB of float64): small enough that
#: rewriting the partly filled last chunk at each flush stays cheap.
CHUNK_ROWS = 16384
PHASES = ("forward", "target", "test")
_PHASE_DTYPE = h5py.enum_dtype({name: code for code, name in enumerate(PHASES)}, basetype="i1")
_PRESENTATION_COLUMNS = {"example_id": np.int64, "label": np.int64, "phase": _PHASE_DTYPE,
                         "t_start": np.float64, "t_stop": np.float64}
_CACHE_BYTES = 4 * 1024 ** 2  # HDF5 chunk cache per dataset: a few decompressed chunks


def library_versions() -> dict[str, str]:
    """Versions of python, numpy, h5py, HDF5, dendrinet and (if installed) brian2."""
    import dendrinet
    versions = {"dendrinet": getattr(dendrinet, "__version__", "unknown"),
                "python": platform.python_version(), "numpy": np.__version__,
                "h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version}
    try:  # metadata lookup, not an import: importing brian2 takes seconds
        versions["brian2"] = importlib.metadata.version("brian2")
    except importlib.metadata.PackageNotFoundError:
        pass
    return versions


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _create_column(group: h5py.Group, name: str, dtype, chunk_rows: int) -> h5py.Dataset:
    return group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype,
                                chunks=(chunk_rows,), compression="gzip",
                                compression_opts=4, shuffle=True)


def _append(dataset: h5py.Dataset, values: np.ndarray) -> None:
    n = dataset.shape[0]
    dataset.resize((n + len(values),))
    dataset[n:] = values


def _stored_rows(group: h5py.Group) -> int:
    # after a crash the two columns may differ by the rows of the unfinished batch
    return min(group["timestamps"].shape[0], group["node_ids"].shape[0])


def _bisect(dataset: h5py.Dataset, n: int, value: float, side: str) -> int:
    """``np.searchsorted(dataset[:n], value, side)`` reading about log2(n/chunk) chunks.

    Bisects on the first element of each HDF5 chunk, then searches the one chunk
    that holds the answer, so only whole chunks are decompressed, never the dataset.
    """
    step = dataset.chunks[0]
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


class SpikeStore:
    """A spike store on disk; see the module docstring for the layout.

    Parameters
    ----------
    path : str or Path
        The HDF5 file.
    mode : {"r", "w", "a"}
        ``"r"`` read only; ``"w"`` create (truncate an existing file); ``"a"`` append
        to an existing store, or create it.
    dt : float, optional
        Simulation time step (ms), recorded as the root attribute ``dt`` when the
        store is created.

    Raises
    ------
    StoreError
        Missing, truncated, corrupt or foreign file, or a bad mode.
    """

    def __init__(self, path, mode: str = "r", *, dt: float | None = None):
        if mode not in ("r", "w", "a"):
            raise StoreError(f"mode must be 'r', 'w' or 'a', got {mode!r}")
        self.path = Path(path)
        self.mode = mode
        self._file: h5py.File | None = None
        self._swmr_read = False  # a writer holds the file, or died without closing it
        # spikes appended with flush=False, written once a chunk's worth has gathered
        self._pending: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._pending_rows: dict[str, int] = {}
        self._n_nodes: dict[str, int] = {}  # cache: attribute reads cost ~0.1 ms
        dt = None if dt is None else _check_dt(dt)
        if mode == "w" or (mode == "a" and not self.path.exists()):
            try:
                self._file = self._h5("w")
            except OSError as err:
                raise StoreError(f"cannot create spike store {str(self.path)!r}: {err}") from None
            self._initialise(dt)
        else:
            if not self.path.exists():
                raise StoreError(f"spike store {str(self.path)!r} does not exist")
            if self.path.is_dir():
                raise StoreError(f"spike store {str(self.path)!r} is a directory, not a file")
            self._file = self._open_existing()
            self._check_format()
            if dt is not None and mode == "a":
                self._file.attrs["dt"] = dt
        self._t_stop = float(self._file.attrs["t_stop"])  # written to the file on flush
        if mode != "r":
            self._file.swmr_mode = True  # see the module docstring

    # ---------------------------------------------------------------- opening
    def _h5(self, h5mode: str, **kwargs) -> h5py.File:
        return h5py.File(self.path, h5mode, libver="latest", rdcc_nbytes=_CACHE_BYTES, **kwargs)

    def _open_existing(self) -> h5py.File:
        name = str(self.path)
        try:
            return self._h5("r" if self.mode == "r" else "r+")
        except OSError as err:
            reason = str(err)
        if "unable to lock file" in reason:
            raise StoreError(f"spike store {name!r} is locked: another process has it open "
                             "for writing")
        if "already open for write" in reason:
            if self.mode != "r":
                raise StoreError(f"spike store {name!r} is still open for writing, or its writer "
                                 "died without closing it; open it with mode='r' to read "
                                 "what was flushed")
            try:  # a writer in SWMR mode (alive or killed) keeps the file consistent
                file = self._h5("r", swmr=True)
                self._swmr_read = True
                return file
            except OSError:
                pass
        raise StoreError(f"{name!r} is not a readable HDF5 file (truncated or corrupt)")

    def _check_format(self) -> None:
        fmt = self._file.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != FORMAT:
            self._file.close()  # not self.close(): nothing of ours to flush
            self._file = None
            raise StoreError(f"{str(self.path)!r} is an HDF5 file but not a dendrinet spike store")
        version = int(self._file.attrs.get("format_version", -1))
        if version != FORMAT_VERSION:
            self._file.close()
            self._file = None
            raise StoreError(f"{str(self.path)!r} has spike store format_version {version}; "
                             f"this dendrinet reads version {FORMAT_VERSION}")

    def _initialise(self, dt) -> None:
        f = self._file
        f.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, t_stop=0.0)
        if dt is not None:
            f.attrs["dt"] = dt
        f.create_group("spikes")
        presentations = f.create_group("presentations")
        for name, dtype in _PRESENTATION_COLUMNS.items():
            _create_column(presentations, name, dtype, chunk_rows=4096)
        f.create_group("metadata").attrs.update(_encode_metadata({"versions": library_versions()}))

    @contextmanager
    def _changing_structure(self) -> Iterator[h5py.File]:
        """Leave SWMR mode (close and reopen) to create groups or attributes, which
        SWMR does not cover, and enter it again at once: only inside this block can a
        killed writer leave an unreadable file."""
        self._writable()
        if self._file.swmr_mode:
            self._file.close()
            self._file = self._h5("r+")
        try:
            yield self._file
        finally:
            self._file.flush()
            self._file.swmr_mode = True

    # ----------------------------------------------------------- housekeeping
    @property
    def _live(self) -> h5py.File:
        if self._file is None:
            raise StoreError(f"spike store {str(self.path)!r} is closed")
        return self._file

    def _writable(self) -> h5py.File:
        if self.mode == "r":
            raise StoreError(f"spike store {str(self.path)!r} is open read-only (mode='r'); "
                             "open it with mode='a' to write")
        return self._live

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if self._file is not None:
            if self.mode != "r":
                self.flush()
            self._file.close()
            self._file = None

    def __enter__(self) -> SpikeStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._file is None else f"mode={self.mode!r}"
        return f"SpikeStore({str(self.path)!r}, {state})"

    def flush(self) -> None:
        """Write everything appended so far to disk (HDF5 flush)."""
        file = self._live
        if self.mode != "r":
            self._write_pending()
            if file.attrs["t_stop"] != self._t_stop:
                file.attrs["t_stop"] = self._t_stop
        file.flush()

    def _write_pending(self, population: str | None = None) -> None:
        for name in list(self._pending) if population is None else [population]:
            batches = self._pending.pop(name, [])
            self._pending_rows.pop(name, None)
            if batches:
                group = self._file["spikes"][name]
                # ids first: after a crash, readers take the shorter column
                _append(group["node_ids"], np.concatenate([ids for _, ids in batches]))
                _append(group["timestamps"], np.concatenate([times for times, _ in batches]))

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
        if population not in self._n_nodes:
            self._n_nodes[population] = int(self._population(population).attrs["n_nodes"])
        return self._n_nodes[population]

    def n_spikes(self, population: str) -> int:
        """Number of stored spikes of a population."""
        group = self._population(population)
        self._write_pending(population)
        return _stored_rows(group)

    def add_population(self, name: str, n_nodes: int) -> None:
        """Create an empty population of ``n_nodes`` neurons."""
        self._writable()
        if not isinstance(name, str) or not name or "/" in name:
            raise StoreError("population name must be a non-empty string without '/', "
                             f"got {name!r}")
        if name in self._live["spikes"]:
            raise StoreError(f"{str(self.path)!r} already has a population {name!r}")
        if isinstance(n_nodes, bool) or not isinstance(n_nodes, (int, np.integer)) or n_nodes <= 0:
            raise StoreError(f"n_nodes of {name!r} must be a positive integer, got {n_nodes!r}")
        with self._changing_structure() as file:
            group = file["spikes"].create_group(name)
            group.attrs.update(sorting="by_time", n_nodes=int(n_nodes))
            _create_column(group, "timestamps", np.float64, CHUNK_ROWS).attrs["units"] = "ms"
            _create_column(group, "node_ids", np.int64, CHUNK_ROWS)

    # ------------------------------------------------------------------ writing
    def append_spikes(self, population: str, times_ms, node_ids, *, flush: bool = True) -> None:
        """Append a batch of spikes of one population (and by default flush it to disk).

        Parameters
        ----------
        population : str
        times_ms : array_like of float, shape (n,)
            Spike times (ms), non-decreasing, not earlier than the last stored spike.
        node_ids : array_like of int, shape (n,)
            Neuron of each spike, in ``[0, n_nodes)``.
        flush : bool
            Write and flush to disk before returning (the default: a killed process
            loses nothing appended). With many small batches (< ~1e4 spikes) pass
            False and call :meth:`flush` now and then: spikes are then held in memory
            (at most ``CHUNK_ROWS`` per population) and written a chunk at a time,
            whereas each flush rewrites the partly filled last chunk, and SWMR never
            reuses the file space of the old copy.
        """
        self._writable()
        n_nodes = self.n_nodes(population)
        times = _float_array(times_ms, "spike times")
        ids = _id_array(node_ids, n_nodes, f"node ids of {population!r}")
        if len(times) != len(ids):
            raise StoreError(f"{len(times)} spike times but {len(ids)} node ids for {population!r}")
        if len(times) == 0:
            return
        if np.any(np.diff(times) < 0):
            raise StoreError(f"spike times of {population!r} must be non-decreasing within a batch")
        last = self._last_time(population)
        if times[0] < last:
            raise StoreError(f"spike time {times[0]} ms of {population!r} is earlier than the "
                             f"last stored spike ({last} ms); append in time order")
        pending = self._pending.setdefault(population, [])
        pending.append((times, ids))
        self._pending_rows[population] = self._pending_rows.get(population, 0) + len(times)
        if flush or self._pending_rows[population] >= CHUNK_ROWS:
            self._write_pending(population)
        self._raise_t_stop(float(times[-1]), flush)

    def append_presentations(self, example_id, label, phase, t_start, t_stop, *,
                             flush: bool = True) -> None:
        """Append presentation phases (scalars or equal-length arrays), by default flushed.

        Parameters
        ----------
        example_id : int or array_like of int
            Index of the example in its dataset (>= 0).
        label : int or array_like of int
            Class label, -1 when there is none.
        phase : str or array_like of str
            One of ``"forward"``, ``"target"``, ``"test"``.
        t_start, t_stop : float or array_like of float
            Window of the phase (ms), ``0 <= t_start <= t_stop``.
        flush : bool
            Flush to disk before returning (see :meth:`append_spikes`).
        """
        self._writable()
        try:
            columns = np.broadcast_arrays(*map(np.asarray, (example_id, label, phase,
                                                            t_start, t_stop)))
        except ValueError:
            raise StoreError("presentation columns have mismatched lengths") from None
        if columns[0].ndim > 1:
            raise StoreError("presentation columns must be scalars or 1-D arrays")
        columns = [np.atleast_1d(c) for c in columns]
        examples = _id_array(columns[0], None, "example ids")
        labels = _id_array(columns[1], None, "labels", low=-1)
        unknown = sorted(set(map(str, columns[2].tolist())) - set(PHASES))
        if unknown:
            raise StoreError(f"unknown presentation phase(s) {unknown}; "
                             f"expected one of {list(PHASES)}")
        codes = np.array([PHASES.index(str(p)) for p in columns[2].tolist()], dtype=np.int8)
        starts = _float_array(columns[3], "presentation t_start")
        stops = _float_array(columns[4], "presentation t_stop")
        if np.any(starts > stops):
            raise StoreError("presentation t_start must not exceed its t_stop")
        if len(starts) == 0:
            return
        group = self._file["presentations"]
        for name, values in zip(_PRESENTATION_COLUMNS, (examples, labels, codes, starts, stops)):
            _append(group[name], values)
        self._raise_t_stop(float(stops.max()), flush)

    def _raise_t_stop(self, t_ms: float, flush: bool) -> None:
        self._t_stop = max(self._t_stop, t_ms)
        if flush:
            self.flush()

    def set_t_stop(self, t_ms: float) -> None:
        """Record the duration of the run so far (ms); not before any stored event."""
        self._writable()
        t_ms = float(_float_array([t_ms], "t_stop")[0])
        stops = self._live["presentations/t_stop"]
        latest = max([self._last_time(p) for p in self.populations]
                     + [float(stops[:].max(initial=0.0))])
        if t_ms < latest:
            raise StoreError(f"t_stop {t_ms} ms is earlier than the last stored event "
                             f"({latest} ms)")
        self._t_stop = t_ms
        self.flush()

    def set_dt(self, dt_ms: float) -> None:
        """Record the simulation time step (ms, > 0)."""
        dt_ms = _check_dt(dt_ms)
        with self._changing_structure() as file:
            file.attrs["dt"] = dt_ms

    def set_metadata(self, metadata: dict) -> None:
        """Merge run metadata (JSON-serialisable values: dicts, numbers, strings, lists)."""
        encoded = _encode_metadata(metadata)
        with self._changing_structure() as file:
            file["metadata"].attrs.update(encoded)

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
        if self._swmr_read:  # the writer may have died between a batch and its t_stop
            t_stop = max([t_stop] + [self._last_time(p) for p in self.populations])
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
        n = _stored_rows(group)
        return float(group["timestamps"][n - 1]) if n else 0.0

    @property
    def presentations(self) -> dict[str, np.ndarray]:
        """All presentation rows: ``example_id``, ``label``, ``phase`` (str),
        ``t_start``, ``t_stop`` (ms)."""
        group = self._live["presentations"]
        n = min(group[name].shape[0] for name in _PRESENTATION_COLUMNS)
        out = {name: self._read(group[name], slice(0, n)) for name in _PRESENTATION_COLUMNS}
        out["phase"] = np.array(PHASES)[out["phase"].astype(np.intp)]
        return out

    @property
    def n_presentations(self) -> int:
        """Number of presentation rows."""
        return min(self._live["presentations"][name].shape[0] for name in _PRESENTATION_COLUMNS)

    def presentation_window(self, index: int) -> tuple[float, float]:
        """``(t_start, t_stop)`` in ms of presentation row ``index``."""
        n = self.n_presentations
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                or not 0 <= index < n:
            raise StoreError(f"presentation index must be an integer in [0, {n}), got {index!r}")
        group = self._live["presentations"]
        return float(group["t_start"][index]), float(group["t_stop"][index])

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
        _check_window(t_start, t_stop)
        selected = None if node_ids is None else _id_array(
            node_ids, self.n_nodes(population), f"selected node ids of {population!r}")
        n = self.n_spikes(population)  # also writes pending spikes
        timestamps = group["timestamps"]
        lo = 0 if t_start is None else _bisect(timestamps, n, float(t_start), "left")
        hi = n if t_stop is None else _bisect(timestamps, n, float(t_stop), "left")
        times = self._read(timestamps, slice(lo, hi))
        ids = self._read(group["node_ids"], slice(lo, hi))
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
        for start in range(0, n, int(chunk_size)):
            block = slice(start, min(start + int(chunk_size), n))
            yield self._read(group["timestamps"], block), self._read(group["node_ids"], block)

    def to_neo(self, population: str, t_start: float | None = None, t_stop: float | None = None,
               node_ids=None) -> list:
        """One ``neo.SpikeTrain`` per neuron (times in s), empty trains included.

        Parameters
        ----------
        t_start, t_stop : float, optional
            Window (ms); defaults to 0 and the store's ``t_stop``.
        node_ids : array_like of int, optional
            Neurons to export, in this order; default all ``0 .. n_nodes-1``.

        Returns
        -------
        list of neo.SpikeTrain
            Times in s, ``t_start``/``t_stop`` the window in s; annotations
            ``population`` and ``node_id``.
        """
        import neo  # slow import, needed only here

        n_nodes = self.n_nodes(population)
        nodes = np.arange(n_nodes) if node_ids is None else _id_array(
            node_ids, n_nodes, f"selected node ids of {population!r}")
        times, ids = self.spikes(population, t_start, t_stop, None if node_ids is None else nodes)
        start = 0.0 if t_start is None else float(t_start)
        stop = self.t_stop if t_stop is None else float(t_stop)
        _check_window(start, stop)
        order = np.argsort(ids, kind="stable")  # stable: times stay sorted per neuron
        times_s, ids = times[order] / 1000.0, ids[order]
        lows = np.searchsorted(ids, nodes, "left")
        highs = np.searchsorted(ids, nodes, "right")
        return [neo.SpikeTrain(times_s[lo:hi], t_stop=stop / 1000.0, units="s",
                               t_start=start / 1000.0, name=f"{population}[{node}]",
                               population=population, node_id=int(node))
                for node, lo, hi in zip(nodes, lows, highs)]

    def _read(self, dataset: h5py.Dataset, selection: slice) -> np.ndarray:
        try:
            return dataset[selection]
        except OSError:
            raise StoreError(f"{str(self.path)!r}: dataset {dataset.name} is unreadable "
                             "(truncated or corrupt)") from None


def _encode_metadata(metadata: dict) -> dict[str, str]:
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and k for k in metadata):
        raise StoreError("metadata must be a dict with non-empty string keys")
    encoded = {}
    for key, value in metadata.items():
        try:
            encoded[key] = json.dumps(value, default=_json_default)
        except (TypeError, ValueError) as err:
            raise StoreError(f"metadata {key!r} cannot be stored as JSON: {err}") from None
    return encoded


def _check_dt(dt_ms) -> float:
    dt_ms = float(_float_array([dt_ms], "dt")[0])
    if dt_ms <= 0:
        raise StoreError(f"dt must be positive, got {dt_ms} ms")
    return dt_ms


def _float_array(values, what: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise StoreError(f"{what} must be numbers (ms)") from None
    if array.ndim != 1:
        raise StoreError(f"{what} must be a 1-D array, got shape {array.shape}")
    if np.isnan(array).any():
        raise StoreError(f"{what} contain NaN")
    if np.isinf(array).any():
        raise StoreError(f"{what} must be finite")
    if (array < 0).any():
        raise StoreError(f"{what} must not be negative (ms since the start of the run), "
                         f"got {array.min()}")
    return array


def _id_array(values, n_nodes: int | None, what: str, low: int = 0) -> np.ndarray:
    array = np.atleast_1d(np.asarray(values))
    if array.size == 0:
        return array.astype(np.int64).ravel()
    integral = np.issubdtype(array.dtype, np.integer) or (
        np.issubdtype(array.dtype, np.floating) and np.isfinite(array).all()
        and (array == np.round(array)).all())
    if array.ndim != 1 or not integral:
        raise StoreError(f"{what} must be a 1-D array of integers")
    array = array.astype(np.int64)
    high = np.inf if n_nodes is None else n_nodes
    if array.min() < low or array.max() >= high:
        bad = array[(array < low) | (array >= high)][0]
        bound = f"[{low}, {n_nodes})" if n_nodes is not None else f">= {low}"
        raise StoreError(f"{what} must be in {bound}, got {bad}")
    return array


def _check_window(t_start, t_stop) -> None:
    for name, value in (("t_start", t_start), ("t_stop", t_stop)):
        if value is None:
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise StoreError(f"{name} must be a number (ms), got {value!r}") from None
        if np.isnan(value):
            raise StoreError(f"{name} is NaN")
        if value < 0:
            raise StoreError(f"{name} must not be negative (ms), got {value}")
    if t_start is not None and t_stop is not None and float(t_start) > float(t_stop):
        raise StoreError(f"window t_start {t_start} ms is after t_stop {t_stop} ms")

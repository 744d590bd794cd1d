"""The writing half of a spike store: creating it, the SWMR writer (appends, flushes by
size and by time, room reserved before each write), structure changes made on a copy
renamed over the store, a failed write closing the store, and :meth:`SpikeStore.recover`
of a dead writer's store. The promises are listed in :mod:`dendrinet.store`."""
from __future__ import annotations

import contextlib
import glob
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import h5py
import numpy as np

from dendrinet.errors import StoreError
from dendrinet.storage.provenance import library_versions
from dendrinet.config.schedule import PHASE_NAMES as PHASES
from dendrinet.storage.files import (commit_temporary, create_temporary, os_error_cause,
                                     remove_dead_temporaries, remove_file, writer_temporary)
from dendrinet.storage.locks import OFD, flock_held_elsewhere, try_lock
from dendrinet.store import reservation
from dendrinet.store.hdf5_files import NO_HDF5_LOCK, abandon, error_cause, open_swmr_writer
from dendrinet.store.layout import (CHUNK_ROWS, FORMAT, FORMAT_VERSION, MAX_NODES,
                                    PRESENTATION_COLUMNS, PRESENTATION_ROW_BYTES,
                                    create_column, trim_columns, unequal_columns)
from dendrinet.store.reader import StoreReader, serialised
from dendrinet.store.superblock import (SWMR_WRITE_ACCESS, WRITE_ACCESS, copy_hdf5,
                                        last_data_byte, read_superblock, trim_tail,
                                        write_superblock)
from dendrinet.store.values import (check_dt, encode_metadata, float_array, id_array)

#: Seconds after which data appended with ``flush=False`` is flushed by the store itself.
FLUSH_SECONDS = 1.0


def _take_writer_lock(fd: int) -> bool:
    """Take the writer's lock on an open store file (False: another open file holds it).

    An open-file-description lock (:data:`~dendrinet.storage.locks.OFD`), not ``flock``:
    HDF5's own lock is a ``flock`` and is not used (readers would block the writer, and
    SWMR writers release it), so the two must not meet; and a file system without locks
    leaves nothing to check (``unsupported_ok``) rather than refusing every writer."""
    return try_lock(fd, OFD, unsupported_ok=True)


class SpikeStore(StoreReader):
    """A spike store on disk; see :mod:`dendrinet.store` for the layout and its
    promises.

    Parameters
    ----------
    path : str or Path
        The HDF5 file.
    mode : {"r", "w", "a"}
        ``"r"`` read only; ``"w"`` create (replace an existing file); ``"a"`` append
        to an existing store, or create it.
    dt : float, optional
        Simulation time step (ms), recorded as the root attribute ``dt`` when the
        store is created.

    Notes
    -----
    **What a killed writer keeps.** ``append_spikes`` and ``append_presentations``
    flush by default: when they return, their rows are on disk and survive the writer
    being killed at any later moment. With ``flush=False`` the spikes are held in
    memory and written a chunk at a time, and the store flushes by itself, unasked,

    * every ``CHUNK_ROWS`` (16384) spikes of a population: once that many have
      gathered, the whole chunks among them are written and flushed; and
    * ``FLUSH_SECONDS`` (1 s) after the oldest append not yet flushed, by the next
      call or, when none comes, by a timer thread (which needs the interpreter: a long
      call into compiled code that holds the GIL delays it until the call returns).

    So a writer killed at any moment loses at most the spikes appended in the last
    second, and never ``CHUNK_ROWS`` or more spikes of a population; everything up to
    its last flush (explicit, automatic, ``set_t_stop`` or ``close``) stays readable.
    Opening a killed writer's store for appending needs :meth:`recover` first.

    A writer holds a lock on its file: a second writer (mode ``"a"`` or ``"w"``) is
    refused while the first is alive. Readers take no lock.

    Raises
    ------
    StoreError
        Missing, truncated, corrupt or foreign file, a bad mode, a store another
        process is writing, a store whose writer died (mode ``"a"``, see
        :meth:`recover`), or an OS error (full disk, read-only or missing folder, ...).
    """

    def __init__(self, path, mode: str = "r", *, dt: float | None = None):
        if mode not in ("r", "w", "a"):
            raise StoreError(f"mode must be 'r', 'w' or 'a', got {mode!r}")
        self.path = Path(path)
        self.mode = mode
        # the file itself: temporary copies are renamed over it, not over a symlink
        self._target = Path(os.path.realpath(self.path))
        self._file: h5py.File | None = None
        self._fd: int | None = None  # writer: our descriptor of the file, holding its lock
        self._lock = threading.RLock()
        self._failure: str | None = None  # why a failed write closed the store
        self._failure_unreported = False  # met by the timer thread: close() raises it
        self._flags = 0  # reader: superblock status flags (a writer has it open, or died)
        # spikes appended with flush=False, written once a chunk's worth has gathered
        self._pending: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._pending_rows: dict[str, int] = {}
        self._n_nodes: dict[str, int] = {}  # cache: attribute reads cost ~0.1 ms
        self._columns: dict[str, tuple[h5py.Dataset, ...]] = {}  # writer: held open
        self._dirty_since: float | None = None  # time of the oldest unflushed append
        self._unflushed_bytes = 0  # written to HDF5 since the last flush
        self._unflushed_presentations = 0
        self._hdf5_dirty = False  # HDF5 holds writes not flushed yet
        self._timer: threading.Timer | None = None
        self._generation = 0  # flushes so far: a timer set before the last one is stale
        self._reserved = 0  # the file has room (allocated blocks) up to this size
        dt = None if dt is None else check_dt(dt)
        unequal = False
        if mode == "w" or (mode == "a" and not self.path.exists()):
            self._create(dt)
        else:
            if not self.path.exists():
                raise StoreError(f"spike store {str(self.path)!r} does not exist")
            if self.path.is_dir():
                raise StoreError(f"spike store {str(self.path)!r} is a directory, not a file")
            if mode == "r":
                self._file = self._open_reader()
                try:
                    self._check_format(self._file)
                except StoreError:
                    self._file.close()
                    self._file = None
                    raise
            else:
                unequal = self._open_writer()
        try:
            self._t_stop = self._t_stop_written = float(self._file.attrs["t_stop"])
            if unequal:  # cut the batch a killed writer left unfinished
                self._restructure(trim_columns)
            if mode == "a":
                # a recovered store may end with events after its recorded t_stop
                self._t_stop = max(self._t_stop, self._latest_event())
                if dt is not None:
                    self.set_dt(dt)
        except BaseException:
            if self._file is not None:
                self._columns.clear()
                self._file.close()
                self._file = None
            self._discard()
            raise

    def _discard(self) -> None:
        """Drop the writer's lock and timer (the HDF5 file is closed already)."""
        self._cancel_timer()
        if self._fd is not None:
            os.close(self._fd)  # releases the writer's lock
            self._fd = None

    def _open_writer(self) -> bool:
        """Open an existing store for appending: take the writer's lock, refuse a store
        whose writer is alive or died, then open it in SWMR mode. Returns whether
        columns differ in length (the rows of a batch a killed writer left)."""
        name = str(self.path)
        try:
            fd = os.open(self.path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except OSError as err:
            raise StoreError(f"cannot open spike store {name!r} for writing: "
                             f"{error_cause(err)}") from None
        try:
            if not _take_writer_lock(fd):
                raise StoreError(f"spike store {name!r} is open for writing by another "
                                 "process (one writer at a time); open it with mode='r' "
                                 "to read it meanwhile")
            block = read_superblock(fd)
            if block is None:
                raise StoreError(f"{name!r} is not a readable HDF5 file (truncated or corrupt)")
            if block.flags & (WRITE_ACCESS | SWMR_WRITE_ACCESS):
                if flock_held_elsewhere(fd):
                    raise StoreError(f"spike store {name!r} is open for writing by another "
                                     "program")
                raise StoreError(f"spike store {name!r} is still marked open for writing: its "
                                 "writer died without closing it. Call "
                                 f"SpikeStore.recover({name!r}) to append to it again (mode='r' "
                                 "reads what was flushed without it)")
            probe = self._open_reader()  # the same errors as a reader, and the format
            try:
                self._check_format(probe)
                unequal = unequal_columns(probe)
            finally:
                probe.close()
            self._file = open_swmr_writer(self._target)
        except StoreError:
            os.close(fd)
            raise
        except (OSError, RuntimeError) as err:
            os.close(fd)
            raise StoreError(f"cannot open spike store {name!r} for writing: "
                             f"{error_cause(err)}") from None
        self._fd = fd
        return unequal

    def _create(self, dt) -> None:
        """Create the store in a temporary file and rename it over ``path``: a killed
        writer leaves no half-made store (and the old file, when there was one)."""
        name = str(self.path)
        if self.path.is_dir():
            raise StoreError(f"cannot create spike store {name!r}: it is a directory")
        if self.path.is_file():  # replaced only if it could be written, and not in use
            try:
                old = os.open(self.path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
            except OSError as err:
                raise StoreError(f"cannot create spike store {name!r}: "
                                 f"{error_cause(err)}") from None
            try:
                busy = not _take_writer_lock(old)
            finally:
                os.close(old)
            if busy:
                raise StoreError(f"spike store {name!r} is open for writing by another "
                                 "process; it cannot be replaced meanwhile")
        try:
            tmp, fd = create_temporary(self._target)
        except OSError as err:
            raise StoreError(f"cannot create spike store {name!r}: {error_cause(err)}") from None
        try:
            _take_writer_lock(fd)
            file = h5py.File(tmp, "w", libver="latest", **NO_HDF5_LOCK)
            try:
                # room for the empty store (HDF5 writes it at close)
                reservation.reserve(fd, 1024 ** 2)
                self._initialise(file, dt)
            except BaseException:
                abandon(file)
                raise
            file.close()
            commit_temporary(tmp, self._target, fd=fd)
            self._file = open_swmr_writer(self._target)
        except BaseException as err:
            os.close(fd)
            remove_file(tmp)
            if isinstance(err, (OSError, RuntimeError)):
                raise StoreError(f"cannot create spike store {name!r}: "
                                 f"{error_cause(err)}") from None
            raise
        self._fd = fd

    @staticmethod
    def _initialise(file: h5py.File, dt) -> None:
        file.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, t_stop=0.0)
        if dt is not None:
            file.attrs["dt"] = dt
        file.create_group("spikes")
        presentations = file.create_group("presentations")
        for name, dtype in PRESENTATION_COLUMNS.items():
            create_column(presentations, name, dtype, chunk_rows=4096)
        file.create_group("metadata").attrs.update(
            encode_metadata({"versions": library_versions()}))

    def _restructure(self, change: Callable[[h5py.File], object], nbytes: int = 0) -> None:
        """Make a structure change (groups, attributes: what SWMR does not cover) on a
        copy of the file, then rename the copy over the store: a writer killed at any
        moment leaves the old file or the new one, both closed cleanly. Readers that
        hold the old file keep reading it."""
        name = str(self.path)
        self._flush_locked()
        self._close_file(trim=False)
        try:
            tmp, fd = create_temporary(self._target)
        except OSError as err:
            self._reopen()
            raise StoreError(f"cannot change spike store {name!r} (it is unchanged): "
                             f"{error_cause(err)}") from None
        try:
            _take_writer_lock(fd)
            os.chmod(tmp, os.fstat(self._fd).st_mode & 0o7777)  # keep the permissions
            size = copy_hdf5(self._fd, fd)
            # room for the change (HDF5 leaves what it does not use, and cuts it off
            # when the writer closes the file)
            reservation.reserve(fd, size + 2 * nbytes + 256 * 1024)
            file = h5py.File(tmp, "r+", libver="latest", **NO_HDF5_LOCK)
            try:
                change(file)
            except BaseException:
                abandon(file)
                raise
            file.close()
            commit_temporary(tmp, self._target, fd=fd)
        except BaseException as err:
            os.close(fd)
            remove_file(tmp)
            self._reopen()
            if isinstance(err, (OSError, RuntimeError)):
                raise StoreError(f"cannot change spike store {name!r} (it is unchanged): "
                                 f"{error_cause(err)}") from None
            raise
        os.close(self._fd)  # the old file's lock: the new file is locked by fd
        self._fd = fd
        self._reopen()

    def _reopen(self) -> None:
        try:
            self._file = open_swmr_writer(self._target)
        except (OSError, RuntimeError) as err:
            os.close(self._fd)
            self._fd = None
            self._failure = (f"spike store {str(self.path)!r} could not be reopened after a "
                             f"structure change: {error_cause(err)}")
            raise StoreError(self._failure) from None

    def _close_file(self, trim: bool = True) -> None:
        """Close the writer's HDF5 file (flushed before), then give back the room
        reserved beyond HDF5's end of file."""
        file, self._file = self._file, None
        self._columns.clear()
        file.close()
        if trim:
            trim_tail(self._fd)
        self._reserved = 0

    def _writable(self) -> h5py.File:
        if self.mode == "r":
            raise StoreError(f"spike store {str(self.path)!r} is open read-only (mode='r'); "
                             "open it with mode='a' to write")
        return self._live

    @serialised
    def close(self) -> None:
        """Flush and close the file (idempotent). After a failed write the store is
        closed already, and this does nothing, unless the failure happened in the
        flush timer thread and no call has raised it yet: then it raises it."""
        self._cancel_timer()
        if self._failure_unreported:
            self._failure_unreported = False
            raise StoreError(self._failure)
        if self._file is not None:
            if self.mode == "r":
                self._file.close()
                self._file = None
            else:
                self._flush_locked()
                self._close_file()
        self._discard()

    @serialised
    def flush(self) -> None:
        """Write everything appended so far to disk (HDF5 flush)."""
        file = self._live
        if self.mode != "r":
            self._flush_locked()
        else:
            file.flush()

    def _flush_locked(self) -> None:
        self._write_pending()
        file = self._live

        def write():
            if self._t_stop != self._t_stop_written:
                file.attrs.modify("t_stop", self._t_stop)  # in place: SWMR allows it
            file.flush()

        if self._hdf5_dirty or self._t_stop != self._t_stop_written:
            self._guarded(0, write)  # (nothing to write: no room needed, e.g. disk full)
        self._t_stop_written = self._t_stop
        self._unflushed_bytes = self._unflushed_presentations = 0
        self._hdf5_dirty = False
        self._dirty_since = None
        self._generation += 1
        self._cancel_timer()

    def _guarded(self, nbytes: int, write: Callable[[], None]) -> None:
        """Run ``write`` (HDF5 writes of about ``nbytes``) once the file has room for
        it; any OS or HDF5 failure closes the store (:meth:`_fail`)."""
        file = self._live
        try:
            need = (file.id.get_filesize() + reservation.SLACK_BYTES
                    + reservation.SLACK_PER_DATASET * (2 * len(self._n_nodes) + 8)
                    + int(1.25 * (nbytes + self._unflushed_bytes)))
            limit = reservation.file_size_limit()
            if need > self._reserved or (limit is not None and need > limit):
                self._reserved = reservation.reserve(self._fd, need, reservation.RESERVE_STEP)
        except OSError as err:
            self._fail(err, hdf5_failed=False)
        self._hdf5_dirty = True
        try:
            write()
        except (OSError, RuntimeError) as err:
            self._fail(err, hdf5_failed=True)

    def _fail(self, err: BaseException, hdf5_failed: bool) -> NoReturn:
        """Close the store after a failed write, without letting HDF5 write again unless
        nothing is left to write, and raise one StoreError naming the file and the cause."""
        name = str(self.path)
        file, self._file = self._file, None
        self._cancel_timer()
        clean = not hdf5_failed and not self._hdf5_dirty
        if file is not None:
            if clean:  # HDF5 has nothing to write but its superblock: a clean close
                self._columns.clear()
                with contextlib.suppress(OSError, RuntimeError):  # keep the first error
                    file.close()
                    trim_tail(self._fd)
            else:
                abandon(file, self._columns)
        self._columns = {}
        self._discard()
        if clean:
            after = "reopen it with mode='a' once there is room to append again"
        else:
            after = (f"read it with mode='r'; once there is room, SpikeStore.recover({name!r}) "
                     "makes it appendable again")
        self._failure = (f"spike store {name!r}: cannot write: {error_cause(err)}. The store is "
                         "closed; the file keeps everything flushed before the failure "
                         f"({after})")
        raise StoreError(self._failure) from None

    def _note_unflushed(self) -> None:
        if self._dirty_since is None:
            self._dirty_since = time.monotonic()

    def _flush_if_due(self) -> None:
        """Flush data appended FLUSH_SECONDS ago or more; else make sure the timer will."""
        if self._dirty_since is None:
            return
        if time.monotonic() - self._dirty_since >= FLUSH_SECONDS:
            self._flush_locked()
        elif self._timer is None:
            delay = max(0.0, self._dirty_since + FLUSH_SECONDS - time.monotonic())
            self._timer = threading.Timer(delay, self._timed_flush, args=(self._generation,))
            self._timer.daemon = True
            self._timer.start()

    def _timed_flush(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return  # flushed meanwhile; a later timer covers what came since
            self._timer = None
            if self._file is None or self._dirty_since is None:
                return
            try:
                self._flush_locked()
            except StoreError:  # the store is closed; its next call raises the failure
                self._failure_unreported = True

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _write_pending(self, population: str | None = None, whole_chunks: bool = False) -> None:
        """Write the spikes held in memory (or, with ``whole_chunks``, those that fill
        whole chunks: a flushed chunk is then never rewritten)."""
        for name in list(self._pending) if population is None else [population]:
            batches = self._pending.get(name)
            if not batches:
                continue
            times = np.concatenate([t for t, _ in batches]) if len(batches) > 1 else batches[0][0]
            ids = np.concatenate([i for _, i in batches]) if len(batches) > 1 else batches[0][1]
            rest = None
            if whole_chunks:
                n = self._spike_columns(name)[0].shape[0]
                k = (n + len(times)) // CHUNK_ROWS * CHUNK_ROWS - n
                if k <= 0:
                    continue
                times, ids, rest = times[:k], ids[:k], (times[k:], ids[k:])
            self._write_spikes(name, times, ids)
            if rest is not None and len(rest[0]):
                self._pending[name] = [rest]
                self._pending_rows[name] = len(rest[0])
            else:
                del self._pending[name]
                self._pending_rows.pop(name, None)

    def _spike_columns(self, name: str) -> tuple[h5py.Dataset, ...]:
        # held open: closing the last handle of a dataset writes its chunk cache, where
        # a failure could not be caught (h5py ignores errors in __dealloc__)
        columns = self._columns.get(name)
        if columns is None:
            group = self._population(name)
            columns = self._columns[name] = (group["timestamps"], group["node_ids"])
        return columns

    def _write_spikes(self, name: str, times: np.ndarray, ids: np.ndarray) -> None:
        timestamps, node_ids = self._spike_columns(name)

        def write():
            n = min(timestamps.shape[0], node_ids.shape[0])
            # ids first: after a crash, readers take the shorter column
            node_ids.resize((n + len(ids),))
            node_ids[n:] = ids
            timestamps.resize((n + len(times),))
            timestamps[n:] = times

        self._guarded(16 * len(times), write)
        self._unflushed_bytes += 16 * len(times)

    @serialised
    def add_population(self, name: str, n_nodes: int) -> None:
        """Create an empty population of ``n_nodes`` neurons (1 to :data:`MAX_NODES`).

        A structure change: it copies the file (see :mod:`dendrinet.store`), so add the
        populations before appending spikes."""
        self._writable()
        if not isinstance(name, str) or not name or "/" in name:
            raise StoreError("population name must be a non-empty string without '/', "
                             f"got {name!r}")
        if name in self._live["spikes"]:
            raise StoreError(f"{str(self.path)!r} already has a population {name!r}")
        if isinstance(n_nodes, bool) or not isinstance(n_nodes, (int, np.integer)) or n_nodes <= 0:
            raise StoreError(f"n_nodes of {name!r} must be a positive integer, got {n_nodes!r}")
        if n_nodes > MAX_NODES:
            raise StoreError(f"n_nodes of {name!r} is {n_nodes}, over the limit of {MAX_NODES} "
                             "neurons per population (readers size per-neuron arrays by it)")

        def change(file):
            group = file["spikes"].create_group(name)
            group.attrs.update(sorting="by_time", n_nodes=int(n_nodes))
            create_column(group, "timestamps", np.float64, CHUNK_ROWS).attrs["units"] = "ms"
            create_column(group, "node_ids", np.int64, CHUNK_ROWS)

        self._restructure(change)

    # ------------------------------------------------------------------ writing
    @serialised
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
            ``flush=False``: the spikes are then held in memory (fewer than
            ``CHUNK_ROWS`` per population, and for at most about ``FLUSH_SECONDS``: see
            :class:`SpikeStore`) and written a chunk at a time, whereas each flush
            rewrites the partly filled last chunk, and SWMR never reuses the file space
            of the old copy.
        """
        self._writable()
        n_nodes = self.n_nodes(population)
        times = float_array(times_ms, "spike times")
        ids = id_array(node_ids, n_nodes, f"node ids of {population!r}")
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
        self._pending.setdefault(population, []).append((times, ids))
        self._pending_rows[population] = self._pending_rows.get(population, 0) + len(times)
        self._note_unflushed()
        self._t_stop = max(self._t_stop, float(times[-1]))
        if flush:
            self._flush_locked()
            return
        if self._pending_rows[population] >= CHUNK_ROWS:  # flush the whole chunks
            self._write_pending(population, whole_chunks=True)
            self._guarded(0, self._live.flush)
            self._unflushed_bytes = self._unflushed_presentations = 0
            self._hdf5_dirty = False
        self._flush_if_due()

    @serialised
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
            Flush to disk before returning (see :meth:`append_spikes`; unflushed rows
            are flushed within about ``FLUSH_SECONDS``).
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
        examples = id_array(columns[0], None, "example ids")
        labels = id_array(columns[1], None, "labels", low=-1)
        unknown = sorted(set(map(str, columns[2].tolist())) - set(PHASES))
        if unknown:
            raise StoreError(f"unknown presentation phase(s) {unknown}; "
                             f"expected one of {list(PHASES)}")
        codes = np.array([PHASES.index(str(p)) for p in columns[2].tolist()], dtype=np.int8)
        starts = float_array(columns[3], "presentation t_start")
        stops = float_array(columns[4], "presentation t_stop")
        if np.any(starts > stops):
            raise StoreError("presentation t_start must not exceed its t_stop")
        if len(starts) == 0:
            return
        if "presentations" not in self._columns:
            group = self._live["presentations"]
            self._columns["presentations"] = tuple(group[name] for name in PRESENTATION_COLUMNS)
        datasets = self._columns["presentations"]
        values = (examples, labels, codes, starts, stops)

        def write():
            n = min(dataset.shape[0] for dataset in datasets)
            for dataset, column in zip(datasets, values):
                dataset.resize((n + len(column),))
                dataset[n:] = column

        self._guarded(PRESENTATION_ROW_BYTES * len(starts), write)
        self._unflushed_bytes += PRESENTATION_ROW_BYTES * len(starts)
        self._unflushed_presentations += len(starts)
        self._note_unflushed()
        self._t_stop = max(self._t_stop, float(stops.max()))
        if flush or self._unflushed_presentations >= CHUNK_ROWS:
            self._flush_locked()
        else:
            self._flush_if_due()

    @serialised
    def set_t_stop(self, t_ms: float) -> None:
        """Record the duration of the run so far (ms); not before any stored event."""
        self._writable()
        t_ms = float(float_array([t_ms], "t_stop")[0])
        latest = self._latest_event()
        if t_ms < latest:
            raise StoreError(f"t_stop {t_ms} ms is earlier than the last stored event "
                             f"({latest} ms)")
        self._t_stop = t_ms
        self._flush_locked()

    @serialised
    def set_dt(self, dt_ms: float) -> None:
        """Record the simulation time step (ms, > 0)."""
        dt_ms = check_dt(dt_ms)
        file = self._writable()
        dt = file.attrs.get("dt")
        if isinstance(dt, (float, np.floating)):  # rewritten in place, as t_stop
            self._guarded(0, lambda: file.attrs.modify("dt", dt_ms))
            self._flush_locked()
        else:
            self._restructure(lambda f: f.attrs.__setitem__("dt", dt_ms))

    @serialised
    def set_metadata(self, metadata: dict) -> None:
        """Merge run metadata (JSON-serialisable values: dicts, numbers, strings, lists).

        A structure change: it copies the file (see :mod:`dendrinet.store`), so set the
        metadata before appending spikes."""
        encoded = encode_metadata(metadata)
        self._writable()
        self._restructure(lambda file: file["metadata"].attrs.update(encoded),
                          nbytes=sum(len(v) for v in encoded.values()))

    # --------------------------------------------------------------- recovery
    @classmethod
    def recover(cls, path) -> dict:
        """Make the store of a writer that died appendable again (``h5clear -s``).

        A writer that was killed, crashed or stopped by a failed write leaves its file
        marked as open for SWMR writing. Readers open it as it is (mode ``"r"``); HDF5
        refuses to open it for writing, and so does mode ``"a"``, naming this call.
        ``recover``

        1. refuses (StoreError) while a process still writes the file (the writer's
           lock, or HDF5's lock held by another program);
        2. clears the status flags of the file's superblock, as ``h5clear -s`` does, and
           moves its end-of-file address past everything the writer wrote (a SWMR
           writer may die before recording it; HDF5 would then place new data over
           old), extending a file shorter than that address, as ``h5clear
           --increment`` does;
        3. opens the store for appending and closes it, which cuts the columns of a
           batch the writer was killed in to a common length, records ``t_stop``, and
           deletes the temporary files ``.<name>.*.tmp`` a killed writer left beside it.

        It only changes what a dead writer left: on a store closed cleanly it does
        nothing but step 3. Afterwards any HDF5 tool opens the file.

        Returns
        -------
        dict
            ``status_flags`` (found, 0 when closed cleanly), ``end_of_file`` (the
            recorded end address before and after, bytes), ``n_spikes`` per population,
            ``n_presentations`` and ``removed`` (temporary files deleted).
        """
        name = str(path)
        path = Path(os.path.realpath(path))
        if not path.exists():
            raise StoreError(f"spike store {name!r} does not exist")
        if path.is_dir():
            raise StoreError(f"spike store {name!r} is a directory, not a file")
        try:
            fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except OSError as err:
            raise StoreError(f"cannot recover spike store {name!r}: {error_cause(err)}") from None
        removed = []
        try:
            if not _take_writer_lock(fd):
                raise StoreError(f"spike store {name!r} is open for writing by a live process; "
                                 "recover only the store of a writer that died")
            if flock_held_elsewhere(fd):
                raise StoreError(f"spike store {name!r} is open in another program (it holds "
                                 "HDF5's file lock); close it first")
            block = read_superblock(fd)
            if block is None:
                raise StoreError(f"{name!r} is not a readable HDF5 file (truncated or corrupt)")
            flags, end = block.flags, block.end
            if flags & (WRITE_ACCESS | SWMR_WRITE_ACCESS):
                if end is not None:
                    size = os.fstat(fd).st_size
                    written = last_data_byte(fd, end, size)
                    if written > end:  # written past the recorded end: keep a margin of
                        end = min(size, written + 64 * 1024)  # trailing zero bytes
                    if end > size:
                        os.ftruncate(fd, end)
                write_superblock(fd, block, flags & ~(WRITE_ACCESS | SWMR_WRITE_ACCESS), end)
                os.fsync(fd)
            for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
                remove_file(tmp)
                removed.append(tmp.name)
        except OSError as err:
            raise StoreError(f"cannot recover spike store {name!r}: {error_cause(err)}") from None
        finally:
            os.close(fd)
        with cls(path, "a") as store:
            report = {"status_flags": flags, "end_of_file": (block.end, end),
                      "n_spikes": {p: store.n_spikes(p) for p in store.populations},
                      "n_presentations": store.n_presentations, "removed": removed}
        return report


def write_new_store(path, *, dt: float, sizes: dict, spikes: dict, presentations=None,
                    metadata: dict | None = None, t_stop: float | None = None) -> None:
    """Write a complete spike store to ``path`` through a temporary file in its folder,
    fsync it and rename it over ``path``: whenever the writer is killed or fails (full
    disk, ...), ``path`` holds the old file or the whole new store.

    Parameters
    ----------
    path : str or Path
        The file (an existing file there is replaced: callers decide whether it may be).
    dt : float
        Time step, ms.
    sizes : dict of str -> int
        Populations and their numbers of neurons, in order.
    spikes : dict of str -> (times_ms, ids)
        Spikes of every population.
    presentations : tuple, optional
        ``(example_id, label, phase, t_start, t_stop)`` columns
        (:meth:`SpikeStore.append_presentations`; phases as names).
    metadata : dict, optional
        JSON-serialisable metadata.
    t_stop : float, optional
        End of the recording, ms.

    Raises
    ------
    StoreError
        An OS error or a store error, naming ``path`` (not the temporary file).
    """
    name = str(path)
    target = Path(os.path.realpath(path))  # a symbolic link's file is replaced
    remove_dead_temporaries(target)
    tmp = writer_temporary(target)
    try:
        with SpikeStore(tmp, "w", dt=dt) as store:
            # structure first (each change copies the file), then the data
            for pop, n in sizes.items():
                store.add_population(pop, int(n))
            if metadata:
                store.set_metadata(metadata)
            for pop in sizes:
                times, ids = spikes[pop]
                store.append_spikes(pop, times, ids)
            if presentations is not None:
                store.append_presentations(*presentations)
            if t_stop is not None and t_stop > 0:
                store.set_t_stop(t_stop)
        commit_temporary(tmp, target)
    except BaseException as exc:
        remove_file(tmp)
        if isinstance(exc, OSError):
            raise StoreError(f"cannot write spike store {name!r}: "
                             f"{os_error_cause(exc)}") from None
        if isinstance(exc, StoreError):  # the store names the temporary file
            raise StoreError(str(exc).replace(str(tmp), name)) from None
        raise

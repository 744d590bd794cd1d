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
appended batch by batch and memory stays bounded.

A store is data from anyone, and a reader trusts none of it: opening a store checks the
layout above (attributes, groups, column types and shapes; ``n_nodes`` from 1 to
:data:`MAX_NODES`, 10^8), and every read checks the values it returns (times finite and
>= 0, spikes sorted, node ids in range, phases known). Whatever is wrong is one
:class:`~dendrinet.errors.StoreError` naming the file and the problem. Nothing is
allocated by a declared size alone: :meth:`SpikeStore.to_neo` builds at most
:data:`MAX_NEO_TRAINS` trains per call.

What a store on disk promises (crash safety)
--------------------------------------------
* **A killed writer keeps what it flushed.** While a writer has the file open it is in
  SWMR mode (HDF5 single-writer/multiple-reader): HDF5 orders its writes so that the file
  on disk is consistent at every instant, and a writer killed at any moment (SIGKILL,
  the OOM killer, a crash) leaves a file that opens with mode ``'r'`` and holds every
  spike and presentation appended before its last flush. ``append_*`` flush by default;
  with ``flush=False`` the store flushes by itself (see :class:`SpikeStore`).
* **Structure changes cannot destroy the file.** SWMR covers appends only, so
  :meth:`SpikeStore.add_population`, :meth:`SpikeStore.set_metadata` (and
  :meth:`SpikeStore.set_dt` on a store without ``dt``) change a copy of the file and
  rename it over the store (atomic): a writer killed meanwhile leaves the old file or the
  new one, both whole. The price is a copy of the file: make them before appending.
* **Readers never disturb the writer.** Readers open the file in SWMR read mode and take
  no file lock, so a writer is never refused or failed because of them, and a growing
  file is never reported corrupt. A reader holding the store across a structure change
  keeps seeing the file as it was (reopen it to see the change).
* **A dead writer's store can be appended to again** after :meth:`SpikeStore.recover`
  (what ``h5clear -s`` does, plus setting the end-of-file address; mode ``'a'`` refuses
  such a store and names this call). It is readable without it.
* **OS failures are one StoreError.** A full disk (ENOSPC, EDQUOT), a file size limit
  (``ulimit -f``, EFBIG), a read-only file system, a missing permission, a path under a
  regular file: one :class:`~dendrinet.errors.StoreError` naming the file and the cause.
  HDF5 cannot survive a failed write (closing the file afterwards crashes the process),
  so the store makes room for each write before HDF5 makes it (it checks the file size
  limit and allocates the blocks with ``posix_fallocate``, a few MiB ahead of the data
  while writing, given back at close), and should a write fail all the same it stops
  touching the file and closes it without writing: the file keeps what was flushed
  before. Either way the store is then closed; later calls raise the same error.
* Not covered: power loss or a kernel crash (appends are not fsync'ed), and two writers
  at once (refused: a writer holds a lock on the file, which readers ignore). A writer
  killed while creating a store or changing its structure may leave a hidden
  ``.<name>.<random>.tmp`` beside it (:meth:`SpikeStore.recover` deletes those).

SWMR's price: file space freed when the partly filled last chunk is rewritten is never
reused, so many tiny flushed batches bloat the file (see ``append_spikes``).

The package, one concept a module
---------------------------------
:mod:`~dendrinet.store.layout`
    the format and the checks of what a reader trusts;
:mod:`~dendrinet.store.values`
    the checks of what a writer is given;
:mod:`~dendrinet.store.superblock`
    the HDF5 superblock read and rewritten by hand (``recover``);
:mod:`~dendrinet.store.reservation`
    room on disk made before each write;
:mod:`~dendrinet.store.hdf5_files`
    HDF5 files opened for SWMR writing, or abandoned after a failed write;
:mod:`~dendrinet.store.reader`, :mod:`~dendrinet.store.writer`
    the two halves of :class:`SpikeStore`, and :func:`write_new_store`;
:mod:`~dendrinet.store.neo`
    the export to Neo.

Temporary files, the rename over the store and the writer's lock come from
:mod:`dendrinet.storage` (shared with run folders).
"""

from dendrinet.store.layout import (CHUNK_ROWS, FORMAT, FORMAT_VERSION, MAX_NODES,
                                    check_layout)
from dendrinet.store.neo import MAX_NEO_TRAINS
from dendrinet.store.reader import StoreReader
from dendrinet.store.writer import FLUSH_SECONDS, SpikeStore, write_new_store

__all__ = ["SpikeStore", "StoreReader", "write_new_store", "check_layout", "FORMAT",
           "FORMAT_VERSION", "CHUNK_ROWS", "FLUSH_SECONDS", "MAX_NODES", "MAX_NEO_TRAINS"]

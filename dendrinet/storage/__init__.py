"""Storage: files written whole or not at all, and the locks that keep one writer at a
time. The one implementation of atomic writes, temporary files and locks that run
folders, sweep folders and spike stores share.

:mod:`dendrinet.storage.files`
    Atomic writes (:func:`~dendrinet.storage.files.atomic_open`), temporary files,
    the refusal to write through links below a folder, one-line write errors.
:mod:`dendrinet.storage.locks`
    The lock primitive (``flock``, or open-file-description locks for HDF5 files) and
    the lock of a folder (:class:`~dendrinet.storage.locks.FolderLock`).
"""

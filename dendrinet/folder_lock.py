"""The old import path of :class:`dendrinet.storage.locks.FolderLock` (one writer per
folder): kept so that ``from dendrinet.folder_lock import ...`` goes on working; new
code imports :mod:`dendrinet.storage.locks`."""
from dendrinet.storage.locks import (LOCK_NAME, FolderBusyError, FolderLock,  # noqa: F401
                                     LockLostError, describe_holder)

__all__ = ["FolderLock", "FolderBusyError", "LockLostError", "LOCK_NAME", "describe_holder"]

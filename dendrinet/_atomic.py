"""The old import path of :mod:`dendrinet.storage.files` (atomic writes, temporary
files): kept so that ``from dendrinet._atomic import ...`` goes on working; new code
imports :mod:`dendrinet.storage.files`."""
from dendrinet.storage.files import (TEMPORARY_PATTERNS, WriteError, atomic_open,  # noqa: F401
                                     check_no_symlinks, check_writable_folder,
                                     current_umask, file_mode, os_error_cause,
                                     os_error_text, remove_dead_temporaries,
                                     write_json_atomic, write_text_atomic, writer_temporary)

__all__ = ["WriteError", "TEMPORARY_PATTERNS", "atomic_open", "write_json_atomic",
           "write_text_atomic", "file_mode", "current_umask", "os_error_text",
           "os_error_cause", "check_writable_folder", "writer_temporary",
           "remove_dead_temporaries", "check_no_symlinks"]

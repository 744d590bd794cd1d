"""Import Brian2 from any thread.

Brian2's import installs a handler of SIGINT (Ctrl-C stops a run cleanly), and Python
lets only the main thread install signal handlers: imported first from another thread,
``import brian2`` fails with "signal only works in main thread of the main interpreter".
A Dask worker runs its tasks in such threads, so a sweep over a model whose equations
need Brian2 (code generation, unit checks) would fail on every fresh worker.
"""
from __future__ import annotations

import signal
import sys
import threading

__all__ = ["import_brian2"]

_LOCK = threading.Lock()


def import_brian2():
    """Brian2's module, imported if needed; from a thread other than the main one, with
    its SIGINT handler left out (that thread cannot receive the signal anyway)."""
    imported = sys.modules.get("brian2") is not None
    if imported or threading.current_thread() is threading.main_thread():
        import brian2

        return brian2
    with _LOCK:
        install = signal.signal
        # Brian2 calls signal.signal(SIGINT, handler) at import: keep the current handler
        signal.signal = lambda signum, handler: signal.getsignal(signum)
        try:
            import brian2
        finally:
            signal.signal = install
    return brian2

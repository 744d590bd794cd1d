"""Atomic file writes: write a temporary file in the target's folder, fsync it, then
rename it over the target, so a reader (or a writer killed at any moment) sees either
the old file or the complete new one, never a half-written file."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, suffix: str = ".tmp",
                encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file next to ``path`` for writing; on a clean exit of the
    ``with`` block, flush, fsync and rename it to ``path``; on an exception, delete it.

    Parameters
    ----------
    path : str or PathLike
        Final file; its folder must exist.
    mode : str
        ``"wb"`` (binary) or ``"w"`` (text).
    suffix : str
        Ending of the temporary file's name (some writers look at it, e.g. ``.npz``).
    encoding : str or None
        Text encoding for ``mode="w"``.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=suffix)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as indented UTF-8 JSON (with a final newline) atomically."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")

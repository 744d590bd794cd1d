"""Downloads of official data files: each mirror in turn, streamed to a temporary file,
checked against the manifest's size and checksums, then renamed into the cache."""
from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
from pathlib import Path

from dendrinet.datasets import checks
from dendrinet.storage.files import commit_temporary, create_temporary, remove_file

DOWNLOAD_TIMEOUT_S = 60.0
# The URL opener used for downloads; tests replace it (they never touch the network).
urlopen = urllib.request.urlopen

_DOWNLOAD_ERRORS = (OSError, http.client.HTTPException, ValueError)


# ------------------------------------------------------------------- downloading


class DownloadFailed(Exception):
    """Every mirror failed for one file (message: what each mirror answered)."""


def download(file_spec: dict, target: Path, urls: list[str], dataset: str) -> Path:
    """Fetch one official archive into ``target``, trying each mirror in turn."""
    failures = []
    for base in urls:
        url = base.rstrip("/") + "/" + file_spec["name"]
        try:
            return _fetch_verified(url, target, file_spec)
        except _DOWNLOAD_ERRORS as exc:
            failures.append(f"{url}: {exc}")
    raise DownloadFailed(f"{file_spec['name']} of {dataset}: " + "; ".join(failures))


def _fetch_verified(url: str, target: Path, file_spec: dict) -> Path:
    """Stream ``url`` to a temporary file, check size and checksums, rename atomically.

    Raises OSError (network, disk) or ValueError (size or checksum mismatch).
    """
    target.mkdir(parents=True, exist_ok=True)
    final = target / file_spec["name"]
    expected_bytes = file_spec.get("gz_bytes")
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    n_bytes = 0
    tmp, fd = create_temporary(final, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            with urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                while chunk := response.read(1 << 20):
                    n_bytes += len(chunk)
                    if expected_bytes is not None and n_bytes > expected_bytes:
                        raise ValueError(f"more than the official {expected_bytes} bytes")
                    md5.update(chunk)
                    sha256.update(chunk)
                    out.write(chunk)
        if expected_bytes is not None and n_bytes != expected_bytes:
            raise ValueError(f"got {n_bytes} bytes, the official file has {expected_bytes}")
        if md5.hexdigest() != file_spec["md5"]:
            raise ValueError(f"checksum mismatch: md5 {md5.hexdigest()}, "
                             f"official {file_spec['md5']}")
        if "sha256" in file_spec and sha256.hexdigest() != file_spec["sha256"]:
            raise ValueError(f"checksum mismatch: sha256 {sha256.hexdigest()}, "
                             f"official {file_spec['sha256']}")
        os.chmod(tmp, 0o644)  # a shared cache: readable by everyone, whatever the umask
        commit_temporary(tmp, final)
        tmp = None
    finally:
        if tmp is not None:
            remove_file(tmp)
    checks.VERIFIED.add(checks.file_key(final))
    return final

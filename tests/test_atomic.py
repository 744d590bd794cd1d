"""Atomic writes: the target holds either the old or the complete new content; and the
lock primitives of dendrinet.storage (the one implementation of both)."""
import contextlib
import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dendrinet.storage import files, locks
from dendrinet.storage.files import (WriteError, atomic_open, check_writable_folder,
                                     commit_temporary, create_temporary, current_umask,
                                     remove_dead_temporaries, write_json_atomic,
                                     writer_temporary)
from dendrinet.model.weights import save_npz_atomic


def test_json_round_trip_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")
    data = {"epochs": [1, 2], "error": 0.125, "name": "ü"}
    write_json_atomic(path, data)
    assert json.loads(path.read_text(encoding="utf-8")) == data
    assert path.read_text(encoding="utf-8").endswith("}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old content")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_open(path, "wb") as fh:
            fh.write(b"half of the new")
            raise RuntimeError("disk on fire")
    assert path.read_bytes() == b"old content"
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_save_npz_atomic_creates_folders_and_round_trips(tmp_path):
    path = tmp_path / "a" / "b" / "w.npz"
    arrays = {"W0": np.arange(6.0).reshape(2, 3), "b0": np.array([-1.5, 2.0])}
    save_npz_atomic(path, arrays)
    with np.load(path) as data:
        assert sorted(data.files) == ["W0", "b0"]
        for name, arr in arrays.items():
            np.testing.assert_array_equal(data[name], arr)
    assert [p.name for p in path.parent.iterdir()] == ["w.npz"]


# --------------------------------------------- permissions and OS failures

@contextlib.contextmanager
def _umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_and_replaced_files_get_the_umask_permissions(tmp_path, mask, mode):
    with _umask(mask):
        assert current_umask() == mask
        write_json_atomic(tmp_path / "a.json", {"x": 1})
        save_npz_atomic(tmp_path / "w.npz", {"W": np.zeros(3)})
        (tmp_path / "old.json").write_text("{}")
        os.chmod(tmp_path / "old.json", 0o600)
        write_json_atomic(tmp_path / "old.json", {"y": 2})
    for name in ("a.json", "w.npz", "old.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_a_path_under_a_regular_file_is_one_write_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WriteError, match=r"cannot write .*file/s\.json: Not a directory "
                                         r"\[ENOTDIR\]") as info:
        write_json_atomic(blocker / "s.json", {})
    assert info.value.errno == errno.ENOTDIR and info.value.path == blocker / "s.json"
    assert blocker.read_text() == "x"


def test_a_failed_write_is_one_write_error_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")
    with pytest.raises(WriteError, match=r"summary\.json: No space left on device \[ENOSPC\]"):
        with atomic_open(path, "w", encoding="utf-8") as fh:
            fh.write("half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_check_writable_folder_names_the_folder_and_the_cause(tmp_path):
    check_writable_folder(tmp_path)  # fine, and leaves nothing behind
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(WriteError, match=r"cannot write to output folder .*/nope: No such "
                                         r"file or directory \[ENOENT\]"):
        check_writable_folder(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    for where in (tmp_path / "f", tmp_path / "f" / "g"):
        with pytest.raises(WriteError, match=r"Not a directory \[ENOTDIR\]"):
            check_writable_folder(where)


def test_temporaries_of_dead_writers_are_removed_and_others_kept(tmp_path):
    target = tmp_path / "s.h5"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    mine = writer_temporary(target)
    assert mine.parent == tmp_path and mine.name.startswith(f".s.h5.w{os.getpid()}-")
    theirs = mine.with_name(mine.name.replace(f"w{os.getpid()}-", f"w{pid}-"))
    store_copy = tmp_path / ("." + theirs.name + ".ab12.tmp")  # the store's own temporary
    other_host = tmp_path / f".s.h5.w{pid}-00000000-0a0b.tmp"
    other_file = tmp_path / f".t.h5.w{pid}-{theirs.name.split('-')[1]}-0a0b.tmp"
    for p in (mine, theirs, store_copy, other_host, other_file, target):
        p.write_text("x")
    removed = remove_dead_temporaries(target)
    assert sorted(removed) == sorted([theirs, store_copy])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (mine, other_host, other_file, target))


def test_the_old_import_paths_give_the_same_objects():
    import dendrinet.storage.files as old_atomic
    import dendrinet.storage.locks as old_lock

    for name in old_atomic.__all__:
        assert getattr(old_atomic, name) is getattr(files, name), name
    for name in old_lock.__all__:
        assert getattr(old_lock, name) is getattr(locks, name), name


def test_temporary_files_are_new_files_next_to_the_target_never_through_a_link(
        tmp_path, monkeypatch):
    target = tmp_path / "store.h5"
    hidden, fd = create_temporary(target)
    os.close(fd)
    shown, fd = create_temporary(target, hidden=False, suffix=".tmp.npz")
    os.close(fd)
    assert hidden.parent == shown.parent == tmp_path
    assert hidden.name.startswith(".store.h5.") and hidden.name.endswith(".tmp")
    assert shown.name.startswith("store.h5.") and shown.name.endswith(".tmp.npz")
    assert (hidden.stat().st_mode & 0o777) == 0o666 & ~current_umask()
    # a link (or any file) under the name it draws is never opened: it draws again,
    # and gives up with FileExistsError rather than write through the link
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: "abcd")
    (tmp_path / ".store.h5.abcd.tmp").symlink_to(elsewhere)
    with pytest.raises(FileExistsError):
        create_temporary(target)
    assert not elsewhere.exists()


def test_commit_replaces_the_target_with_the_whole_temporary_file(tmp_path):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")
    tmp, fd = create_temporary(target, suffix=".part")
    os.write(fd, b"new content")
    commit_temporary(tmp, target, fd=fd)
    os.close(fd)
    assert target.read_bytes() == b"new content" and not tmp.exists()
    tmp, fd = create_temporary(target)
    os.close(fd)
    commit_temporary(tmp, target)  # fsync'ed by opening it
    assert target.read_bytes() == b"" and sorted(tmp_path.iterdir()) == [target]


def _open(path):
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)


def test_a_flock_excludes_every_other_open_file_until_closed(tmp_path):
    first, second = _open(tmp_path / "f"), _open(tmp_path / "f")
    try:
        assert locks.try_lock(first, locks.FLOCK)
        assert not locks.try_lock(second, locks.FLOCK)  # the same process, another file
        assert locks.flock_held_elsewhere(second)
        os.close(first)
        first = None
        assert not locks.flock_held_elsewhere(second)  # and it left no lock behind
        assert locks.try_lock(second, locks.FLOCK)
    finally:
        for fd in (first, second):
            if fd is not None:
                os.close(fd)
    with pytest.raises(ValueError, match="lock style"):
        locks.try_lock(0, locks.OFD, wait=True)


@pytest.mark.skipif(locks.OFD_AVAILABLE is False, reason="no open-file-description locks")
def test_ofd_locks_exclude_each_other_but_never_meet_a_flock(tmp_path):
    """The store's writer lock (OFD) and HDF5's own lock (flock) must not meet: a store's
    writer is neither refused by, nor refuses, a program holding HDF5's lock."""
    a, b, c = (_open(tmp_path / "s.h5") for _ in range(3))
    try:
        assert locks.try_lock(a, locks.OFD)
        assert not locks.try_lock(b, locks.OFD)
        assert locks.try_lock(c, locks.FLOCK)  # HDF5's lock, taken by another program
        assert locks.flock_held_elsewhere(a) and not locks.try_lock(b, locks.OFD)
        os.close(a)
        a = None
        assert locks.try_lock(b, locks.OFD)
    finally:
        for fd in (a, b, c):
            if fd is not None:
                os.close(fd)

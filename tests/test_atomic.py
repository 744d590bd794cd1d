"""Atomic writes: the target holds either the old or the complete new content."""
import json

import numpy as np
import pytest

from dendrinet._atomic import atomic_open, write_json_atomic
from dendrinet.weights import save_npz_atomic


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

"""Fault injection for dendrinet.store: writers killed (SIGKILL) at random moments of
every kind of write, readers racing a writer, full disks (file size limit, a small
tmpfs), read-only and impossible paths. Every test counts what the file kept against
what the writer had acknowledged.

The writers run in subprocesses and append a JSON line to a side file each time a
call returned, with what the store then promised to keep (``acked``)."""

import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from dendrinet.errors import StoreError
from dendrinet.store import SpikeStore
from dendrinet.store.superblock import superblock_of

REPO = Path(__file__).resolve().parents[1]
N_NODES = 50


def _stream(index, size):
    """Batch ``index`` of the writers' deterministic spike stream (0.25 ms grid, ties)."""
    rng = np.random.default_rng([23, index, size])
    times = index * 100.0 + np.sort(rng.integers(0, 400, size)) * 0.25
    return times, rng.integers(0, 50, size)


def _expected(n, size):
    batches = [_stream(i, size) for i in range(n // size + 1)]
    return (np.concatenate([t for t, _ in batches])[:n],
            np.concatenate([i for _, i in batches])[:n])


WRITER = """
import json, sys, time
sys.path.insert(0, {repo!r})
import numpy as np
from dendrinet.store import CHUNK_ROWS, SpikeStore
{stream}
path, side, scenario, size = {path!r}, {side!r}, {scenario!r}, {size}

def ack(**state):
    with open(side, "a") as handle:
        handle.write(json.dumps(state) + "\\n")

store = SpikeStore(path, "w", dt=0.5)
store.add_population("pop", 50)
total = populations = keys = 0
ack(spikes=0, populations=1, keys=0)
print("ready", flush=True)
for index in range(10 ** 6):
    times, ids = _stream(index, size)
    if scenario == "flushed":
        store.append_spikes("pop", times, ids)
        total += size
    elif scenario == "buffered":  # simulation pace: 100 spikes per ms of wall time
        store.append_spikes("pop", times, ids, flush=False)
        total += size
        time.sleep(size / 1e5)
        if index % 40 == 39:
            store.flush()
            ack(spikes=total)
            continue
        total_kept = max(0, total - CHUNK_ROWS + 1)  # the documented bound
        ack(spikes=total_kept)
        continue
    elif scenario == "idle":  # no call for longer than FLUSH_SECONDS: the timer flushes
        store.append_spikes("pop", times, ids, flush=False)
        total += size
        time.sleep(2.0)
    elif scenario == "add_population":
        store.add_population(f"extra{{index}}", 3)
        populations += 1
        store.append_spikes("pop", times, ids)
        total += size
    elif scenario == "set_metadata":
        store.set_metadata({{f"key{{index}}": list(range(index, index + 40))}})
        keys += 1
        store.append_spikes("pop", times, ids)
        total += size
    elif scenario == "reader_race":  # appends, with a structure change now and then
        store.append_spikes("pop", times, ids)
        total += size
        if index % 25 == 24:
            store.add_population(f"extra{{index}}", 3)
            populations += 1
        if index == {last}:
            store.close()
            ack(spikes=total, populations=1 + populations, keys=keys)
            print("done", flush=True)
            break
        time.sleep(0.004)
    ack(spikes=total, populations=1 + populations, keys=keys)
"""


def _writer(tmp_path, scenario, size, last=-1):
    path, side = tmp_path / "killed.h5", tmp_path / "acked.jsonl"
    for stale in (path, side):
        if stale.exists():
            stale.unlink()
    script = WRITER.format(repo=str(REPO), stream=textwrap.dedent(inspect.getsource(_stream)),
                           path=str(path), side=str(side), scenario=scenario, size=size,
                           last=last)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line == "ready\n", process.stderr.read()
    return process, path, side


def _acked(side):
    """The last acknowledged state, and ``calls``: how many calls had returned."""
    state = {"spikes": 0, "populations": 1, "keys": 0, "calls": 0}
    for line in side.read_text().splitlines():
        if line.endswith("}"):  # the last line may be cut by the kill
            state.update(json.loads(line))
            state["calls"] += 1
    return state


def _check_killed_store(path, acked, size):
    """The file a killed writer left: readable as it is, holding at least what was
    acknowledged; mode 'a' names recover; recover makes it appendable. Returns the
    number of spikes it held."""
    with SpikeStore(path) as store:  # no recovery needed to read
        n = store.n_spikes("pop")
        assert n >= acked["spikes"]
        times, ids = store.spikes("pop")
        expected_times, expected_ids = _expected(n, size)
        np.testing.assert_array_equal(times, expected_times)
        np.testing.assert_array_equal(ids, expected_ids)
        assert acked["populations"] <= len(store.populations) <= acked["populations"] + 1
        keys = [key for key in store.metadata if key.startswith("key")]
        assert acked["keys"] <= len(keys) <= acked["keys"] + 1
        assert store.t_stop >= (times[-1] if n else 0.0)
        assert store.dt == 0.5
    flags = superblock_of(path)[0].flags
    if flags:  # killed while appending: mode 'a' refuses and names the recovery call
        with pytest.raises(StoreError, match=r"died without closing it\. Call "
                                             r"SpikeStore\.recover\("):
            SpikeStore(path, "a")
    report = SpikeStore.recover(path)
    assert report["status_flags"] == flags and report["n_spikes"]["pop"] == n
    assert not list(path.parent.glob(".*.tmp"))  # temporaries of a killed change removed
    assert superblock_of(path)[0].flags == 0
    with SpikeStore(path, "a") as store:
        last = store.spikes("pop")[0][-1] if n else 0.0
        store.append_spikes("pop", [last, last + 1.0], [0, 49])
        store.add_population("after", 2)
    with SpikeStore(path) as store:
        assert store.n_spikes("pop") == n + 2
        np.testing.assert_array_equal(store.spikes("pop")[0][:n], _expected(n, size)[0])
        assert "after" in store.populations
    return n


@pytest.mark.parametrize("scenario, size, seed, kills", [
    ("flushed", 4000, 1, 2),
    ("buffered", 700, 2, 3),
    ("add_population", 500, 3, 3),
    ("set_metadata", 500, 4, 3),
])
def test_sigkill_at_random_moments_keeps_everything_acknowledged(tmp_path, scenario, size,
                                                                  seed, kills):
    moments = np.random.default_rng(seed).uniform(0.3, 1.0, kills)
    kept = []
    for moment in moments:
        writer, path, side = _writer(tmp_path, scenario, size)
        time.sleep(moment)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        assert writer.returncode == -signal.SIGKILL, writer.stderr.read()
        acked = _acked(side)
        assert acked["calls"] >= 3  # killed while working, not while starting
        kept.append((acked["spikes"], _check_killed_store(path, acked, size)))
    # (for "buffered" the acknowledged count is what the class docstring promises: all
    # but fewer than CHUNK_ROWS spikes, or all at the last explicit flush)
    assert all(n >= acked for acked, n in kept), kept


def test_sigkill_of_an_idle_buffered_writer_keeps_what_the_timer_flushed(tmp_path):
    # flush=False appends, then no call for 2 s: the timer thread flushed them within
    # FLUSH_SECONDS, so everything appended before the last pause is on disk
    writer, path, side = _writer(tmp_path, "idle", 900)
    time.sleep(4.6)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    acked = _acked(side)
    assert acked["spikes"] >= 900  # a pause ended: what came before it was flushed
    assert _check_killed_store(path, acked, 900) >= acked["spikes"]


def test_readers_in_a_loop_never_fail_nor_fail_the_writer(tmp_path):
    writer, path, side = _writer(tmp_path, "reader_race", 3000, last=199)
    opens, counts, errors = 0, [], []
    deadline = time.monotonic() + 60
    while writer.poll() is None and time.monotonic() < deadline:
        acked = _acked(side)["spikes"]
        try:
            with SpikeStore(path) as store:
                n = store.n_spikes("pop")
                if n:
                    times, ids = store.spikes("pop", t_start=max(0.0, store.t_stop - 150.0))
                    assert len(times) == len(ids) > 0
            opens += 1
            counts.append(n)
            assert n >= acked
        except StoreError as err:
            errors.append(str(err))
    out, err = writer.communicate(timeout=60)
    assert errors == []
    assert writer.returncode == 0, err
    assert out == "done\n"
    assert opens >= 20 and counts == sorted(counts)  # a growing file, read as it grew
    with SpikeStore(path) as store:
        assert store.n_spikes("pop") == 200 * 3000 == _acked(side)["spikes"]
        assert len(store.populations) == 1 + 8
        np.testing.assert_array_equal(store.spikes("pop")[0], _expected(600_000, 3000)[0])


READER = """
import sys, time
sys.path.insert(0, {repo!r})
from dendrinet.store import SpikeStore
with SpikeStore({path!r}) as store:
    print(store.n_spikes("pop"), len(store.populations), flush=True)
    sys.stdin.readline()  # the writer changes the structure meanwhile
    print(store.n_spikes("pop"), len(store.spikes("pop")[0]), store.populations, flush=True)
"""


def test_a_reader_holding_the_store_does_not_fail_structure_changes(tmp_path):
    path = tmp_path / "held.h5"
    times, ids = _stream(0, 5000)
    with SpikeStore(path, "w") as store:
        store.add_population("pop", N_NODES)
        store.append_spikes("pop", times, ids)
        reader = subprocess.Popen(
            [sys.executable, "-c", READER.format(repo=str(REPO), path=str(path))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert reader.stdout.readline() == "5000 1\n"
        # a second writer is refused while this one lives, and so is recovery
        with pytest.raises(StoreError, match="open for writing by another process"):
            SpikeStore(path, "a")
        with pytest.raises(StoreError, match="live process"):
            SpikeStore.recover(path)
        store.add_population("late", 4)  # with the old store: BlockingIOError
        store.set_metadata({"model": {"layers": [784, 500, 10]}})
        store.set_dt(0.25)
        more_times, more_ids = _stream(1, 3000)
        store.append_spikes("pop", more_times, more_ids)
        store.append_spikes("late", [1.0, 2.0], [3, 0])
        out, err = reader.communicate("go\n", timeout=60)
    assert reader.returncode == 0, err
    # the reader kept the file as it had opened it, whole
    assert out == "5000 5000 ['pop']\n"
    with SpikeStore(path) as store:
        assert store.populations == ["late", "pop"]
        assert store.n_spikes("pop") == 8000 and store.n_spikes("late") == 2
        assert store.metadata["model"] == {"layers": [784, 500, 10]} and store.dt == 0.25
        np.testing.assert_array_equal(store.spikes("pop")[0], np.concatenate([times, more_times]))
        np.testing.assert_array_equal(store.spikes("pop")[1], np.concatenate([ids, more_ids]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["held.h5"]  # no temporaries


FULL = """
import resource, signal, sys
sys.path.insert(0, {repo!r})
import numpy as np
import dendrinet.store.reservation as reservation
from dendrinet.errors import StoreError
from dendrinet.store import SpikeStore
{stream}
path, limit, flush, checks = {path!r}, {limit}, {flush}, {checks}
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
if not checks:  # let the write reach HDF5 and fail there
    reservation.reserve = lambda fd, end, step=0: 0
    reservation.file_size_limit = lambda: None
total = 0
try:
    with SpikeStore(path, "w", dt=0.5) as store:
        store.add_population("pop", 50)
        store.set_metadata({{"run": "full disk"}})
        for index in range(10 ** 6):
            times, ids = _stream(index, 20000)
            store.append_spikes("pop", times, ids, flush=flush)
            total += 20000
            if not flush and index % 5 == 4:
                store.flush()
            if flush or index % 5 == 4:
                print("acked", total, flush=True)
except StoreError as err:
    print("StoreError", err, flush=True)
    try:
        store.append_spikes("pop", [1e9], [0])
    except StoreError as again:
        print("again", again, flush=True)
"""


def _full_disk(path, limit=0, flush=True, checks=True):
    script = FULL.format(repo=str(REPO), stream=textwrap.dedent(inspect.getsource(_stream)),
                         path=str(path), limit=limit, flush=flush, checks=checks)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)


def _one_store_error(result, path, cause):
    """The writer got one StoreError naming the file and the cause, no traceback, and
    exited normally (not -11 / 139: no segmentation fault). Returns the acked count."""
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    errors = [line for line in lines if line.startswith("StoreError")]
    assert len(errors) == 1, result.stdout[-2000:]
    assert f"'{path}'" in errors[0] and cause in errors[0], errors[0]
    assert "Traceback" not in result.stderr and "Segmentation" not in result.stderr
    assert lines[-1].startswith("again")  # later calls: the same error, nothing written
    acked = [int(line.split()[1]) for line in lines if line.startswith("acked")]
    assert acked and acked[-1] >= 100_000
    return acked[-1]


def _kept(path, acked):
    with SpikeStore(path) as store:
        n = store.n_spikes("pop")
        assert n >= acked
        np.testing.assert_array_equal(store.spikes("pop")[0], _expected(n, 20000)[0])
        assert store.metadata["run"] == "full disk"
    return n


@pytest.mark.parametrize("flush, checks", [(True, True), (False, True), (True, False)],
                         ids=["flushed", "buffered", "failing-inside-hdf5"])
def test_file_size_limit_gives_one_store_error_and_keeps_the_flushed_spikes(tmp_path, flush,
                                                                           checks):
    path = tmp_path / "limited.h5"
    result = _full_disk(path, limit=4_000_000, flush=flush, checks=checks)
    acked = _one_store_error(result, path, "File too large")
    assert "[EFBIG]" in result.stdout
    n = _kept(path, acked)
    assert path.stat().st_size <= 4_000_000
    if superblock_of(path)[0].flags:  # HDF5 held unflushed writes: closed unwritten
        assert not (flush and checks)
        with pytest.raises(StoreError, match=r"SpikeStore\.recover\("):
            SpikeStore(path, "a")
        assert SpikeStore.recover(path)["n_spikes"]["pop"] == n
    with SpikeStore(path, "a") as store:  # the limit was the process's: room again
        store.append_spikes("pop", [1e6], [7])
    with SpikeStore(path) as store:
        assert store.n_spikes("pop") == n + 1


def _namespace():
    """A command prefix giving the subprocess its own mounts (to mount a small or a
    read-only tmpfs), or None where the system does not allow it."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return None
    prefix = [unshare, "--user", "--map-root-user", "--mount"] if os.geteuid() else \
        [unshare, "--mount"]
    probe = subprocess.run([*prefix, "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                           capture_output=True, check=False)
    return prefix if probe.returncode == 0 else None


IN_TMPFS = """
set -e
mkdir -p {mount}
mount -t tmpfs -o size={size} tmpfs {mount}
{commands}
"""


@pytest.mark.parametrize("flush", [True, False], ids=["flushed", "buffered"])
def test_no_space_left_gives_one_store_error_and_keeps_the_flushed_spikes(tmp_path, flush):
    prefix = _namespace()
    if prefix is None:
        pytest.skip("cannot mount a small tmpfs here (no user/mount namespaces)")
    mount = tmp_path / "small"
    path = mount / "full.h5"
    script = FULL.format(repo=str(REPO), stream=textwrap.dedent(inspect.getsource(_stream)),
                         path=str(path), limit=0, flush=flush, checks=True)
    check = (f"import sys; sys.path.insert(0, {str(REPO)!r}); import json\n"
             "from dendrinet.store import SpikeStore\n"
             "from dendrinet.store.superblock import superblock_of\n"
             f"with SpikeStore({str(path)!r}) as store: n = store.n_spikes('pop')\n"
             f"print('kept', n, superblock_of(__import__('pathlib').Path({str(path)!r}))[0].flags)")
    (tmp_path / "write.py").write_text(script)
    (tmp_path / "check.py").write_text(check)
    commands = (f"{sys.executable} {tmp_path / 'write.py'}\n"
                f"{sys.executable} {tmp_path / 'check.py'}")
    result = subprocess.run([*prefix, "sh", "-c", IN_TMPFS.format(
        mount=mount, size="3m", commands=commands)], capture_output=True, text=True, timeout=120, check=False)
    kept = [line for line in result.stdout.splitlines() if line.startswith("kept")]
    result.stdout = "\n".join(line for line in result.stdout.splitlines()
                              if not line.startswith("kept"))
    acked = _one_store_error(result, path, "No space left on device [ENOSPC]")
    assert len(kept) == 1 and int(kept[0].split()[1]) >= acked
    # closed cleanly, or (HDF5 held unflushed writes) closed unwritten with its SWMR flags
    assert int(kept[0].split()[2]) in ((0,) if flush else (0, 5))


def test_read_only_file_system_gives_one_store_error_naming_the_path(tmp_path):
    prefix = _namespace()
    if prefix is None:
        pytest.skip("cannot mount a read-only tmpfs here (no user/mount namespaces)")
    mount = tmp_path / "ro"
    check = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from dendrinet.errors import StoreError
from dendrinet.store import SpikeStore
path, new = {str(mount / 'store.h5')!r}, {str(mount / 'new.h5')!r}
if sys.argv[1] == "write":
    with SpikeStore(path, "w") as store:
        store.add_population("pop", 3)
        store.append_spikes("pop", [1.0, 2.0, 2.0], [0, 1, 2])
    sys.exit()
for call in (lambda: SpikeStore(new, "w"), lambda: SpikeStore(new, "a"),
             lambda: SpikeStore(path, "a"), lambda: SpikeStore.recover(path)):
    try:
        call()
        print("no error")
    except StoreError as err:
        print("StoreError", err)
with SpikeStore(path) as store:
    print("read", store.n_spikes("pop"))
"""
    (tmp_path / "check.py").write_text(check)
    commands = (f"{sys.executable} {tmp_path / 'check.py'} write\n"
                f"mount -o remount,ro {mount}\n"
                f"{sys.executable} {tmp_path / 'check.py'} check")
    result = subprocess.run([*prefix, "sh", "-c", IN_TMPFS.format(
        mount=mount, size="8m", commands=commands)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 5 and lines[-1] == "read 3", lines
    for line, name in zip(lines, ["new.h5", "new.h5", "store.h5", "store.h5"]):
        assert line.startswith("StoreError") and f"/ro/{name}'" in line, line
        assert "Read-only file system [EROFS]" in line, line


def test_path_under_a_regular_file_or_in_a_locked_folder_gives_one_store_error(tmp_path):
    regular = tmp_path / "notes.txt"
    regular.write_text("a file, not a folder\n")
    path = regular / "spikes.h5"
    for mode in ("w", "a"):
        with pytest.raises(StoreError, match=r"cannot create spike store '.*notes\.txt/"
                                             r"spikes\.h5': Not a directory \[ENOTDIR\]"):
            SpikeStore(path, mode)
    with pytest.raises(StoreError, match=r"notes\.txt/spikes\.h5' does not exist"):
        SpikeStore(path)
    with pytest.raises(StoreError, match=r"cannot create spike store '.*/nowhere/"
                                         r"spikes\.h5': No such file or directory \[ENOENT\]"):
        SpikeStore(tmp_path / "nowhere" / "spikes.h5", "w")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    locked = tmp_path / "locked"
    locked.mkdir()
    with SpikeStore(locked / "old.h5", "w") as store:
        store.add_population("pop", 2)
        store.append_spikes("pop", [1.0], [1])
    (locked / "old.h5").chmod(0o444)
    locked.chmod(0o555)
    try:
        try:
            (locked / "probe").touch()
        except PermissionError:
            pass
        else:  # root (CAP_DAC_OVERRIDE) writes anyway: EROFS is tested with a tmpfs
            return
        with pytest.raises(StoreError, match=r"locked/new\.h5': Permission denied \[EACCES\]"):
            SpikeStore(locked / "new.h5", "w")
        with pytest.raises(StoreError, match=r"locked/old\.h5' for writing: Permission denied"):
            SpikeStore(locked / "old.h5", "a")
        with SpikeStore(locked / "old.h5") as store:
            assert store.n_spikes("pop") == 1
    finally:
        locked.chmod(0o755)


# ------------------------------------------------- hand-edited and malformed stores
def _small_store(path):
    with SpikeStore(path, "w", dt=0.1) as store:
        store.add_population("p", 5)
        store.append_spikes("p", [1.0, 2.0, 3.0], [0, 1, 4])
        store.append_presentations([0, 1], [1, 2], ["forward", "target"], [0.0, 5.0],
                                   [5.0, 10.0])
    return path


def _replace(group, name, data, **kwargs):
    del group[name]
    group.create_dataset(name, data=data, **kwargs)


#: A hand edit (h5py on the file) -> what the one StoreError says.
MALFORMED = {
    "format_version_text": (lambda f: f.attrs.__setitem__("format_version", "abc"),
                            "format_version is 'abc', not an integer"),
    "format_version_float": (lambda f: f.attrs.__setitem__("format_version", 1.5),
                             "format_version is 1.5, not an integer"),
    "format_version_array": (lambda f: f.attrs.__setitem__("format_version", [1, 1]),
                             "format_version is array"),
    "format_array": (lambda f: f.attrs.__setitem__("format", [1, 2]),
                     "not a dendrinet spike store"),
    "no_node_ids": (lambda f: f["spikes/p"].__delitem__("node_ids"),
                    "the dataset /spikes/p/node_ids is missing"),
    "no_timestamps": (lambda f: f["spikes/p"].__delitem__("timestamps"),
                      "the dataset /spikes/p/timestamps is missing"),
    "no_spikes_group": (lambda f: f.__delitem__("spikes"), "the group /spikes is missing"),
    "no_presentations": (lambda f: f.__delitem__("presentations"),
                         "the group /presentations is missing"),
    "no_presentation_column": (lambda f: f["presentations"].__delitem__("t_stop"),
                               "/presentations/t_stop is missing"),
    "no_metadata": (lambda f: f.__delitem__("metadata"), "the group /metadata is missing"),
    "t_stop_text": (lambda f: f.attrs.__setitem__("t_stop", "x"), "t_stop is 'x'"),
    "t_stop_nan": (lambda f: f.attrs.__setitem__("t_stop", np.nan), "t_stop is nan"),
    "no_t_stop": (lambda f: f.attrs.__delitem__("t_stop"), "t_stop is None"),
    "dt_text": (lambda f: f.attrs.__setitem__("dt", "x"), "dt is 'x', not a positive"),
    "dt_negative": (lambda f: f.attrs.__setitem__("dt", -0.1), "dt is -0.1, not a positive"),
    "n_nodes_negative": (lambda f: f["spikes/p"].attrs.__setitem__("n_nodes", -3),
                         r"'p' declares n_nodes = -3; expected an integer in \[1, 100000000\]"),
    "n_nodes_text": (lambda f: f["spikes/p"].attrs.__setitem__("n_nodes", "x"),
                     "declares n_nodes = 'x'"),
    "n_nodes_missing": (lambda f: f["spikes/p"].attrs.__delitem__("n_nodes"),
                        "declares n_nodes = None"),
    "n_nodes_huge": (lambda f: f["spikes/p"].attrs.__setitem__("n_nodes", 10 ** 12),
                     "declares n_nodes = 1000000000000"),
    "population_is_a_dataset": (lambda f: _replace(f["spikes"], "p", [1]),
                                "/spikes/p is not a population group"),
    "node_ids_float": (lambda f: _replace(f["spikes/p"], "node_ids", [0.5, 1.0, 2.0]),
                       "node_ids holds float64 of shape \\(3,\\); a spike store keeps a 1-D "
                       "column of integers"),
    "node_ids_2d": (lambda f: _replace(f["spikes/p"], "node_ids", np.zeros((3, 2), int)),
                    r"node_ids holds int64 of shape \(3, 2\)"),
    "timestamps_bytes": (lambda f: _replace(f["spikes/p"], "timestamps",
                                                    np.array([b"a", b"b", b"c"])),
                         "timestamps holds \\|S1"),
    "node_id_out_of_range": (lambda f: f["spikes/p/node_ids"].__setitem__(2, 9),
                             r"the spikes of 'p': the value 9 is outside \[0, 5\)"),
    "node_id_negative": (lambda f: f["spikes/p/node_ids"].__setitem__(0, -1),
                         r"the value -1 is outside \[0, 5\)"),
    "timestamp_nan": (lambda f: f["spikes/p/timestamps"].__setitem__(1, np.nan),
                      "a time of nan ms"),
    "timestamp_negative": (lambda f: f["spikes/p/timestamps"].__setitem__(0, -4.0),
                           "a time of -4.0 ms"),
    "timestamps_unsorted": (lambda f: f["spikes/p/timestamps"].__setitem__(0, 2.5),
                            "the times are not sorted"),
    "phase_out_of_range": (lambda f: _replace(f["presentations"], "phase",
                                              np.array([9, 0], np.int8)),
                           r"presentation phase: the value 9 is outside \[0, 3\)"),
    "presentation_t_start_inf": (lambda f: f["presentations/t_start"].__setitem__(0, np.inf),
                                 "presentation t_start: a time of inf ms"),
}


def _read_everything(path):
    with SpikeStore(path) as store:
        for name in store.populations:
            store.n_nodes(name)
            store.spikes(name)
            store.spikes(name, 0.5, 2.5)
            list(store.iter_chunks(name, 2))
            store.to_neo(name)
        store.presentations
        store.presentation_window(0)
        store.t_stop, store.dt, store.metadata


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_every_malformed_store_is_one_store_error_naming_the_file(tmp_path, case):
    import h5py

    edit, message = MALFORMED[case]
    path = _small_store(tmp_path / f"{case}.h5")
    _read_everything(path)  # the store before the edit reads
    with h5py.File(path, "r+") as file:
        edit(file)
    with pytest.raises(StoreError, match=message) as info:
        _read_everything(path)
    assert f"{case}.h5" in str(info.value) and "\n" not in str(info.value)
    if "values" not in case:  # opening for appending checks the same (and recover too)
        try:
            SpikeStore(path, "a").close()
        except StoreError as err:
            assert f"{case}.h5" in str(err)


def test_a_contiguous_timestamps_column_is_read_with_windows(tmp_path):
    import h5py

    path = _small_store(tmp_path / "contiguous.h5")
    with h5py.File(path, "r+") as file:
        _replace(file["spikes/p"], "timestamps", np.array([1.0, 2.0, 3.0]))
    with SpikeStore(path) as store:
        times, ids = store.spikes("p", 1.5, 3.5)
    np.testing.assert_array_equal(times, [2.0, 3.0])
    np.testing.assert_array_equal(ids, [1, 4])


def test_declared_node_counts_are_bounded(tmp_path):
    from dendrinet.store import MAX_NODES

    with SpikeStore(tmp_path / "s.h5", "w") as store:
        for n in (10 ** 12, MAX_NODES + 1):
            with pytest.raises(StoreError, match=f"n_nodes of 'big' is {n}, over the limit of "
                                                 f"{MAX_NODES} neurons per population"):
                store.add_population("big", n)
        assert store.populations == []
        store.add_population("big", MAX_NODES)
        assert store.n_nodes("big") == MAX_NODES


def _sparse_store_of_many_declared_neurons(path, n_nodes=2_000_000, n_presentations=2):
    """A small file (three spikes, ``n_presentations`` test presentations of 20 ms) whose
    population declares ``n_nodes`` neurons."""
    starts = 20.0 * np.arange(n_presentations)
    with SpikeStore(path, "w", dt=0.1) as store:
        store.add_population("p", n_nodes)
        store.append_spikes("p", [1.0, 2.0, 30.0], [0, n_nodes - 1, 5])
        store.append_presentations(np.arange(n_presentations), np.arange(n_presentations) % 10,
                                   "test", starts, starts + 20.0)
    assert path.stat().st_size < 100_000
    return path


def _peak_bytes(function):
    import tracemalloc

    tracemalloc.start()
    try:
        result = function()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_to_neo_of_a_huge_declared_population_needs_a_selection(tmp_path):
    from dendrinet.analysis import to_neo
    from dendrinet.store import MAX_NEO_TRAINS

    path = _sparse_store_of_many_declared_neurons(tmp_path / "sparse.h5")
    with SpikeStore(path) as store:
        with pytest.raises(StoreError, match=r"sparse\.h5': to_neo makes one neo.SpikeTrain "
                                             r"per neuron .* population 'p' has 2000000 "
                                             r"neurons, over the limit of 100000: pass "
                                             r"node_ids="):
            _peak_bytes(lambda: store.to_neo("p"))
        with pytest.raises(StoreError, match=f"{MAX_NEO_TRAINS + 1} neurons were selected"):
            store.to_neo("p", node_ids=np.arange(MAX_NEO_TRAINS + 1))
        spiking = np.unique(store.spikes("p")[1])
        trains, peak = _peak_bytes(lambda: store.to_neo("p", node_ids=spiking))
    assert [int(t.annotations["node_id"]) for t in trains] == [0, 5, 1_999_999]
    assert [len(t) for t in trains] == [1, 1, 1]
    assert peak < 20e6, peak
    with pytest.raises(StoreError, match="over the limit"):
        to_neo(path, "p")


def test_report_of_a_huge_declared_population_allocates_by_the_data(tmp_path):
    from dendrinet.analysis.report import MAX_HEATMAP_NEURONS, store_report

    path = _sparse_store_of_many_declared_neurons(tmp_path / "sparse.h5", n_presentations=50)
    report, peak = _peak_bytes(lambda: store_report(path, tmp_path / "report"))
    # per-neuron rates (2e6 floats: 16 MB) are fine; a presentations x neurons matrix
    # (the rate heatmap: 50 x 2e6 floats, 800 MB) or one object per neuron is not
    assert peak < 120e6, peak
    text = (tmp_path / "report" / "summary.md").read_text()
    assert "| p | 2000000 | 3 |" in text
    assert MAX_HEATMAP_NEURONS < 2_000_000


def test_dense_analysis_results_are_checked_against_the_machine(tmp_path, monkeypatch):
    from dendrinet.config import limits
    from dendrinet.analysis import statistics
    from dendrinet.errors import DendrinetError

    path = _sparse_store_of_many_declared_neurons(tmp_path / "sparse.h5")
    monkeypatch.setattr(limits, "machine_memory_bytes", lambda: 2 * 10 ** 9)
    with SpikeStore(path) as store:
        with pytest.raises(DendrinetError, match=r"spike_counts of 2000000 neurons x 400 bins "
                                                 r"needs about 6.4 GB; this machine has 2.0 GB"):
            _peak_bytes(lambda: statistics.spike_counts(store, "p", bin_ms=0.1))
        with pytest.raises(DendrinetError, match="isi of 2000000 neurons .* needs about 2.0 GB"):
            statistics.isi(store, "p")
        rates = statistics.rates_by_presentation(store, "p")  # 2 x 2e6: 64 MB, allowed
        assert rates.shape == (2, 2_000_000)

"""Tests of dendrinet.datasets: digits, mnist-10k from the shared folder, idx checks,
file search, and downloads through a fake URL opener (never the network)."""

import gzip
import hashlib
import io
import re
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from dendrinet import datasets
from dendrinet.datasets import Dataset, available_datasets, load_dataset, read_idx
from dendrinet.errors import DatasetError, DendrinetError

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IMAGES_GZ = "t10k-images-idx3-ubyte.gz"
LABELS_GZ = "t10k-labels-idx1-ubyte.gz"
OFFICIAL_MD5 = {IMAGES_GZ: "9fb629c4189551a2d022fa330f9573f3",
                LABELS_GZ: "ec29112dd5afa0611ce80d1b7f02629c"}

needs_shared = pytest.mark.skipif(
    not (SHARED_MNIST / IMAGES_GZ).is_file(), reason=f"{SHARED_MNIST} is absent")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Private cache folder, no $DENDRINET_DATA_DIR, empty verification memory,
    and an opener that fails loudly if a test would reach the network."""
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(datasets.checks, "VERIFIED", set())

    def no_network(url, timeout=None):
        raise AssertionError(f"test tried to open {url}")

    monkeypatch.setattr(datasets.fetch, "urlopen", no_network)


def raw_bytes(name):
    return gzip.decompress((SHARED_MNIST / name).read_bytes())


def write_set(folder, images=None, labels=None, gz=False):
    """Write an images/labels pair (raw idx bytes) into ``folder``; default = official."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in ((IMAGES_GZ, images), (LABELS_GZ, labels)):
        content = raw_bytes(name) if content is None else content
        if gz:
            (folder / name).write_bytes(gzip.compress(content, compresslevel=1, mtime=0))
        else:
            (folder / name.removesuffix(".gz")).write_bytes(content)
    return folder


def idx_bytes(array, code=0x08):
    array = np.asarray(array)
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


# ------------------------------------------------------------------- digits


def test_available_datasets_lists_the_four_names():
    assert available_datasets() == ["digits", "mnist-10k", "mnist", "fashion-mnist"]


def test_digits_split_shapes_and_range():
    from sklearn.datasets import load_digits
    reference = load_digits()
    ds = load_dataset("digits")
    assert ds.X_train.shape == (1437, 64) and ds.X_test.shape == (360, 64)
    assert ds.y_train.shape == (1437,) and ds.y_test.shape == (360,)
    assert ds.X_train.dtype == np.float64 and ds.y_train.dtype == np.int64
    assert ds.image_shape == (8, 8) and ds.n_inputs == 64 and ds.n_classes == 10
    both = np.concatenate([ds.X_train, ds.X_test])
    assert both.min() == 0.0 and both.max() == 1.0
    np.testing.assert_array_equal(both * 16, reference.data)  # exact: /16 is exact
    np.testing.assert_array_equal(ds.y_test, reference.target[1437:])
    np.testing.assert_array_equal(np.bincount(np.concatenate([ds.y_train, ds.y_test])),
                                  np.bincount(reference.target))


def test_digits_subset_takes_first_examples():
    full = load_dataset("digits")
    sub = load_dataset("digits", n_train=100, n_test=7)
    assert sub.X_train.shape == (100, 64) and sub.X_test.shape == (7, 64)
    np.testing.assert_array_equal(sub.X_train, full.X_train[:100])
    np.testing.assert_array_equal(sub.y_test, full.y_test[:7])


@pytest.mark.parametrize("bad", [0, -3, 1438, 2.5, True, "10"])
def test_bad_n_train_is_rejected(bad):
    with pytest.raises(DatasetError, match="n_train"):
        load_dataset("digits", n_train=bad)


def test_unknown_dataset_names_the_available_ones():
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'.*mnist-10k"):
        load_dataset("cifar")
    assert issubclass(DatasetError, DendrinetError) and issubclass(DatasetError, ValueError)


def test_dataset_rejects_inconsistent_arrays():
    X = np.zeros((5, 4))
    with pytest.raises(DatasetError, match="y_train has shape"):
        Dataset("toy", X, np.zeros(4, np.int64), X, np.zeros(5, np.int64), (2, 2))
    with pytest.raises(DatasetError, match=r"X_test has shape \(5, 9\), expected \(n, 4\)"):
        Dataset("toy", X, np.zeros(5, np.int64), np.zeros((5, 9)), np.zeros(5, np.int64),
                (2, 2))


# --------------------------------------------------------------- mnist-10k


@needs_shared
def test_mnist_10k_split_matches_the_raw_files():
    ds = load_dataset("mnist-10k")  # found through ../shared/data/mnist
    images_raw, labels_raw = raw_bytes(IMAGES_GZ), raw_bytes(LABELS_GZ)
    labels = np.frombuffer(labels_raw, np.uint8, offset=8)
    images = np.frombuffer(images_raw, np.uint8, offset=16).reshape(10000, 784)
    assert ds.X_train.shape == (8000, 784) and ds.X_test.shape == (2000, 784)
    assert ds.y_train.shape == (8000,) and ds.y_test.shape == (2000,)
    assert ds.image_shape == (28, 28) and ds.n_inputs == 784
    assert ds.y_train[0] == labels_raw[8]  # first label byte after the 8-byte header
    np.testing.assert_array_equal(
        np.bincount(np.concatenate([ds.y_train, ds.y_test]), minlength=10),
        np.bincount(labels, minlength=10))
    np.testing.assert_array_equal(ds.y_test, labels[8000:])
    assert ds.X_train.dtype == np.float64 and ds.y_train.dtype == np.int64
    assert ds.X_train.max() == 1.0 and ds.X_test.max() == 1.0 and ds.X_train.min() == 0.0
    np.testing.assert_array_equal(ds.X_test[0] * 255, images[8000])
    np.testing.assert_array_equal(np.rint(ds.X_train * 255), images[:8000])


@needs_shared
def test_mnist_10k_subset_and_limits():
    sub = load_dataset("mnist-10k", n_train=100, n_test=10)
    full = load_dataset("mnist-10k")
    assert sub.X_train.shape == (100, 784) and sub.X_test.shape == (10, 784)
    np.testing.assert_array_equal(sub.X_test, full.X_test[:10])
    with pytest.raises(DatasetError, match="n_test=2001 is out of range.*2000"):
        load_dataset("mnist-10k", n_test=2001)
    with pytest.raises(DatasetError, match="n_train=8001 .*8000"):
        load_dataset("mnist-10k", n_train=8001)


@needs_shared
def test_data_dir_parent_env_var_and_raw_files(tmp_path, monkeypatch):
    reference = load_dataset("mnist-10k", n_train=50, n_test=50)
    write_set(tmp_path / "parent" / "mnist")  # raw (decompressed) files, parent layout
    ds = load_dataset("mnist-10k", data_dir=tmp_path / "parent", n_train=50, n_test=50)
    np.testing.assert_array_equal(ds.X_train, reference.X_train)
    np.testing.assert_array_equal(ds.y_test, reference.y_test)

    # A recompressed archive (md5 differs, as with Debian packages) is accepted
    # because its content matches the official raw sha256.
    folder = write_set(tmp_path / "regz", gz=True)
    assert hashlib.md5((folder / IMAGES_GZ).read_bytes()).hexdigest() != OFFICIAL_MD5[IMAGES_GZ]
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(folder))
    ds = load_dataset("mnist-10k", n_train=50, n_test=50)
    np.testing.assert_array_equal(ds.X_test, reference.X_test)


@needs_shared
def test_verification_is_remembered_per_size_and_mtime(tmp_path):
    folder = write_set(tmp_path / "d")
    load_dataset("mnist-10k", data_dir=folder, n_train=5, n_test=5)
    labels_path = folder / LABELS_GZ.removesuffix(".gz")
    assert datasets.checks.file_key(labels_path) in datasets.checks.VERIFIED
    # Same size, new content and mtime: the remembered result must not apply.
    changed = bytearray(labels_path.read_bytes())
    changed[8] = (changed[8] + 1) % 10
    labels_path.write_bytes(bytes(changed))
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_dataset("mnist-10k", data_dir=folder, n_train=5, n_test=5)


# -------------------------------------------------------------- corrupt files


def corrupt_case(kind):
    """(images, labels) raw bytes with one defect, and the words the error must hold."""
    images, labels = bytearray(raw_bytes(IMAGES_GZ)), bytearray(raw_bytes(LABELS_GZ))
    if kind == "magic":
        images[2] = 0x05
        return images, labels, "wrong magic number 0x00000503", IMAGES_GZ
    if kind == "truncated":
        return images[:-100], labels, "truncated", IMAGES_GZ
    if kind == "dimensions":
        images[8:16] = np.array([784, 1], ">u4").tobytes()
        return images, labels, r"wrong declared dimensions \(10000, 784, 1\)", IMAGES_GZ
    if kind == "label range":
        labels[8 + 5] = 10
        return images, labels, "1 label values outside 0..9 .first at item 5: 10", LABELS_GZ
    if kind == "count":
        short = idx_bytes(np.frombuffer(labels, np.uint8, offset=8)[:9999])
        return images, short, "count mismatch.*10000 images.*9999 labels", LABELS_GZ
    if kind == "checksum":
        labels[8] = (labels[8] + 1) % 10
        return images, labels, "checksum mismatch", LABELS_GZ
    raise ValueError(kind)


@needs_shared
@pytest.mark.parametrize("kind", ["magic", "truncated", "dimensions", "label range",
                                  "count", "checksum"])
def test_corrupt_files_raise_named_errors(tmp_path, kind):
    images, labels, words, culprit = corrupt_case(kind)
    folder = write_set(tmp_path / kind, bytes(images), bytes(labels))
    with pytest.raises(DatasetError, match=words) as info:
        load_dataset("mnist-10k", data_dir=folder)
    assert culprit.removesuffix(".gz") in str(info.value)


@needs_shared
def test_gz_with_flipped_byte_fails_checksum(tmp_path):
    data = bytearray((SHARED_MNIST / LABELS_GZ).read_bytes())
    data[len(data) // 2] ^= 0xFF
    folder = tmp_path / "flip"
    folder.mkdir()
    shutil.copy(SHARED_MNIST / IMAGES_GZ, folder / IMAGES_GZ)
    (folder / LABELS_GZ).write_bytes(bytes(data))
    bad_md5 = hashlib.md5(bytes(data)).hexdigest()
    with pytest.raises(DatasetError, match=f"{LABELS_GZ}.*md5 {bad_md5} does not match "
                                           f"the official checksum {OFFICIAL_MD5[LABELS_GZ]}"):
        load_dataset("mnist-10k", data_dir=folder)


@needs_shared
def test_truncated_gz_is_reported(tmp_path):
    path = tmp_path / LABELS_GZ
    path.write_bytes((SHARED_MNIST / LABELS_GZ).read_bytes()[:2000])
    with pytest.raises(DatasetError, match="corrupt or truncated gzip"):
        read_idx(path)


def test_read_idx_round_trip_and_structure_errors(tmp_path):
    values = np.arange(-6, 6, dtype=np.int32).reshape(3, 4) * 1000003
    path = tmp_path / "ints.idx"
    path.write_bytes(idx_bytes(values, code=0x0C))
    back = read_idx(path)
    assert back.dtype == np.dtype(np.int32) and back.flags.writeable
    np.testing.assert_array_equal(back, values)
    gz_path = tmp_path / "ints.idx.gz"
    gz_path.write_bytes(gzip.compress(path.read_bytes()))
    np.testing.assert_array_equal(read_idx(gz_path), values)

    path.write_bytes(idx_bytes(values, code=0x0C) + b"\x00\x00")
    with pytest.raises(DatasetError, match=r"has trailing bytes.*need 60 bytes.*has 62"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 8, 1]) + np.array([0], ">u4").tobytes())
    with pytest.raises(DatasetError, match=r"wrong declared dimensions \(0,\)"):
        read_idx(path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(DatasetError, match="too short"):
        read_idx(path)
    with pytest.raises(DatasetError, match="no such file"):
        read_idx(tmp_path / "absent.idx")


# ----------------------------------------------------------- missing files


def test_missing_files_name_every_folder_searched(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", data_dir=empty, download=False)
    message = str(info.value)
    for needle in (str(empty), str(empty / "mnist"), str(tmp_path / "cache" / "mnist"),
                   "train-images-idx3-ubyte.gz", "download=False", "--data-dir",
                   "DENDRINET_DATA_DIR"):
        assert needle in message
    if SHARED_MNIST.is_dir():
        assert f"{SHARED_MNIST.resolve()} (lacks train-images-idx3-ubyte.gz, " \
               "train-labels-idx1-ubyte.gz)" in message
    with pytest.raises(DatasetError, match="data_dir .*nowhere is not an existing folder"):
        load_dataset("mnist", data_dir=tmp_path / "nowhere")


# --------------------------------------------------------------- downloads


class FakeWeb:
    """URL opener serving bytes per URL; records every URL asked for."""

    def __init__(self, pages):
        self.pages, self.asked = pages, []

    def __call__(self, url, timeout=None):
        self.asked.append(url)
        if url not in self.pages:
            raise urllib.error.URLError("name or service not known")
        return io.BytesIO(self.pages[url])


MIRROR_1 = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MIRROR_2 = "https://storage.googleapis.com/cvdf-datasets/mnist/"


@pytest.fixture
def offline_repo(monkeypatch, tmp_path):
    """Point the repository-relative fallback at an empty place, so nothing is found."""
    monkeypatch.setattr(datasets.folders, "REPO_ROOT", tmp_path / "repo")
    return tmp_path / "cache" / "mnist"


@needs_shared
def test_download_verifies_and_caches(monkeypatch, offline_repo):
    good = {n: (SHARED_MNIST / n).read_bytes() for n in (IMAGES_GZ, LABELS_GZ)}
    flipped = bytearray(good[LABELS_GZ])
    flipped[100] ^= 0x01
    web = FakeWeb({MIRROR_1 + IMAGES_GZ: good[IMAGES_GZ],
                   MIRROR_1 + LABELS_GZ: bytes(flipped),  # bad bytes on the first mirror
                   MIRROR_2 + LABELS_GZ: good[LABELS_GZ]})
    monkeypatch.setattr(datasets.fetch, "urlopen", web)
    ds = load_dataset("mnist-10k", n_train=20, n_test=20)
    assert web.asked == [MIRROR_1 + IMAGES_GZ, MIRROR_1 + LABELS_GZ, MIRROR_2 + LABELS_GZ]
    for name in (IMAGES_GZ, LABELS_GZ):
        assert hashlib.md5((offline_repo / name).read_bytes()).hexdigest() == OFFICIAL_MD5[name]
    assert sorted(p.name for p in offline_repo.iterdir()) == [IMAGES_GZ, LABELS_GZ]
    assert ds.y_train[0] == good_label0(good[LABELS_GZ])
    load_dataset("mnist-10k", n_train=20, n_test=20)  # now from the cache
    assert len(web.asked) == 3


def good_label0(gz):
    return gzip.decompress(gz)[8]


@needs_shared
def test_download_with_only_bad_bytes_fails_cleanly(monkeypatch, offline_repo):
    good = (SHARED_MNIST / IMAGES_GZ).read_bytes()
    flipped = bytearray(good)
    flipped[-5] ^= 0x40
    web = FakeWeb({MIRROR_1 + IMAGES_GZ: bytes(flipped), MIRROR_2 + IMAGES_GZ: good + b"x"})
    monkeypatch.setattr(datasets.fetch, "urlopen", web)
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist-10k")
    message = str(info.value)
    assert f"{MIRROR_1 + IMAGES_GZ}: checksum mismatch: md5 " \
           f"{hashlib.md5(bytes(flipped)).hexdigest()}" in message
    assert f"{MIRROR_2 + IMAGES_GZ}: more than the official 1648877 bytes" in message
    assert "connect to the internet" in message and "DENDRINET_DATA_DIR" in message
    assert list(offline_repo.iterdir()) == []  # no partial or unverified file left


def test_no_network_gives_a_clear_error(monkeypatch, offline_repo):
    web = FakeWeb({})
    monkeypatch.setattr(datasets.fetch, "urlopen", web)
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert "files not found: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, " \
           "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" in message
    assert f"Download into {offline_repo} failed" in message
    assert "name or service not known" in message and "--data-dir" in message
    assert web.asked == [MIRROR_1 + "train-images-idx3-ubyte.gz",
                         MIRROR_2 + "train-images-idx3-ubyte.gz"]


# ----------------------------------------------------------- fashion-mnist


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason=f"{FASHION_DIR} is absent "
                    "(apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_from_debian_package():
    ds = load_dataset("fashion-mnist", n_train=300, n_test=200)
    assert ds.X_train.shape == (300, 784) and ds.X_test.shape == (200, 784)
    assert 0.0 <= ds.X_train.min() and ds.X_train.max() <= 1.0
    labels = read_idx(FASHION_DIR / "train-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 6000))  # balanced set
    np.testing.assert_array_equal(ds.y_train, labels[:300])
    test_labels = read_idx(FASHION_DIR / "t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(np.bincount(test_labels), np.full(10, 1000))


# ------------------------------------------------------------------ your own data


def own_arrays(rng, n_train=30, n_test=12, n_pixels=64, n_classes=3):
    return {"X_train": rng.random((n_train, n_pixels)),
            "y_train": np.arange(n_train) % n_classes,
            "X_test": rng.random((n_test, n_pixels)),
            "y_test": np.arange(n_test) % n_classes}


def test_own_npz_loads_with_its_path_as_name(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = own_arrays(rng)
    np.savez(tmp_path / "mine.npz", **arrays)
    monkeypatch.chdir(tmp_path)
    ds = load_dataset("mine.npz", n_train=20, n_test=5)
    assert ds.name == str((tmp_path / "mine.npz").resolve())
    np.testing.assert_array_equal(ds.X_train, arrays["X_train"][:20])
    np.testing.assert_array_equal(ds.y_test, arrays["y_test"][:5])
    assert ds.y_train.dtype == np.int64 and ds.X_train.dtype == np.float64
    assert ds.image_shape == (8, 8) and ds.n_classes == 3
    # the recorded name loads the same data from anywhere; a Path works too
    monkeypatch.chdir(REPO_ROOT)
    again = load_dataset(ds.name, n_train=20, n_test=5)
    np.testing.assert_array_equal(again.X_test, ds.X_test)
    assert load_dataset(tmp_path / "mine.npz").n_train == 30
    with pytest.raises(DatasetError, match=r"n_train=31 is out of range .*mine\.npz"):
        load_dataset(ds.name, n_train=31)


def test_own_npz_scaling_rule_and_image_shapes(tmp_path):
    rng = np.random.default_rng(1)
    arrays = own_arrays(rng, n_pixels=12)
    images = rng.integers(0, 256, (30, 3, 4)).astype(np.uint8)
    np.savez(tmp_path / "u8.npz", **{**arrays, "X_train": images,
                                     "X_test": images[:12].reshape(12, 12)})
    ds = load_dataset(str(tmp_path / "u8.npz"))
    np.testing.assert_array_equal(ds.X_train, images.reshape(30, 12) / 255)
    assert ds.image_shape == (3, 4)  # from the 3-D array
    counts = rng.integers(0, 1001, (30, 12)).astype(np.int16)
    np.savez(tmp_path / "max.npz", **{**arrays, "X_train": counts, "X_test": counts[:12],
                                      "max_value": np.array(1000)})
    ds = load_dataset(str(tmp_path / "max.npz"))
    np.testing.assert_array_equal(ds.X_train, counts / 1000)
    assert ds.image_shape == (1, 12)  # 12 is not a square: one row
    np.savez(tmp_path / "shape.npz", **arrays, image_shape=np.array([2, 6]))
    assert load_dataset(str(tmp_path / "shape.npz")).image_shape == (2, 6)


@pytest.mark.parametrize("change, array, message", [
    ({"y_test": None}, "y_test", r"lacks array\(s\) y_test \(it has: X_test, X_train, y_train\)"),
    ({"X_train": "nan"}, "X_train", r"1 NaN or infinite value\(s\) \(first in example 4\)"),
    ({"X_test": "2"}, "X_test", r"values lie in \[0, 2\], outside \[0, 1\] \(first in "
                                r"example 4\); scale float pixels"),
    ({"X_train": "int"}, "X_train", r"holds int64 values without a stated maximum; store a "
                                    r"scalar max_value"),
    ({"X_train": "int", "max_value": np.array(3)}, "X_train",
     r"values lie in \[5, 5\], outside \[0, max_value = 3\] \(first in example 0\)"),
    ({"y_train": "float"}, "y_train", r"holds float64 labels, expected integers .*store "
                                      r"y.astype\(int\)"),
    ({"y_test": "short"}, "y_test", r"has shape \(11,\), expected \(12,\): one label per "
                                    r"example of X_test"),
    ({"y_train": "negative"}, "y_train", r"1 negative label\(s\) \(first at item 3: -1\)"),
    ({"X_test": "narrow"}, "X_train", r"has 64 pixels per example but X_test has 63"),
    ({"X_train": "1d"}, "X_train", r"has shape \(30,\), expected \(n, n_pixels\)"),
    ({"max_value": np.array([1, 2])}, "max_value", r"must be one positive number"),
    ({"X_train": "text"}, "X_train", r"holds <U1 values, expected numbers"),
])
def test_own_npz_errors_name_the_file_and_the_array(tmp_path, change, array, message):
    arrays = own_arrays(np.random.default_rng(2))
    for key, how in change.items():
        if how is None:
            del arrays[key]
            continue
        value = arrays.get(key)
        if isinstance(how, np.ndarray):
            value = how
        elif how == "nan":
            value[4, 7] = np.nan
        elif how == "2":
            value[4, 0], value[0, 0] = 2.0, 0.0
        elif how == "int":
            value = np.full(value.shape, 5, dtype=np.int64)
        elif how == "float":
            value = value.astype(np.float64)
        elif how == "short":
            value = value[:-1]
        elif how == "negative":
            value[3] = -1
        elif how == "narrow":
            value = value[:, :63]
        elif how == "1d":
            value = value[:, 0]
        elif how == "text":
            value = np.full(value.shape, "a")
        arrays[key] = value
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError) as info:
        load_dataset(str(path))
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    assert array in text
    assert re.search(message, text), text


def test_files_that_are_not_npz_datasets_are_named(tmp_path):
    (tmp_path / "notes.txt").write_text("digits")
    with pytest.raises(DatasetError, match=r"notes\.txt: not an \.npz \(zip\) file; expected "
                                           r"a NumPy \.npz file"):
        load_dataset(str(tmp_path / "notes.txt"))
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(DatasetError, match=r"one\.npy: a single \.npy array"):
        load_dataset(str(tmp_path / "one.npy"))
    arrays = own_arrays(np.random.default_rng(3))
    np.savez(tmp_path / "obj.npz", **arrays, extra=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DatasetError, match=r"obj\.npz: array extra cannot be read without "
                                           r"pickle"):
        load_dataset(str(tmp_path / "obj.npz"))
    with pytest.raises(DatasetError, match=r"absent\.npz: no such file or folder"):
        load_dataset(str(tmp_path / "absent.npz"))
    with pytest.raises(DatasetError, match=r"unknown dataset 'cifar'.* or the path of an "
                                           r"\.npz file"):
        load_dataset("cifar")


def test_a_shipped_name_wins_over_a_folder_of_that_name(tmp_path, monkeypatch):
    (tmp_path / "digits").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_dataset("digits", n_train=5, n_test=5).name == "digits"
    with pytest.raises(DatasetError, match=r"digits: lacks train-images-idx3-ubyte\[\.gz\]"):
        load_dataset("./digits")


def write_idx_folder(folder, rng, n_train=20, n_test=8, shape=(5, 4), gz=("train",)):
    folder.mkdir(parents=True, exist_ok=True)
    content = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        n = n_train if split == "train" else n_test
        content[f"{prefix}-images-idx3-ubyte"] = idx_bytes(
            rng.integers(0, 256, (n, *shape)).astype(np.uint8))
        content[f"{prefix}-labels-idx1-ubyte"] = idx_bytes(
            (np.arange(n) % 4).astype(np.uint8))
    for name, data in content.items():
        if name.startswith(gz):
            (folder / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / name).write_bytes(data)
    return content


def test_own_idx_folder_raw_or_gz(tmp_path):
    content = write_idx_folder(tmp_path / "mine", np.random.default_rng(4))
    ds = load_dataset(str(tmp_path / "mine"), n_test=6)
    images = np.frombuffer(content["train-images-idx3-ubyte"], np.uint8, offset=16)
    np.testing.assert_array_equal(ds.X_train, images.reshape(20, 20) / 255)
    np.testing.assert_array_equal(ds.y_test, np.arange(6) % 4)
    assert (ds.image_shape, ds.n_classes, ds.n_test) == ((5, 4), 4, 6)
    assert ds.name == str((tmp_path / "mine").resolve())


def test_own_idx_folder_errors_name_the_files(tmp_path):
    rng = np.random.default_rng(5)
    folder = tmp_path / "mine"
    write_idx_folder(folder, rng)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match=r"mine: lacks t10k-labels-idx1-ubyte\[\.gz\]; a "
                                           r"dataset folder needs the four idx files"):
        load_dataset(str(folder))
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(7, np.uint8)))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte: has shape \(7,\), "
                                           r"expected \(8,\): one label per example of "
                                           r".*t10k-images-idx3-ubyte"):
        load_dataset(str(folder))
    (folder / "t10k-labels-idx1-ubyte").write_bytes(
        idx_bytes(np.array([0, 1, -2, 0, 0, 0, 0, 0], np.int8), code=0x09))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte: 1 negative label\(s\) "
                                           r"\(first at item 2: -2\)"):
        load_dataset(str(folder))
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(8, np.uint8)))
    (folder / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((8, 4, 5), np.uint8)))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz holds images of shape "
                                           r"\(5, 4\) but .*t10k-images-idx3-ubyte of shape "
                                           r"\(4, 5\)"):
        load_dataset(str(folder))
    (folder / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((8, 5, 4), np.uint8))[:-3])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte: file size does not match "
                                           r"its header \(truncated\)"):
        load_dataset(str(folder))


# ------------------------------------------------------- sizes checked first


@pytest.fixture
def traced():
    """tracemalloc running (numpy reports its arrays to it); yields a function giving
    the peak of traced memory so far, in bytes."""
    import tracemalloc

    tracemalloc.start()
    yield lambda: tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()


def _small_machine(monkeypatch, n_bytes):
    from dendrinet.config import limits

    monkeypatch.setattr(limits, "machine_memory_bytes", lambda: n_bytes)


def test_npz_header_claiming_a_huge_array_is_refused_before_allocation(tmp_path, traced):
    np.savez(tmp_path / "ok.npz", **own_arrays(np.random.default_rng(6)))
    data = (tmp_path / "ok.npz").read_bytes()
    old = b"'shape': (30, 64), }"
    start = data.index(old)
    end = data.index(b"\n", start)  # the header is padded with spaces up to here
    forged = b"'shape': (1000000000, 784), }".ljust(end - start)
    (tmp_path / "forged.npz").write_bytes(data[:start] + forged + data[end:])
    with pytest.raises(DatasetError, match=r"forged\.npz: corrupt \.npz file: array X_train: "
                                           r"its header declares shape \(1000000000, 784\) of "
                                           r"float64 \(6,272.0 GB\), the file holds 15,360 "
                                           r"bytes of data"):
        load_dataset(str(tmp_path / "forged.npz"))
    assert traced() < 10**7


def _large_npz(path, compressed: bool):
    """20,000 uint8 images of 784 pixels (15.7 MB as pixels, 125 MB as float64)."""
    rng = np.random.default_rng(7)
    arrays = {"X_train": rng.integers(0, 2, (20_000, 784), dtype=np.uint8) * 255,
              "y_train": np.arange(20_000) % 10,
              "X_test": rng.integers(0, 256, (10, 784), dtype=np.uint8),
              "y_test": np.arange(10) % 10}
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return arrays


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_subset_is_read_and_converted_alone(tmp_path, traced, compressed):
    arrays = _large_npz(tmp_path / "large.npz", compressed)
    start = traced()
    ds = load_dataset(str(tmp_path / "large.npz"), n_train=500)
    np.testing.assert_array_equal(ds.X_train, arrays["X_train"][:500] / 255)
    assert ds.X_train.dtype == np.float64 and ds.y_train.shape == (500,)
    assert ds.n_classes == 10
    # neither the 15.7 MB of pixels nor their 125 MB as float64 were allocated whole
    assert traced() - start < 20_000 * 784 / 2


def test_npz_beyond_memory_is_refused_before_reading(tmp_path, monkeypatch, traced):
    _large_npz(tmp_path / "large.npz", compressed=True)
    _small_machine(monkeypatch, 10**8)
    with pytest.raises(DatasetError, match=r"large\.npz: reading 20,000 training and 10 test "
                                           r"examples of 784 pixels needs about 0.16 GB; this "
                                           r"machine has 0.1 GB"):
        load_dataset(str(tmp_path / "large.npz"))
    assert load_dataset(str(tmp_path / "large.npz"), n_train=1000).n_train == 1000


def _gzip_stream(header: bytes, n_zeros: int) -> bytes:
    """A gzip file of ``header`` then ``n_zeros`` zero bytes, compressed in pieces."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(header)]
    block = bytes(1 << 20)
    for start in range(0, n_zeros, len(block)):
        parts.append(packer.compress(block[:min(len(block), n_zeros - start)]))
    return b"".join(parts) + packer.flush()


def test_idx_gz_expanding_beyond_its_header_is_not_decompressed_whole(tmp_path, traced):
    header = bytes([0, 0, 8, 1]) + np.array([1000], ">u4").tobytes()
    path = tmp_path / "bomb-idx1-ubyte.gz"
    path.write_bytes(_gzip_stream(header, 200 << 20))  # 200 MB of zeros in 0.2 MB
    with pytest.raises(DatasetError, match=r"bomb-idx1-ubyte\.gz: file size does not match its "
                                           r"header \(has trailing bytes\): dimensions "
                                           r"\(1000,\) need 1008 bytes"):
        read_idx(path)
    assert traced() < 10**7
    path.write_bytes(_gzip_stream(header, 999))  # a complete stream, one byte short
    with pytest.raises(DatasetError, match=r"\(truncated\): dimensions \(1000,\) need 1008 "
                                           r"bytes, the idx data has 1007"):
        read_idx(path)


def test_idx_header_declaring_more_than_memory_is_refused(tmp_path, monkeypatch, traced):
    _small_machine(monkeypatch, 10**9)
    header = bytes([0, 0, 8, 3]) + np.array([10**6, 1000, 1000], ">u4").tobytes()
    path = tmp_path / "huge-idx3-ubyte.gz"
    path.write_bytes(_gzip_stream(header, 10))
    with pytest.raises(DatasetError, match=r"huge-idx3-ubyte\.gz: the uint8 data of dimensions "
                                           r"\(1000000, 1000, 1000\) its header declares needs "
                                           r"about 1,000.0 GB; this machine has 1.0 GB"):
        read_idx(path)
    folder = tmp_path / "mine"
    write_idx_folder(folder, np.random.default_rng(8))
    (folder / "train-images-idx3-ubyte.gz").write_bytes(path.read_bytes())
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz: the uint8 data"):
        load_dataset(str(folder))
    assert traced() < 10**7


def test_an_official_file_larger_than_the_official_one_is_not_read(tmp_path, traced):
    folder = tmp_path / "big"
    folder.mkdir()
    with open(folder / IMAGES_GZ.removesuffix(".gz"), "wb") as fh:
        fh.truncate(2 * 7_840_016)  # sparse: twice the official raw file, nothing on disk
    (folder / LABELS_GZ.removesuffix(".gz")).write_bytes(b"\0" * 100)
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte: 15,680,032 bytes, more "
                                           r"than the official t10k-images-idx3-ubyte\.gz "
                                           r"holds decompressed \(7,840,016 bytes\)"):
        load_dataset("mnist-10k", data_dir=folder)
    assert traced() < 10**6

"""Image data sets dendrinet trains on, and a validating reader for idx files.

Four data sets, described in ``data/manifest.toml`` (file names, item counts,
sizes and checksums of every official file):

``"digits"``
    scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download).
    Split in file order: images 0-1436 train, images 1437-1796 test.
``"mnist-10k"``
    The official 10,000-image MNIST test files, split in file order: images
    0-7999 train, images 8000-9999 test (the project's offline benchmark).
``"mnist"``
    MNIST, 60,000 training and 10,000 test images; downloaded if not found.
``"fashion-mnist"``
    Fashion-MNIST, 60,000 + 10,000 images in the same idx format; also found in
    ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``).

Files are searched, in order, in the ``data_dir`` argument, ``$DENDRINET_DATA_DIR``
(each either the folder holding the files or a parent holding ``mnist/`` or
``fashion-mnist/``), the cache directory (``$DENDRINET_CACHE`` or
``~/.cache/dendrinet``, under ``mnist/`` or ``fashion-mnist/``) and the data set's
fallback folders from the manifest (``../shared/data/mnist`` next to the repository,
searched only when dendrinet runs from a source checkout, and
``/usr/share/datasets/fashion-mnist``). The first folder holding every needed file
wins; each file may be the official ``.gz`` archive or the decompressed idx file.

Every file is checked the first time it is used: idx structure (magic number,
dimensions, size), item count, label range and checksum (md5 and sha256 of the
official archive, or sha256 of the decompressed content for raw files and for
archives recompressed by a packager). The checksum result is remembered per
(path, size, modification time) for the life of the process.

Your own data
-------------
Instead of a name, :func:`load_dataset` takes the path of an existing file or folder
(a shipped name wins over a folder of the same name in the working directory; write
``./mnist`` for the folder):

``data.npz``
    A NumPy ``.npz`` file (``numpy.savez``) with four arrays ``X_train``, ``y_train``,
    ``X_test``, ``y_test``. ``X_*``: shape ``(n, n_pixels)`` or ``(n, rows, cols)``,
    finite pixel intensities. Scaling rule: if the file holds a scalar ``max_value``,
    every ``X_*`` is divided by it (values must lie in ``[0, max_value]``); otherwise
    ``uint8`` arrays are divided by 255, ``bool`` arrays are 0/1, float arrays must
    already lie in ``[0, 1]``, and other integer arrays are refused (store
    ``max_value``). ``y_*``: integer labels ``>= 0``, shape ``(n,)`` matching ``X_*``;
    the data set has ``max(label) + 1`` classes. Optional ``image_shape`` (two
    integers, rows and columns) for 2-D ``X_*``; otherwise a square image if
    ``n_pixels`` is a square number, else one row.
a folder of idx files
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``
    and ``t10k-labels-idx1-ubyte``, each raw or gzip-compressed (``.gz``), in the MNIST
    idx format: ``uint8`` images (divided by 255) or float images in ``[0, 1]``, integer
    labels ``>= 0``. No checksums (they are not official files).

Every problem (a missing array or file, a wrong shape, NaN, values out of range, float
or negative labels, image and label counts that differ) raises :class:`DatasetError`
naming the file and the array. The data set's ``name`` is the absolute path, which is
what a run folder records, so ``--resume`` and ``dendrinet evaluate`` find it again.

Sizes are checked before anything is read: the header of each ``.npz`` array (against
the sizes in the zip directory) and of each idx file, and the memory the examples used
need, raw and as float64, against this machine's (:mod:`dendrinet.config.limits`). With
``n_train``/``n_test`` only those first examples of an ``.npz`` are read (decompressed),
checked and converted. An idx file, raw or ``.gz`` (every file, official ones too), is
read as a stream up to the size its header declares: a file holding more or less than
that is refused.

The package, one concept a module
---------------------------------
:mod:`~dendrinet.datasets.registry`
    the named data sets (the manifest) and :class:`Dataset`;
:mod:`~dendrinet.datasets.folders`
    where their files are looked for;
:mod:`~dendrinet.datasets.fetch`
    downloads into the cache;
:mod:`~dendrinet.datasets.checks`
    checks of official files (structure, counts, labels, checksums);
:mod:`~dendrinet.datasets.idx`
    the idx reader;
:mod:`~dendrinet.datasets.user_files`
    a user's ``.npz`` file or idx folder;
:mod:`~dendrinet.datasets.loading`
    :func:`load_dataset`, which puts them together.
"""


from dendrinet.datasets import checks, fetch, folders  # noqa: F401 (tests patch them)
from dendrinet.datasets.fetch import DOWNLOAD_TIMEOUT_S
from dendrinet.datasets.folders import (CACHE_ENV, DATA_DIR_ENV, default_cache_dir,
                                        first_data_dir)
from dendrinet.datasets.idx import read_idx
from dendrinet.datasets.loading import load_dataset
from dendrinet.datasets.registry import (MANIFEST_NAME, N_CLASSES, Dataset, available_datasets,
                                         reads_data_files)
from dendrinet.datasets.user_files import USER_ARRAYS, USER_IDX_FILES

__all__ = [
    "Dataset",
    "available_datasets",
    "default_cache_dir",
    "first_data_dir",
    "load_dataset",
    "read_idx",
    "reads_data_files",
    "CACHE_ENV",
    "DATA_DIR_ENV",
    "DOWNLOAD_TIMEOUT_S",
    "MANIFEST_NAME",
    "N_CLASSES",
    "USER_ARRAYS",
    "USER_IDX_FILES",
]

"""Random shifts of the training images (the protocol's ``[train] shift_pixels``).

Every epoch, each training image moves by a whole number of pixels drawn uniformly from
``-s .. s`` along each axis (``s = shift_pixels``), independently per image; the pixels
that enter at the edge are 0. One pixel in each direction gives nine positions, one of
them the image as it is. The network sees a slightly different training set every
epoch, so it cannot fit the exact pixel positions of 60,000 digits: full MNIST,
784-500-100-10 in the rate engine, 20 epochs, test error 1.86 % without shifts and
1.33 % with ``shift_pixels = 1`` (BENCHMARKS.md, "Shifted training images"). The test
images are never moved.

The shifts of epoch ``k`` come from their own random stream,
``SeedSequence([seed, k, 0xA06])`` (:func:`shift_rng`): they do not touch the example
order or the spikes, so a run without shifts is unchanged, and a resumed run draws the
same shifts as an uninterrupted one.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from dendrinet.errors import DatasetError

__all__ = ["EpochImages", "shift_rng", "shifted_images", "check_shiftable"]

_SHIFT_STREAM = 0xA06  # tags the shifts' stream among a seed's streams


def shift_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of the shifts of ``epoch`` (1-based) of a run with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), _SHIFT_STREAM]))


def check_shiftable(image_shape, max_shift: int, what: str) -> None:
    """Refuse shifts that cannot apply: features that are not images (a side of 1 pixel)
    or shifts as large as the image. ``what`` names the data in the message."""
    rows, cols = (int(v) for v in image_shape)
    if min(rows, cols) < 2:
        raise DatasetError(
            f"[train] shift_pixels = {max_shift} moves images, but {what} holds "
            f"{rows * cols} features in a row (image shape {rows} x {cols}), not images: "
            f"set shift_pixels = 0 for such data")
    if max_shift >= min(rows, cols):
        raise DatasetError(
            f"[train] shift_pixels = {max_shift} would move {what}'s {rows} x {cols} "
            f"images out of their frame: use fewer pixels than the shorter side")


def shifted_images(X: np.ndarray, image_shape, max_shift: int,
                   rng: np.random.Generator) -> np.ndarray:
    """A copy of ``X`` (rows are images of ``image_shape``, row-major) with each image
    moved by ``(dr, dc)``, each drawn uniformly from ``-max_shift .. max_shift`` (rows
    first, then columns, one per image); pixels moved in from outside are 0.

    An image moved by ``(dr, dc)`` has at ``(r, c)`` the pixel of the original at
    ``(r + dr, c + dc)``.
    """
    rows, cols = (int(v) for v in image_shape)
    n = X.shape[0]
    images = X.reshape(n, rows, cols)
    d_row = rng.integers(-max_shift, max_shift + 1, n)
    d_col = rng.integers(-max_shift, max_shift + 1, n)
    out = np.zeros_like(images)
    for dr in range(-max_shift, max_shift + 1):
        for dc in range(-max_shift, max_shift + 1):
            which = np.flatnonzero((d_row == dr) & (d_col == dc))
            if which.size == 0:
                continue
            # destination rows r take source rows r + dr, where both lie in the frame
            dst_r, src_r = slice(max(0, -dr), rows - max(0, dr)), slice(max(0, dr), rows + min(0, dr))
            dst_c, src_c = slice(max(0, -dc), cols - max(0, dc)), slice(max(0, dc), cols + min(0, dc))
            out[which, dst_r, dst_c] = images[which, src_r, src_c]
    return out.reshape(n, rows * cols)


class EpochImages:
    """The training examples of each epoch: the images as they are, or shifted and then
    coded (``coding``: the run's :class:`~dendrinet.datasets.input_coding.InputCoding`,
    so on-off and population codings see the moved image).

    Parameters
    ----------
    X_raw : array, shape (n, rows * cols)
        The training images before input coding.
    coded : array
        ``coding.apply(X_raw)``, given to every epoch when there are no shifts.
    image_shape : (int, int)
    max_shift : int
        ``[train] shift_pixels``; 0 for none.
    coding : callable
        ``X -> rates`` (the input coding's ``apply``).
    seed : int
        The run's seed (:func:`shift_rng`).
    """

    def __init__(self, X_raw: np.ndarray, coded: np.ndarray, image_shape, max_shift: int,
                 coding: Callable[[np.ndarray], np.ndarray], seed: int, what: str = "the data"):
        if max_shift:
            check_shiftable(image_shape, max_shift, what)
        self.X_raw, self.coded, self.image_shape = X_raw, coded, tuple(image_shape)
        self.max_shift, self.coding, self.seed = int(max_shift), coding, int(seed)

    def __call__(self, epoch: int) -> np.ndarray:
        if not self.max_shift:
            return self.coded
        return self.coding(shifted_images(self.X_raw, self.image_shape, self.max_shift,
                                          shift_rng(self.seed, epoch)))

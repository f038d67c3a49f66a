"""Fit the codebook of linear predictors of :mod:`zarr_unicompress.runtime.predict` on a volume.

Minimum-rate-predictor style design on sampled tokens (T x T voxels of a slice, open loop on
the original voxels): start from classes cut by the tokens' residual energy under one global
least-squares predictor, then alternate (a) a least-squares fit of each class's predictor on
its tokens (reweighted towards the L1 / log cost that the coder pays) and (b) the reassignment
of each token to the predictor of least cost sum log2(1 + |r|). The first ``classes_2d``
predictors weigh only the in-slice taps (a chunk's first slice, and 2D data); the others all
the taps. NumPy only, seconds on a 250**3 volume.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import UnsupportedInput
from ..runtime.predict.model import PredictorModel
from ..runtime.predict.taps import MAX_CLASSES, MAX_COEF, N_TAPS, N_TAPS_2D, SHIFT, TAP_OFFSETS


def sample_tokens(volume: np.ndarray, token: int, n_tokens: int, rng: np.random.Generator,
                  need_3d: bool) -> tuple[np.ndarray, np.ndarray]:
    """(targets (n, T*T) float64, taps (n, T*T, N_TAPS) float64) of ``n_tokens`` random tokens
    lying wholly inside ``volume`` (Z, Y, X) with all their taps (z >= 2 where ``need_3d``)."""
    nz, ny, nx = volume.shape
    z0 = 2 if need_3d else 0
    if nz <= z0 or ny < token + 6 or nx < token + 6:
        raise UnsupportedInput(f"volume {volume.shape} is too small to fit predictors on tokens of {token}")
    zs = rng.integers(z0, nz, n_tokens)
    ys = rng.integers(3, ny - token - 2, n_tokens)
    xs = rng.integers(3, nx - token - 2, n_tokens)
    dy, dx = np.meshgrid(np.arange(token), np.arange(token), indexing="ij")
    zz = zs[:, None]
    yy = ys[:, None] + dy.ravel()[None]
    xx = xs[:, None] + dx.ravel()[None]
    targets = volume[zz, yy, xx].astype(np.float64)
    taps = np.empty(targets.shape + (N_TAPS,))
    for t, (oz, oy, ox) in enumerate(TAP_OFFSETS):
        taps[..., t] = volume[np.maximum(zz + oz, 0), yy + oy, xx + ox]
    if not need_3d:
        taps[..., N_TAPS_2D:] = 0.0
    return targets, taps


def _lstsq(a: np.ndarray, b: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    if w is not None:
        a = a * w[:, None]
        b = b * w
    gram = a.T @ a
    gram += np.eye(len(gram)) * (1e-6 * np.trace(gram) / len(gram) + 1e-9)
    return np.linalg.solve(gram, a.T @ b)


def _cost(targets: np.ndarray, taps: np.ndarray, coefs: np.ndarray) -> np.ndarray:
    """(n_tokens, K) sum over the token of log2(1 + |r|)."""
    pred = taps @ coefs.T  # (n, T*T, K)
    return np.log2(1.0 + np.abs(targets[:, :, None] - pred)).sum(1)


def fit_codebook(targets: np.ndarray, taps: np.ndarray, n_classes: int, n_taps: int, iterations: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Float coefficients (n_classes, N_TAPS) (zeros beyond ``n_taps``) by alternating
    classification and (reweighted) least squares on the sampled tokens."""
    n, v = targets.shape
    a_all = taps[..., :n_taps]
    coefs = np.zeros((n_classes, N_TAPS))
    coefs[:, :n_taps] = _lstsq(a_all.reshape(-1, n_taps), targets.ravel(), None)
    energy = np.log(1.0 + np.abs(targets - a_all @ coefs[0, :n_taps]).mean(1))
    order = np.argsort(energy, kind="stable")
    labels = np.empty(n, np.int64)
    labels[order] = np.arange(n) * n_classes // n
    for _ in range(iterations):
        for k in range(n_classes):
            members = np.flatnonzero(labels == k)
            if len(members) < 2:  # an empty class: split off the worst-served tokens
                members = rng.choice(n, max(2, n // (4 * n_classes)), replace=False)
            a = a_all[members].reshape(-1, n_taps)
            b = targets[members].ravel()
            c = _lstsq(a, b, None)
            r = np.abs(b - a @ c)
            c = _lstsq(a, b, 1.0 / np.sqrt(r + 1.0))  # one reweighting step towards the log cost
            coefs[k, :n_taps] = c
        labels = np.argmin(_cost(targets, taps, coefs), axis=1)
    return coefs


def quantize(coefs: np.ndarray) -> np.ndarray:
    """Fixed-point int32 coefficients (scaled by 2**SHIFT, rounded, clipped to MAX_COEF)."""
    return np.clip(np.rint(coefs * (1 << SHIFT)), -MAX_COEF, MAX_COEF).astype(np.int32)


def fit_predictors(volume: np.ndarray | Sequence[np.ndarray], classes_2d: int = 8, classes_3d: int = 8,
                   token: int = 16, n_tokens: int = 1500, iterations: int = 6, seed: int = 0) -> PredictorModel:
    """A :class:`PredictorModel` fitted on ``volume`` (Z, Y, X) integers, or on several volumes
    (``n_tokens`` sampled from each): ``classes_2d`` in-slice predictors and ``classes_3d``
    predictors over all taps (none where every volume has fewer than 3 slices)."""
    volumes = [np.asarray(volume)] if isinstance(volume, np.ndarray) or hasattr(volume, "shape") else \
        [np.asarray(v) for v in volume]
    for vol in volumes:
        if vol.ndim != 3 or vol.dtype.kind not in "iu":
            raise UnsupportedInput(f"fit_predictors takes 3D integer volumes, got {vol.shape} {vol.dtype}")
    if not (1 <= classes_2d and 0 <= classes_3d and classes_2d + classes_3d <= MAX_CLASSES):
        raise UnsupportedInput(f"fit_predictors: 1 <= classes_2d and classes_2d + classes_3d <= {MAX_CLASSES}")
    rng = np.random.default_rng(seed)
    samples = [sample_tokens(v, token, n_tokens, rng, need_3d=False) for v in volumes]
    t2, a2 = np.concatenate([t for t, _ in samples]), np.concatenate([a for _, a in samples])
    parts = [fit_codebook(t2, a2, classes_2d, N_TAPS_2D, iterations, rng)]
    deep = [v for v in volumes if v.shape[0] >= 3]
    if classes_3d and deep:
        samples = [sample_tokens(v, token, n_tokens, rng, need_3d=True) for v in deep]
        t3, a3 = np.concatenate([t for t, _ in samples]), np.concatenate([a for _, a in samples])
        parts.append(fit_codebook(t3, a3, classes_3d, N_TAPS, iterations, rng))
    return PredictorModel(quantize(np.concatenate(parts)), classes_2d, token)


def fit_predictors_on_chunks(volume: Any, chunks: tuple[int, int, int], max_chunks: int = 16,
                             seed: int = 0) -> PredictorModel | None:
    """A :class:`PredictorModel` fitted on up to ``max_chunks`` random chunks of ``chunks``
    (z, y, x) voxels read from ``volume`` (numpy, zarr or dask; 3D integers), as
    :func:`zarr_unicompress.fit` samples them; None where no chunk is large enough (at least
    22 x 22 voxels in a slice) or all are constant (the coder then uses the default model)."""
    shape = tuple(int(s) for s in volume.shape)
    rng = np.random.default_rng(seed)
    origins = list(itertools.product(*(range(0, s, c) for s, c in zip(shape, chunks))))
    rng.shuffle(origins)
    blocks = []
    for origin in origins[:max_chunks]:
        block = np.asarray(volume[tuple(slice(o, min(o + c, s)) for o, c, s in zip(origin, chunks, shape))])
        if min(block.shape[1:]) >= 22 and block.min() != block.max():
            blocks.append(block)
    if not blocks:
        return None
    n_tokens = max(64, 3000 // len(blocks))
    deep = sum(b.shape[0] >= 3 for b in blocks)
    return fit_predictors(blocks, classes_3d=8 if deep else 0, n_tokens=n_tokens, seed=seed)

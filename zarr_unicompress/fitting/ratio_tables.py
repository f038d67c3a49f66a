"""Fit the ratio mode's context tables (:mod:`zarr_unicompress.runtime.entropy.context_tables`)
on a volume: the family of K integer tables that codes the array's (band, context) histograms
in the fewest bits.

Sampled chunks are coded as coder 3 codes them (z levels chosen, the quantiser steps that fill
the budgets of ``ratios``); every (chunk, step, band, context) histogram of the coded values
is one sample. Lloyd clustering under cross-entropy: start from K groups cut by the share of
zeros, then alternate (a) each table = the smoothed mean of its histograms, (b) each histogram
to the table that codes it in the fewest bits. The tables are then rounded to integers >= 1
summing to 2**PRECISION. NumPy only, seconds per chunk.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..runtime.coders.ratio import ZERO_BLOCK_MIN_VOXELS
from ..runtime.coders.ratio3d import Ratio3DCoder
from ..runtime.coders.ratio_ctx import _FIXED_BYTES, band_layout
from ..runtime.entropy.context_kernels import ALPHABET, ALPHABET_HALF, N_CONTEXTS
from ..runtime.entropy.context_tables import MAX_TABLES, ContextTables
from ..runtime.entropy.contexts import fill_scratch, scratch_band
from ..runtime.entropy.rans_kernels import PRECISION
from ..runtime.inr.model import RuntimeModel
from ..runtime.transform.wavelet_residual import levels_for

#: ratios whose steps the tables are fitted at (the range the ratio mode is measured over).
FIT_RATIOS = (4.0, 8.0, 16.0, 32.0, 64.0)
#: tables in a fitted family.
N_TABLES = 32
#: pseudo-count added to every symbol of a table when it is re-estimated.
SMOOTHING = 0.02


def chunk_histograms(chunk: np.ndarray, model: RuntimeModel, ratios: Sequence[float] = FIT_RATIOS) -> np.ndarray:
    """The (band, context) histograms (n, ALPHABET) int64 (non-empty rows only) of ``chunk``'s
    coded values at the steps that fill ``nbytes / ratio`` for each ratio (estimated), as
    :class:`~zarr_unicompress.runtime.coders.ratio_ctx.RatioContextCoder` codes them; empty where
    that coder would not code the chunk."""
    if chunk.size < ZERO_BLOCK_MIN_VOXELS or levels_for(chunk.shape) == 0 or chunk.min() == chunk.max():
        return np.zeros((0, ALPHABET), np.int64)
    lo, hi = int(chunk.min()), int(chunk.max())
    middle = float(np.sqrt(min(ratios) * max(ratios)))
    choice = Ratio3DCoder()._choose(chunk, lo, hi, chunk.nbytes / middle, model, "table", keep_2d=True)
    if choice is None:
        return np.zeros((0, ALPHABET), np.int64)
    z_levels, _, units, estimator, step = choice
    shapes, parents = band_layout(chunk.shape, levels_for(chunk.shape), z_levels)
    rows = []
    for ratio in ratios:
        bits = 8 * (chunk.nbytes / ratio - _FIXED_BYTES)
        step = estimator.step_for(max(bits, 8.0), hi - lo, guess=step)
        groups = units.groups(step)
        scratches: list[np.ndarray] = []
        for b, (shape, parent) in enumerate(zip(shapes, parents)):
            flags, values = groups[2 * b], groups[2 * b + 1]
            scratch = scratch_band(shape)
            contexts = fill_scratch(flags, values, scratch, None if parent is None else scratches[parent])
            scratches.append(scratch)
            codes = np.clip(values, -ALPHABET_HALF, ALPHABET_HALF).astype(np.int64) + ALPHABET_HALF
            hist = np.bincount(contexts * ALPHABET + codes, minlength=N_CONTEXTS * ALPHABET).reshape(-1, ALPHABET)
            rows.append(hist[hist.sum(axis=1) > 0])
    return np.concatenate(rows) if rows else np.zeros((0, ALPHABET), np.int64)


def fit_tables(histograms: np.ndarray, n_tables: int = N_TABLES, iterations: int = 20) -> ContextTables:
    """The family of ``n_tables`` integer tables that codes ``histograms`` (n, ALPHABET) in about
    the fewest bits (Lloyd clustering under cross-entropy, see the module docstring)."""
    hist = np.asarray(histograms, np.float64)
    hist = hist[hist.sum(axis=1) > 0]
    if not 1 <= n_tables <= MAX_TABLES:
        raise ValueError(f"n_tables must be 1 .. {MAX_TABLES}, got {n_tables}")
    if len(hist) == 0:
        return ContextTables(_integer_tables(np.full((1, ALPHABET), 1.0 / ALPHABET)))
    n_tables = min(n_tables, len(hist))
    zeros = hist[:, ALPHABET_HALF] / hist.sum(axis=1)
    labels = np.empty(len(hist), np.int64)
    labels[np.argsort(zeros, kind="stable")] = np.arange(len(hist)) * n_tables // len(hist)
    probs = np.empty((n_tables, ALPHABET))
    cost = np.zeros(len(hist))
    for _ in range(iterations):
        for k in range(n_tables):
            members = hist[labels == k]
            if len(members) == 0:  # an empty table: take the histogram coded worst
                members = hist[[int(np.argmax(cost))]]
            total = members.sum(axis=0) / members.sum() + SMOOTHING / ALPHABET
            probs[k] = total / total.sum()
        cost = -(hist @ np.log2(probs).T)  # (n, K) bits
        new = np.argmin(cost, axis=1)
        cost = cost[np.arange(len(hist)), new] / np.maximum(hist.sum(axis=1), 1)
        if np.array_equal(new, labels):
            break
        labels = new
    return ContextTables(_integer_tables(probs))


def _integer_tables(probs: np.ndarray) -> np.ndarray:
    """Frequencies (K, ALPHABET) int64 >= 1 summing to 2**PRECISION per row, near ``probs``."""
    spare = (1 << PRECISION) - probs.shape[1]
    scaled = probs / probs.sum(axis=1, keepdims=True) * spare
    freq = 1 + np.floor(scaled).astype(np.int64)
    for row, rest in zip(freq, scaled - np.floor(scaled)):
        left = (1 << PRECISION) - int(row.sum())
        row[np.argsort(-rest, kind="stable")[:left]] += 1
    return freq


def fit_ratio_tables(volume: Any, chunks: tuple[int, int, int], model: RuntimeModel, max_chunks: int = 8,
                     seed: int = 0, n_tables: int = N_TABLES) -> ContextTables | None:
    """Tables fitted on up to ``max_chunks`` random chunks of ``volume`` (z, y, x) with chunk
    shape ``chunks``, or None where no chunk can be context coded (chunks below
    ZERO_BLOCK_MIN_VOXELS voxels, constant chunks)."""
    shape = tuple(int(s) for s in volume.shape)
    origins = list(itertools.product(*(range(0, s, c) for s, c in zip(shape, chunks))))
    np.random.default_rng(seed).shuffle(origins)
    rows = []
    for origin in origins[:max_chunks]:
        block = np.ascontiguousarray(volume[tuple(slice(o, min(o + c, s)) for o, c, s in zip(origin, chunks, shape))])
        rows.append(chunk_histograms(block, model))
    hist = np.concatenate(rows) if rows else np.zeros((0, ALPHABET), np.int64)
    return fit_tables(hist, n_tables) if len(hist) else None

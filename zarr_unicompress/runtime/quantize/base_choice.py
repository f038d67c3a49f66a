"""Ratio mode's choice of base: the INR prediction or one flat value, whichever codes smaller.

In: a chunk (z, y, x), its coding units with the flat base and the quantiser step the flat
base needs; out: whether the INR base wins, judged on a sample of token rows (estimated bits,
indices and frequency tables included).
"""

from __future__ import annotations

import numpy as np

from ..entropy.estimate_bits import group_bits
from ..entropy.groups import symbol_counts
from ..inr.model import RuntimeModel
from ..inr.prediction import codebook_indices, prediction, prediction_slices
from ..inr.tokens import token_grid
from .band_units import BandUnits
from .rate_control import SizeEstimator

#: the base is chosen on one row of tokens (along z) in this many (all rows of chunks with
#: fewer than 3): the transform works per slice, so these slices have exactly the coefficients
#: they have in the whole chunk, and whole token rows have exactly their indices.
_BASE_CHOICE_ROW_STRIDE = 8
#: ... but at least this many tokens (all rows where the chunk has fewer): the entropy and the
#: table of fewer indices say too little of the chunk's (a (9, 45, 30) chunk's row holds 24
#: tokens, and its indices' cost per token was a third of the whole chunk's).
_BASE_CHOICE_MIN_TOKENS = 1024
#: coefficients sampled per candidate base for that choice (the two sizes differ by far more
#: than the error of so small a sample on EM data; see RESULTS.md, "flat base wins").
_BASE_CHOICE_SAMPLES = 1 << 16
#: the base choice first looks at the slice at this offset in each sampled token row ...
_BASE_CHOICE_FIRST_SLICE = 1
#: ... and takes the flat base where the INR base costs this many times its bits there or more:
#: on 320 token rows of ISBI chunks ((30, 512, 512), (16, 256, 256), (8, 128, 128); ratios
#: 4-64; benchmarks/bench_base_choice.py) that slice's INR / flat ratio lay within -0.06..+0.10
#: of its row's (mean +0.009, sd 0.027), and the slice decided 50 % (ratio 4) to 100 % (ratio
#: 64) of the rows, all as the rows did. A row that the INR base wins by less than about 2 %
#: can thus get the flat base from its slice, losing at most those 2 %.
_BASE_CHOICE_FIRST_SLICE_MARGIN = 1.08


def inr_base_wins(model: RuntimeModel, vol: np.ndarray, lo: int, hi: int, flat_units: BandUnits, levels: int,
                  step: float, mode: str) -> bool:
    """Whether the INR prediction as base codes a subset of the token rows in fewer bits than the
    flat base does, indices included, both quantised with ``step`` (intensity units; the step
    the flat base needs for the whole chunk's budget): the sizes fall with the step, so the
    base that is smaller at that step also affords the finer step within the budget.

    ``flat_units`` are the whole chunk's coding units with the flat base; the transform works
    per slice, so those of the sampled slices are the subset's exactly. Every frequency table
    (the indices' and both residuals') counts with the subset's share of the chunk, since a
    chunk writes each table once. The subset holds at least _BASE_CHOICE_MIN_TOKENS tokens.

    The INR base is first judged on one slice of each sampled row
    (:func:`base_bits` of those slices); where it costs _BASE_CHOICE_FIRST_SLICE_MARGIN
    times the flat base's bits there or more, the flat base wins without transforming the
    other slices, else the whole rows decide.
    """
    tz = model.token_shape[0]
    depth = vol.shape[0]
    grid = token_grid(vol.shape, model.token_shape)
    rows, tokens_per_row = grid[0], grid[1] * grid[2]
    n = max(1, -(-rows // _BASE_CHOICE_ROW_STRIDE), -(-_BASE_CHOICE_MIN_TOKENS // tokens_per_row))
    picked = range(rows) if n >= rows or rows < 3 else np.unique(np.linspace(0, rows - 1, n).round().astype(np.intp))
    zs = np.concatenate([np.arange(r * tz, min((r + 1) * tz, depth)) for r in picked])
    sample = vol[zs]
    indices = codebook_indices(model, sample, lo, hi, mode)
    index_counts = symbol_counts(indices)[1]
    # position in zs of the slice at offset _BASE_CHOICE_FIRST_SLICE in each row (its last
    # slice where the row is shorter)
    row_starts = np.flatnonzero(np.r_[True, zs[1:] // tz != zs[:-1] // tz])
    row_ends = np.r_[row_starts[1:], len(zs)]
    first = np.minimum(row_starts + _BASE_CHOICE_FIRST_SLICE, row_ends - 1)
    if len(first) < len(zs):
        pred = prediction_slices(model, indices, sample.shape, lo, hi, vol.dtype, first)
        inr_bits, flat_bits = base_bits(sample[first], pred, zs[first], depth, flat_units, levels, step,
                                         index_counts, len(first) / len(zs))
        if inr_bits >= _BASE_CHOICE_FIRST_SLICE_MARGIN * flat_bits:
            return False
    pred = prediction(model, indices, sample.shape, lo, hi, vol.dtype)
    inr_bits, flat_bits = base_bits(sample, pred, zs, depth, flat_units, levels, step, index_counts, 1.0)
    return inr_bits < flat_bits


def base_bits(sample: np.ndarray, pred: np.ndarray, zs: np.ndarray, depth: int, flat_units: BandUnits,
               levels: int, step: float, index_counts: np.ndarray, index_share: float) -> tuple[float, float]:
    """Estimated bits of the slices ``zs`` (ascending) of a chunk ``depth`` slices deep with the
    INR base (``sample`` (len(zs), y, x) minus its prediction ``pred``, plus ``index_share`` of
    the bits of indices with ``index_counts``) and with the flat base (``flat_units`` of the
    whole chunk), both quantised with ``step``; tables count with the slices' share of the
    chunk."""
    share = len(zs) / depth
    flat_bits = SizeEstimator(flat_units.slices(zs, depth), _BASE_CHOICE_SAMPLES, share).bits(step)
    inr_units = BandUnits.of_signal(sample, levels, pred, flat_units.zero_blocks)
    inr_bits = SizeEstimator(inr_units, _BASE_CHOICE_SAMPLES, share).bits(step)
    indices_bits = group_bits(index_counts, index_share, table_weight=share)
    return inr_bits + indices_bits, flat_bits


def index_bits(indices: np.ndarray | None) -> float:
    """Estimated size (bits) of the coded indices and their table; 0 for the flat base."""
    return 0.0 if indices is None else group_bits(symbol_counts(indices)[1])

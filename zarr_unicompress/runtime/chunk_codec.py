"""Encode one chunk to a UniCompress stream and decode it back.

A chunk (uint8/uint16/int8/int16, 3D; 1D and 2D chunks are treated as (1, ..., n)) is
normalised to [0, 1] with its own intensity range [lo, hi], split into tokens, and each
token is mapped to one codebook index. The shared SIREN turns (index, voxel position in
token) into a predicted intensity through the model's fixed-point table. Optionally, the
prediction error is quantised with step 2E+1 (so every voxel is within E of the input) and
entropy coded per context class; a context class is a group of codewords with similar
residual magnitude in this chunk, so contexts depend on integers only.

Quality modes (exactly one applies):

* ``max_error=E`` (int >= 0): every voxel satisfies |x - x'| <= E.
* ``ratio=R`` (float > 1): the residual is coded in the wavelet domain (see
  :mod:`.wavelet_residual`) with the smallest quantiser step whose stream fits ``nbytes / R``.
  The prediction is the INR or, where that codes smaller, one flat value (then the stream
  holds no indices). No per-voxel bound; PSNR is what this mode optimises.
* neither: indices only, i.e. the pure INR reconstruction (highest ratio, lowest PSNR).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..bitstream import (
    FLAG_CONSTANT,
    FLAG_FLAT_BASE,
    FLAG_RANS,
    FLAG_RESIDUAL,
    FLAG_WAVELET,
    FLAG_ZERO_BLOCKS,
    HEADER_SIZE,
    ChunkHeader,
    ChunkSections,
    dtype_code,
    pack_chunk,
    unpack_chunk,
)
from ..errors import ChunkCorrupt, ModelMismatch, UnsupportedInput
from . import numba_support
from .codeword_search import nearest_table_entries, search_device
from .compiled_synthesis import synthesize_chunk
from .entropy import GroupDecoder, encode_groups, symbol_counts
from .estimate_bits import group_bits
from .model import RuntimeModel
from .rate_control import MIN_STEP, BandUnits, SizeEstimator, next_step
from .tokens import from_tokens, normalized_tokens, to_tokens, token_grid
from .wavelet_residual import (
    ZERO_BLOCK,
    WaveletParams,
    band_shapes,
    block_grid,
    from_blocks,
    levels_for,
    synthesize,
)

#: number of residual context classes per chunk (fewer for small chunks).
MAX_CONTEXT_CLASSES = 8
INDEX_SEARCH_MODES = ("table", "encoder")


@dataclass(frozen=True)
class QualitySettings:
    """How much error the codec may introduce; see the module docstring for the modes.

    Attributes:
        max_error: bound on |x - x'| in intensity units, or None.
        ratio: target compression ratio (raw bytes / stored bytes), or None.
        index_search: "table" picks, per token, the codeword whose SIREN output is closest to
            the token (least squares); "encoder" uses the student encoder and the nearest
            codeword, as in the paper.
    """

    max_error: int | None = None
    ratio: float | None = None
    index_search: str = "table"

    def __post_init__(self) -> None:
        if self.max_error is not None and self.ratio is not None:
            raise UnsupportedInput("give either max_error or ratio, not both")
        if self.max_error is not None and (isinstance(self.max_error, bool) or
                                           not isinstance(self.max_error, (int, np.integer)) or
                                           not 0 <= self.max_error < 2**31):
            raise UnsupportedInput(f"max_error must be an integer >= 0 (intensity units), got {self.max_error!r}")
        if self.ratio is not None and (isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float))
                                       or not 1 < self.ratio < math.inf):
            raise UnsupportedInput(f"ratio must be a number > 1, got {self.ratio!r}")
        if self.index_search not in INDEX_SEARCH_MODES:
            raise UnsupportedInput(f"index_search must be one of {INDEX_SEARCH_MODES}, got {self.index_search!r}")


def as_3d(chunk: np.ndarray) -> np.ndarray:
    """View a 1D/2D/3D chunk as 3D by prepending axes of length 1; refuse other ranks and dtypes."""
    arr = np.asarray(chunk)
    dtype_code(arr.dtype)
    if not arr.dtype.isnative:  # e.g. '>u2' from a big-endian Zarr array: the same values, native order
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.ndim == 0 or arr.ndim > 3:
        raise UnsupportedInput(f"UniCompress encodes 1D to 3D chunks; got a {arr.ndim}D chunk of shape {arr.shape}")
    if arr.size == 0:
        raise UnsupportedInput("cannot encode an empty chunk")
    return arr.reshape((1,) * (3 - arr.ndim) + arr.shape)


def scaled_table(model: RuntimeModel, lo: int, hi: int) -> np.ndarray:
    """Predicted intensities for every (codeword, voxel in token): (K, V) int32, in [lo, hi]."""
    span = hi - lo
    return (lo + (model.table.astype(np.int64) * span + 32767) // 65535).astype(np.int32)


def select_indices(model: RuntimeModel, tokens01: np.ndarray, mode: str) -> np.ndarray:
    """Codeword index per token (N,) int64 for normalised tokens (N, V) float32 (the "table"
    search runs where :func:`~.codeword_search.set_search_device` says)."""
    if mode == "encoder":
        return model.encoder_indices(tokens01)
    return nearest_table_entries(model.digest, model.table_float, tokens01)


def codebook_indices(model: RuntimeModel, vol: np.ndarray, lo: int, hi: int, mode: str) -> np.ndarray:
    """The codebook index (n_tokens,) int64 of each token (:func:`~.tokens.to_tokens`, edge-padded)
    of a 3D chunk whose intensities span [lo, hi] (lo < hi).

    The "table" search in NumPy runs on a few token rows (along z) at a time
    (:data:`_SEARCH_BATCH_TOKENS` tokens or more): each batch's normalised tokens are searched
    while they are in cache, instead of all of them written out first (a (30, 512, 512) chunk's
    are 32 MiB of float32; 28 -> 22 ms for its tokens and search). A row's tokens are a slab of
    tz slices, the last slab edge-padded as the whole chunk's last row is: the same tokens and
    indices. A device search (batches of 65536 tokens) and the network encoder take them all."""
    if mode != "table" or search_device() is not None:
        return select_indices(model, normalized_tokens(vol, model.token_shape, lo, hi), mode)
    tz = model.token_shape[0]
    rows, gy, gx = token_grid(vol.shape, model.token_shape)
    per_row = gy * gx
    rows_per_batch = max(1, -(-_SEARCH_BATCH_TOKENS // per_row))
    indices = np.empty(rows * per_row, np.int64)
    for first in range(0, rows, rows_per_batch):
        last = min(rows, first + rows_per_batch)
        tokens01 = normalized_tokens(vol[first * tz : last * tz], model.token_shape, lo, hi)
        indices[first * per_row : last * per_row] = nearest_table_entries(model.digest, model.table_float, tokens01)
    return indices


#: tokens searched at a time by :func:`codebook_indices` (at least; whole token rows): 4 MiB of
#: float32 tokens of 256 voxels, the batch of :mod:`.codeword_search`'s NumPy products.
_SEARCH_BATCH_TOKENS = 4096


def inr_prediction(model: RuntimeModel, vol: np.ndarray, lo: int, hi: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Codebook indices (n_tokens,) int64 and the INR prediction (z, y, x) of a 3D chunk whose
    intensities span [lo, hi] (lo < hi), in the chunk's dtype (the prediction lies in [lo, hi]:
    a quarter of the memory traffic of int32 for uint8 chunks)."""
    indices = codebook_indices(model, vol, lo, hi, mode)
    return indices, prediction(model, indices, vol.shape, lo, hi, vol.dtype)


def prediction(model: RuntimeModel, indices: np.ndarray, shape: tuple[int, int, int], lo: int, hi: int,
               dtype: np.dtype) -> np.ndarray:
    """The INR prediction (z, y, x) in ``dtype`` of a chunk of ``shape`` whose intensities span
    [lo, hi] and whose tokens have codebook ``indices``."""
    table = scaled_table(model, lo, hi).astype(dtype)
    return from_tokens(table[indices], shape, model.token_shape)


def prediction_slices(model: RuntimeModel, indices: np.ndarray, shape: tuple[int, int, int], lo: int, hi: int,
                      dtype: np.dtype, zs: np.ndarray) -> np.ndarray:
    """Slices ``zs`` (int array) of the INR prediction (len(zs), y, x) in ``dtype`` of a chunk of
    ``shape`` whose tokens have codebook ``indices`` (as :func:`inr_prediction` gives them):
    only those slices' voxels of each token are looked up."""
    tz, ty, tx = model.token_shape
    _, gy, gx = token_grid(shape, model.token_shape)
    plane = ty * tx
    table = scaled_table(model, lo, hi).astype(dtype)
    slices = []
    for z in zs:
        row, k = divmod(int(z), tz)
        row_indices = indices[row * gy * gx : (row + 1) * gy * gx]
        slices.append(from_tokens(table[:, k * plane : (k + 1) * plane][row_indices], (1, *shape[1:]), (1, ty, tx)))
    return np.concatenate(slices)


def encode_chunk(model: RuntimeModel, chunk: np.ndarray, quality: QualitySettings) -> bytes:
    """Encode a chunk to bytes. Raises :class:`UnsupportedInput` for unsupported dtypes or shapes."""
    vol = as_3d(chunk)
    shape = vol.shape
    digest = bytes.fromhex(model.digest)[:16]
    lo, hi = int(vol.min()), int(vol.max())
    if lo == hi:
        header = ChunkHeader(FLAG_CONSTANT, vol.dtype, shape, digest, lo, hi, None, 0, 0, 0)
        return pack_chunk(header, ChunkSections(b"", b"", b""))
    if quality.ratio is not None:
        return _encode_wavelet_residual(model, vol, lo, hi, digest, quality)
    indices = codebook_indices(model, vol, lo, hi, quality.index_search)
    groups: list[np.ndarray] = [indices]
    class_map = b""
    flags = 0
    if quality.max_error is not None:
        flags |= FLAG_RESIDUAL
        q_tokens, energy = _quantized_residuals(model, vol, indices, lo, hi, quality.max_error)
        classes = context_classes(indices, energy, model.codebook_size, vol.size)
        class_map = classes.astype(np.uint8).tobytes()
        groups += _tokens_by_class(q_tokens, classes[indices], int(classes.max()) + 1)
    tables, words, uses_rans = encode_groups(groups)
    flags |= FLAG_RANS if uses_rans else 0
    header = ChunkHeader(flags, vol.dtype, shape, digest, lo, hi, quality.max_error, 0, 0, 0)
    return pack_chunk(header, ChunkSections(tables, class_map, words))


def _tokens_by_class(q_tokens: np.ndarray, token_class: np.ndarray, n_classes: int) -> list[np.ndarray]:
    """Per class 0..n_classes-1, the rows of ``q_tokens`` (n_tokens, voxels) whose
    ``token_class`` (n_tokens,) it is, in token order, flattened: one stable sort of the
    classes and one gather of the rows (instead of a masked copy per class)."""
    order = np.argsort(token_class, kind="stable")
    ends = np.cumsum(np.bincount(token_class, minlength=n_classes))[:-1] * q_tokens.shape[1]
    return np.split(q_tokens[order].reshape(-1), ends)


def _encode_wavelet_residual(model: RuntimeModel, vol: np.ndarray, lo: int, hi: int, digest: bytes,
                             quality: QualitySettings) -> bytes:
    """Ratio mode: pick the base (INR or flat) and the quantiser step that fit ``vol.nbytes / ratio``."""
    levels = levels_for(vol.shape)
    budget = vol.nbytes / quality.ratio
    zero_blocks = vol.size >= ZERO_BLOCK_MIN_VOXELS
    base_indices = None
    index_bits = 0.0
    units, flat = BandUnits.about_mean(vol, levels, zero_blocks, lo, hi)
    estimator = SizeEstimator(units)

    def payload_bits(size_bytes: float) -> float:
        return 8 * (size_bytes - _FIXED_BYTES) - index_bits

    step = estimator.step_for(payload_bits(_AIM * budget), hi - lo)
    if _inr_base_wins(model, vol, lo, hi, units, levels, step, quality.index_search):
        base_indices, pred = inr_prediction(model, vol, lo, hi, quality.index_search)
        units = BandUnits.of_signal(vol, levels, pred, zero_blocks)
        estimator = SizeEstimator(units)
        index_bits = _index_bits(base_indices)
        step = estimator.step_for(payload_bits(_AIM * budget), hi - lo, guess=step)

    def pack(step: float) -> bytes:
        return _pack_wavelet(vol, units, base_indices, flat, np.float32(step), levels, lo, hi, digest)

    # The sample estimate is within about 1 % of the real size: aim at _AIM x budget, accept
    # [_ACCEPT_LOW, 1.0] x budget, else correct the estimate by the measured size (second try)
    # and by a secant in log-log (later tries), keeping the largest stream that fits.
    best, best_fit = None, None
    tried: list[tuple[float, int]] = []
    for _ in range(8):
        stream = pack(step)
        tried.append((step, len(stream)))
        if len(stream) <= budget and (best_fit is None or len(stream) > len(best_fit)):
            best_fit = stream
        if best is None or abs(len(stream) - budget) < abs(len(best) - budget):
            best = stream
        if _ACCEPT_LOW * budget <= len(stream) <= budget or step > 64 * (hi - lo):
            break
        if step <= np.float32(MIN_STEP) and len(stream) <= budget:
            break  # the finest step fits: a finer one would only code the float rounding noise
        if len(tried) == 1:
            bias = max(payload_bits(len(stream)), 1.0) / max(estimator.bits(step), 1.0)
            step = estimator.step_for(payload_bits(_AIM * budget) / bias, hi - lo, guess=step)
            if step == tried[0][0]:
                step = next_step(tried, budget)
        else:
            step = next_step(tried, budget)
        step = max(step, float(np.float32(MIN_STEP)))
    return best_fit if best_fit is not None else best


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
#: the first try aims at this share of the budget: on EM chunks of 2**20 voxels and up, coded
#: sizes land within -0.9..+0.7 % of the estimate (63 check points, v0.2.9 in RESULTS.md), so
#: within [_ACCEPT_LOW, 1.0] x budget; so does the second try, with the estimate corrected by
#: the first stream's size.
_AIM = 0.9925
#: a stream of at least this share of the budget (and at most all of it) is kept: on the 63
#: check points of benchmarks/bench_rate_control.py, 63 streams packed (65 with 0.985, which
#: gained at most 0.5 % of the bits, about 0.02 dB, on the two repacked).
_ACCEPT_LOW = 0.98


def _inr_base_wins(model: RuntimeModel, vol: np.ndarray, lo: int, hi: int, flat_units: BandUnits, levels: int,
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
    (:func:`_base_bits` of those slices); where it costs _BASE_CHOICE_FIRST_SLICE_MARGIN
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
        inr_bits, flat_bits = _base_bits(sample[first], pred, zs[first], depth, flat_units, levels, step,
                                         index_counts, len(first) / len(zs))
        if inr_bits >= _BASE_CHOICE_FIRST_SLICE_MARGIN * flat_bits:
            return False
    pred = prediction(model, indices, sample.shape, lo, hi, vol.dtype)
    inr_bits, flat_bits = _base_bits(sample, pred, zs, depth, flat_units, levels, step, index_counts, 1.0)
    return inr_bits < flat_bits


def _base_bits(sample: np.ndarray, pred: np.ndarray, zs: np.ndarray, depth: int, flat_units: BandUnits,
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
    index_bits = group_bits(index_counts, index_share, table_weight=share)
    return inr_bits + index_bits, flat_bits


def _index_bits(indices: np.ndarray | None) -> float:
    """Estimated size (bits) of the coded indices and their table; 0 for the flat base."""
    return 0.0 if indices is None else group_bits(symbol_counts(indices)[1])


#: header, checksum and wavelet parameter bytes of a wavelet-residual stream.
_FIXED_BYTES = HEADER_SIZE + 4 + 9


def _pack_wavelet(vol: np.ndarray, units: BandUnits, indices: np.ndarray | None, flat: int, step: np.float32,
                  levels: int, lo: int, hi: int, digest: bytes) -> bytes:
    """Stream of the bands (in their coding ``units``) quantised with ``step``."""
    groups = ([] if indices is None else [indices]) + units.groups(float(step))
    tables, words, uses_rans = encode_groups(groups)
    flags = FLAG_WAVELET | (FLAG_ZERO_BLOCKS if units.zero_blocks else 0) | (FLAG_FLAT_BASE if indices is None else 0)
    flags |= FLAG_RANS if uses_rans else 0
    header = ChunkHeader(flags, vol.dtype, vol.shape, digest, lo, hi, None, 0, 0, 0)
    params = WaveletParams(float(step), levels, flat)
    return pack_chunk(header, ChunkSections(tables, params.pack(), words))


#: chunks of at least this many voxels code their bands in zero blocks: 0.5-2.3 % fewer bits
#: from (16, 256, 256) up on EM data; smaller chunks code every coefficient, since their
#: mostly non-zero bands and padded edge blocks make the flags cost more (up to 8 %).
ZERO_BLOCK_MIN_VOXELS = 1 << 17


#: chunks spanning at most this many intensity levels quantise their ``max_error`` residuals
#: by a table of magnitudes (8 bytes per level) instead of a division per voxel.
_MAGNITUDE_TABLE_MAX = 1 << 17


def _quantized_residuals(model: RuntimeModel, vol: np.ndarray, indices: np.ndarray, lo: int, hi: int,
                         max_error: int) -> tuple[np.ndarray, np.ndarray]:
    """The quantised residual symbols (n_tokens, voxels per token) of a chunk against its
    tokens' table entries (0 for the voxels edge padding adds) and each token's sum of |q|
    (n_tokens,) int64; in one compiled pass where numba runs (same values, in int16 where
    they fit: half the memory of int32 for the passes that follow), else in NumPy (int32)."""
    table = scaled_table(model, lo, hi)
    compiled = numba_support.loops("voxel_loops") if max_error < 1 << 30 else None
    if compiled is not None:
        # |r| <= span (voxels and table entries lie in [lo, hi]), so |q| <= largest
        span, divisor = hi - lo, 2 * max_error + 1
        largest = (span + max_error) // divisor
        symbol_type = np.int16 if largest <= np.iinfo(np.int16).max else np.int32
        q_tokens = np.empty((len(indices), table.shape[1]), symbol_type)
        energy = np.empty(len(indices), np.int64)
        # the quantised magnitudes of every |r| as a table where the span is small (uint8 /
        # uint16 data), else the loop divides
        magnitudes = ((np.arange(span + 1, dtype=np.int64) + max_error) // divisor
                      if span <= _MAGNITUDE_TABLE_MAX else np.empty(0, np.int64))
        compiled.quantized_residuals(vol, indices, table, max_error, np.array(model.token_shape, np.int64),
                                     magnitudes, q_tokens, energy)
        return q_tokens, energy
    residual = to_tokens(vol, model.token_shape).astype(np.int32)
    residual -= table[indices]
    q_tokens = quantize_residual(residual, max_error)
    _zero_padding(q_tokens, vol.shape, model.token_shape)
    return q_tokens, np.abs(q_tokens).sum(1)


def quantize_residual(residual: np.ndarray, max_error: int) -> np.ndarray:
    """Quantise integer residuals (int32, |r| < 2**17) with step 2E+1 so that |r - q * (2E+1)| <= E.

    q = sign(r) * floor((|r| + E) / (2E+1)), returned as int32 of the residual's shape; computed
    in int32 where |r| + E cannot overflow it (E < 2**30), else in int64.
    """
    work = residual if max_error < 1 << 30 else residual.astype(np.int64)
    mag = np.abs(work)
    mag += max_error
    mag //= 2 * max_error + 1
    mag *= np.sign(work)
    return mag.astype(np.int32, copy=False)


def _zero_padding(q_tokens: np.ndarray, shape: tuple[int, int, int], token_shape: tuple[int, int, int]) -> None:
    """Set the residual symbols of the voxels that edge padding added (beyond ``shape``) to 0."""
    if all(s % t == 0 for s, t in zip(shape, token_shape)):
        return
    inside = to_tokens(np.ones(shape, np.bool_), token_shape, pad_mode="constant")
    q_tokens[~inside] = 0


def context_classes(indices: np.ndarray, token_energy: np.ndarray, codebook_size: int, n_voxels: int) -> np.ndarray:
    """Group codewords into context classes by mean |q| of their tokens in this chunk
    (``token_energy`` (n_tokens,) int64: each token's sum of |q|).

    Returns (codebook_size,) int64 class per codeword, classes numbered 0.. by increasing
    residual magnitude, each holding about the same number of tokens.
    """
    n_classes = int(np.clip(n_voxels // 8192, 1, MAX_CONTEXT_CLASSES))
    counts = np.bincount(indices, minlength=codebook_size)
    energy = np.bincount(indices, weights=token_energy, minlength=codebook_size)
    mean = energy / np.maximum(counts, 1)
    order = np.argsort(mean, kind="stable")
    cum = np.cumsum(counts[order]) / max(1, counts.sum())
    cls_sorted = np.minimum((cum * n_classes - 1e-9).astype(np.int64), n_classes - 1)
    cls_sorted = np.maximum(cls_sorted, 0)
    classes = np.empty(codebook_size, dtype=np.int64)
    classes[order] = cls_sorted
    # renumber so that the used classes are 0..n-1 without gaps
    _, classes = np.unique(classes, return_inverse=True)
    return classes.astype(np.int64)


def decode_chunk(
    model: RuntimeModel,
    buf: bytes | memoryview,
    expected_shape: tuple[int, ...] | None = None,
    expected_dtype: np.dtype | None = None,
) -> np.ndarray:
    """Decode a stream to a 3D array; check it against the model and the expected shape/dtype.

    Raises :class:`ChunkCorrupt` for damaged streams and :class:`ModelMismatch` when the chunk
    was written with another model. Ratio-mode chunks are reconstructed in NumPy, or on the
    torch device that :func:`.decode_device.set_decode_device` names.
    """
    opened = open_chunk(model, buf, expected_shape, expected_dtype)
    if isinstance(opened, CodedWavelet):
        from .decode_device import decode_device

        device = decode_device()
        if device is not None:
            from .torch_decode import decode_chunks  # imports torch

            return decode_chunks(model, None, device, opened=[opened])[0]
        return reconstruct_wavelet(model, opened)
    return opened


@dataclass(frozen=True)
class CodedWavelet:
    """A ratio-mode chunk after entropy decoding, before its inverse transform.

    Attributes:
        header: the chunk's header (shape (z, y, x), dtype, intensity range [lo, hi]).
        params: quantiser step (intensity units), levels and flat base value.
        indices: codebook indices (n_tokens,) int64 of the INR base, or None for the flat base.
        bands: per band in coding order, the quantised coefficients as
            (block flags (n_blocks,) bool, values of the flagged blocks (n_flagged * ZERO_BLOCK**2,))
            for streams with zero blocks, else (None, the whole band (z * y * x,) in C order);
            values are integers of the narrowest signed dtype that holds the band's symbols.
    """

    header: ChunkHeader
    params: WaveletParams
    indices: np.ndarray | None
    bands: list[tuple[np.ndarray | None, np.ndarray]]


def open_chunk(
    model: RuntimeModel,
    buf: bytes | memoryview,
    expected_shape: tuple[int, ...] | None = None,
    expected_dtype: np.dtype | None = None,
) -> np.ndarray | CodedWavelet:
    """All of :func:`decode_chunk` except a ratio-mode chunk's inverse transform: the chunk
    (z, y, x) in its dtype, or for ratio-mode streams its :class:`CodedWavelet` (whose
    reconstruction :func:`reconstruct_wavelet` does in NumPy, and
    :mod:`.torch_decode` on a torch device). Every check of the stream happens here, so both
    reconstructions refuse the same damaged streams (except coefficients that overflow when
    dequantised, which the reconstruction finds)."""
    header, sections = unpack_chunk(buf)
    if header.digest != bytes.fromhex(model.digest)[:16]:
        raise ModelMismatch(
            f"chunk was encoded with model {header.digest.hex()}..., the codec config holds model "
            f"{model.digest[:32]}...; the chunk belongs to another array or the metadata was replaced"
        )
    if expected_dtype is not None and np.dtype(expected_dtype) != header.dtype:
        raise ChunkCorrupt(f"chunk holds dtype {header.dtype}, the array expects {np.dtype(expected_dtype)}")
    if expected_shape is not None:
        want = (1,) * (3 - len(expected_shape)) + tuple(expected_shape)
        if want != header.shape:
            raise ChunkCorrupt(f"chunk holds shape {header.shape}, the array expects {tuple(expected_shape)}")
    info = np.iinfo(header.dtype)
    if not (info.min <= header.lo <= header.hi <= info.max):
        raise ChunkCorrupt(f"chunk intensity range [{header.lo}, {header.hi}] is invalid for {header.dtype}")
    if header.is_constant:
        if header.lo != header.hi or header.words_len or header.tables_len:
            raise ChunkCorrupt("constant chunk has a range or payload; the chunk is damaged")
        return np.full(header.shape, header.lo, dtype=header.dtype)
    decoder = GroupDecoder(sections.tables, sections.words, header.uses_rans)
    if header.has_wavelet_residual:
        out: np.ndarray | CodedWavelet = _read_wavelet_residual(model, header, sections, decoder)
    else:
        out = _decode_voxel_residual(model, header, sections, decoder)
    decoder.finish()
    return out


def _decode_indices(model: RuntimeModel, header: ChunkHeader, decoder: GroupDecoder) -> np.ndarray:
    """Codebook indices (n_tokens,) int64 of the chunk, range-checked."""
    n_tokens = math.prod(token_grid(header.shape, model.token_shape))
    rows = min(model.codebook_size, model.table.shape[0])  # equal for a checked model; the table bounds the gathers
    indices = decoder.next(n_tokens, magnitude_limit=rows)
    if indices.min() < 0 or indices.max() >= rows:
        raise ChunkCorrupt(f"chunk holds codebook indices outside 0..{rows - 1}; it is damaged")
    return indices


def _decode_voxel_residual(model: RuntimeModel, header: ChunkHeader, sections: ChunkSections,
                           decoder: GroupDecoder) -> np.ndarray:
    """Indices-only and max_error streams: the chunk (z, y, x) in its dtype, clipped to [lo, hi].

    Works in int32 (half the memory traffic of int64) unless the bound is so large that
    q * (2E+1) could leave int32; then in int64.
    """
    # A bound beyond the span decodes as the span does (any q != 0 lands outside [lo, hi] and
    # is clipped either way): so a forged bound of 2**31 - 1 cannot ask for int64 work arrays.
    bound = None if header.max_error is None else min(header.max_error, header.hi - header.lo)
    wide = bound is not None and bound >= 1 << 30
    work = np.int64 if wide else np.int32
    indices = _decode_indices(model, header, decoder)
    table = scaled_table(model, header.lo, header.hi).astype(work)
    voxels_per_token = table.shape[1]
    token_class = np.empty(0, np.int64)
    residuals: list[np.ndarray] = []  # per class, in class order: slices of ``symbols``
    symbols = np.empty(0, work)
    starts = np.zeros(1, np.int64)  # where each class's residuals start in ``symbols``
    step = work(2 * bound + 1) if bound is not None else work(1)
    if header.has_residual:
        if header.max_error is None or len(sections.classes) != model.codebook_size:
            raise ChunkCorrupt("chunk residual section lacks its bound or its class map; it is damaged")
        classes = np.frombuffer(sections.classes, dtype=np.uint8).astype(np.int64)
        if decoder.n_groups != int(classes.max()) + 2:
            raise ChunkCorrupt("chunk class map and symbol groups disagree; the chunk is damaged")
        token_class = classes[indices]
        limit = None if wide else -(-(1 << 17) // int(step)) + 1  # |q| of a real chunk stays below this
        # the symbols in int16 where the bound allows (max_error >= 2): half the memory of int32
        narrow = np.int16 if limit is not None and limit <= np.iinfo(np.int16).max + 1 else work
        sizes = np.bincount(token_class, minlength=decoder.n_groups - 1) * voxels_per_token
        ends = np.cumsum(sizes)
        starts = ends - sizes
        symbols = np.empty(int(ends[-1]), narrow)  # all classes in one buffer: no concatenation
        for start, end in zip(starts.tolist(), ends.tolist()):
            part = symbols[start:end]
            residuals.append(decoder.next(len(part), dtype=narrow, magnitude_limit=limit, out=part))
    compiled = None if wide else numba_support.loops("voxel_loops")
    if compiled is not None:
        out = np.empty(header.shape, header.dtype)
        compiled.tokens_to_chunk(indices, table, token_class, symbols, starts,
                                 int(step), header.lo, header.hi, np.array(model.token_shape, np.int64), out)
        return out
    pred_tokens = table[indices]
    for c, q in enumerate(residuals):
        pred_tokens[token_class == c] += q.reshape(-1, voxels_per_token).astype(work) * step
    np.clip(pred_tokens, header.lo, header.hi, out=pred_tokens)
    return np.ascontiguousarray(from_tokens(pred_tokens, header.shape, model.token_shape), dtype=header.dtype)


def _read_wavelet_residual(model: RuntimeModel, header: ChunkHeader, sections: ChunkSections,
                           decoder: GroupDecoder) -> CodedWavelet:
    """Ratio-mode streams: the base and the quantised bands, checked, not yet transformed."""
    params = WaveletParams.unpack(sections.classes)
    if params.levels != levels_for(header.shape):
        raise ChunkCorrupt(f"chunk declares {params.levels} wavelet levels where its shape needs "
                           f"{levels_for(header.shape)}; the chunk is damaged")
    indices = None
    if header.has_flat_base:
        if not header.lo <= params.flat_value <= header.hi:
            raise ChunkCorrupt("chunk flat base lies outside its intensity range; the chunk is damaged")
    else:
        indices = _decode_indices(model, header, decoder)
    bands: list[tuple[np.ndarray | None, np.ndarray]] = []
    for shape in band_shapes(header.shape, params.levels):
        if header.has_zero_blocks:
            nonzero = decoder.next(math.prod(block_grid(shape)), dtype=np.uint8, magnitude_limit=2)
            nonzero = nonzero.view(np.bool_)
            bands.append((nonzero, decoder.next_narrow(np.count_nonzero(nonzero) * ZERO_BLOCK**2)))
        else:  # streams written before zero blocks (v0.2.0-v0.2.4)
            bands.append((None, decoder.next_narrow(math.prod(shape))))
    return CodedWavelet(header, params, indices, bands)


def reconstruct_wavelet(model: RuntimeModel, coded: CodedWavelet) -> np.ndarray:
    """NumPy reconstruction of a ratio-mode chunk: base (INR or flat) plus the inverse wavelet
    of the dequantised bands.

    Returns the chunk (z, y, x) in its dtype: rounded, clipped to [lo, hi]. Base, rounding and
    clipping are applied to each slab of the inverse transform while it is in cache. Raises
    :class:`ChunkCorrupt` where the dequantised coefficients overflow float32. Where numba
    runs, :func:`.compiled_synthesis.synthesize_chunk` does all of it after the base (same
    voxels).
    """
    header, params = coded.header, coded.params
    if coded.indices is None:
        base: np.float32 | np.ndarray = np.float32(params.flat_value)
    else:
        base = prediction(model, coded.indices, header.shape, header.lo, header.hi, header.dtype)
    step = np.float32(params.step)
    compiled = numba_support.loops("synthesis_loops")
    if compiled is not None:
        out = np.empty(header.shape, header.dtype)
        synthesize_chunk(compiled, coded.bands, params.levels, step, base, header.lo, header.hi, out)
        return out
    bands = []
    with np.errstate(over="ignore", invalid="ignore"):  # a forged stream may overflow: checked below
        for shape, (nonzero, values) in zip(band_shapes(header.shape, params.levels), coded.bands):
            values = values.astype(np.float32)
            band = values.reshape(shape) if nonzero is None else from_blocks(nonzero, values, shape)
            band *= step
            bands.append(band)
    out = np.empty(header.shape, header.dtype)
    lo, hi = np.float32(header.lo), np.float32(header.hi)

    def finish(slab: slice, values: np.ndarray) -> None:
        values += base[slab].astype(np.float32) if isinstance(base, np.ndarray) else base
        if not np.isfinite(values).all():
            raise ChunkCorrupt("chunk wavelet coefficients overflow when dequantised; the chunk is damaged")
        np.rint(values, out=values)
        np.clip(values, lo, hi, out=values)
        out[slab] = values

    with np.errstate(over="ignore", invalid="ignore"):  # a forged stream may overflow: checked per slab
        synthesize(bands, params.levels, header.shape, finish)
    return out

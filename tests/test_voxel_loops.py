"""The voxel loops (runtime/quantize/voxel_loops.py) against their NumPy references
(tests/reference/voxel.py): the max_error quantiser (also for bounds of 2**30 and more), the
reconstruction of indices-only and max_error chunks and the normalised tokens."""

from __future__ import annotations

import numpy as np
import pytest

from tests.common import em_block
from tests.reference import plain_loops
from tests.reference import voxel as reference
from zarr_unicompress.runtime.coders.max_error import MaxErrorCoder
from zarr_unicompress.runtime.inr.model import RuntimeModel
from zarr_unicompress.runtime.inr.prediction import codebook_indices, scaled_table
from zarr_unicompress.runtime.inr.tokens import normalized_tokens
from zarr_unicompress.runtime.quality import QualitySettings
from zarr_unicompress.runtime.quantize import voxel_residual


@pytest.mark.parametrize(("shape", "dtype"), [((30, 64, 64), "uint8"), ((9, 45, 30), "uint16"), ((5, 13, 70), "int16"),
                                             ((3, 7, 9), "float32"), ((4, 8, 8), "int32"), ((1, 1, 1), "uint8"),
                                             ((2, 9, 9), "float16"), ((2, 5, 6), "bool"), ((0, 4, 4), "uint8")])
def test_normalized_tokens_equal_the_reference(shape: tuple[int, int, int], dtype: str) -> None:
    rng = np.random.default_rng(sum(shape))
    chunk = rng.integers(-3000 if dtype in ("int16", "int32") else 0, 60000, shape).astype(dtype)
    views = (chunk, chunk[:, ::-1, ::2], chunk.astype(chunk.dtype.newbyteorder()))
    for view in views:
        lo, hi = (int(view.min()), int(view.max()) + 1) if view.size else (0, 1)
        got = normalized_tokens(view, (4, 8, 8), lo, hi)
        want = reference.normalized_tokens(view, (4, 8, 8), lo, hi)
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_array_equal(got, want)
        if chunk.size <= 200:  # the loop as plain Python: tiny chunks only
            with plain_loops():
                np.testing.assert_array_equal(normalized_tokens(view, (4, 8, 8), lo, hi), got)


@pytest.mark.parametrize("max_error", [0, 1, 2, 7, 1000, (1 << 30) + 7])
@pytest.mark.parametrize("by_table", [True, False])
def test_quantized_residuals_equal_the_reference(default_model: RuntimeModel, max_error: int, by_table: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if not by_table:
        monkeypatch.setattr(voxel_residual, "_MAGNITUDE_TABLE_MAX", -1)
    for shape, dtype in (((16, 64, 64), "uint8"), ((9, 45, 30), "uint16"), ((5, 13, 70), "int16")):
        chunk = em_block(shape, dtype)
        lo, hi = int(chunk.min()), int(chunk.max())
        indices = codebook_indices(default_model, chunk, lo, hi, "table")
        q, energy = voxel_residual.quantized_residuals(default_model, chunk, indices, lo, hi, max_error)
        want_q, want_energy = reference.quantized_residuals(chunk, indices, scaled_table(default_model, lo, hi),
                                                            max_error, default_model.token_shape)
        np.testing.assert_array_equal(q, want_q)
        np.testing.assert_array_equal(energy, want_energy)
    small = chunk[:2, :9, :9]
    small_indices = codebook_indices(default_model, small, lo, hi, "table")
    got = voxel_residual.quantized_residuals(default_model, small, small_indices, lo, hi, max_error)
    with plain_loops():
        plain = voxel_residual.quantized_residuals(default_model, small, small_indices, lo, hi, max_error)
    for a, b in zip(got, plain, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("step", [1, 5, 2 * ((1 << 30) + 7) + 1])
@pytest.mark.parametrize("table_type", [np.int32, np.int64])
def test_tokens_to_chunk_equals_the_reference(step: int, table_type: type) -> None:
    """Also for steps of bounds of 2**30 and more (the decoder then works in int64)."""
    rng = np.random.default_rng(step)
    shape, token_shape, classes = (5, 13, 18), (2, 4, 8), 3
    n_tokens = 3 * 4 * 3
    table = rng.integers(-5000, 5000, (7, 64)).astype(table_type)
    indices = rng.integers(0, 7, n_tokens)
    token_class = rng.integers(0, classes, n_tokens)
    residuals = [rng.integers(-3, 4, int((token_class == c).sum()) * 64) for c in range(classes)]
    lo, hi = -4000, 4000
    loops = voxel_residual.numba_support.loops("quantize.voxel_loops")
    for with_residuals in (True, False):
        sizes = [len(r) for r in residuals]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        symbols = np.concatenate(residuals).astype(table_type)
        out = np.empty(shape, np.int32)
        loops.tokens_to_chunk(indices, table, token_class if with_residuals else np.empty(0, np.int64), symbols,
                              starts, step, lo, hi, np.array(token_shape, np.int64), out)
        want = reference.tokens_to_chunk(indices, table, token_class, residuals if with_residuals else [], step, lo,
                                         hi, shape, token_shape, np.int32)
        np.testing.assert_array_equal(out, want)


def test_max_error_streams_of_bounds_of_2_30_and_more_round_trip(default_model: RuntimeModel) -> None:
    """The edge where |r| + E leaves int32 in the encoder's quantiser (bounds of 2**30 and
    more; v0.4 max_error streams, which the MaxErrorCoder writes and decodes): every symbol is
    0 and the chunk decodes to its prediction, within the bound."""
    from zarr_unicompress.bitstream import pack_chunk
    from zarr_unicompress.runtime.chunk_codec import decode_chunk

    chunk = em_block((4, 32, 32), "uint16")
    for max_error in ((1 << 30) + 7, 2**31 - 1, 3):
        stream = pack_chunk(*MaxErrorCoder().encode(chunk, default_model, QualitySettings(max_error=max_error)))
        out = decode_chunk(default_model, stream)
        assert out.dtype == chunk.dtype and out.shape == chunk.shape
        assert np.abs(out.astype(np.int64) - chunk).max() <= max_error

"""Chunk encode/decode on real EM blocks: modes, dtypes, shapes, bounds and bad input."""

from __future__ import annotations

import numpy as np
import pywt
import pytest

from tests.common import check_round_trip, em_block, em_volume
from zarr_unicompress.errors import ChunkCorrupt, ModelMismatch, UnsupportedInput
from zarr_unicompress.runtime import numba_support
from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk, encode_chunk
from zarr_unicompress.runtime.inr.model import RuntimeModel


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int8", "int16"])
@pytest.mark.parametrize("max_error", [0, 1, 4])
def test_error_bound_holds_for_every_voxel(default_model: RuntimeModel, dtype: str, max_error: int) -> None:
    chunk = em_block((6, 40, 52), dtype)
    out, _ = check_round_trip(default_model, chunk, QualitySettings(max_error=max_error))
    if max_error == 0:
        np.testing.assert_array_equal(out, chunk)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_indices_only_is_small_and_close(default_model: RuntimeModel) -> None:
    chunk = em_block((8, 128, 128), real_only=True)
    out, stream = check_round_trip(default_model, chunk, QualitySettings())
    assert chunk.nbytes / len(stream) > 50
    flat_guess = np.full_like(chunk, int(chunk.mean()))
    assert psnr(out, chunk) > psnr(flat_guess, chunk) + 2.0


def test_ratio_mode_meets_target(default_model: RuntimeModel) -> None:
    chunk = em_block((8, 128, 128), real_only=True)
    previous = float("inf")
    for target in (4.0, 10.0, 40.0):
        out, stream = check_round_trip(default_model, chunk, QualitySettings(ratio=target))
        assert chunk.nbytes / len(stream) >= target / 1.011
        quality = psnr(out, chunk)
        assert quality < previous
        previous = quality
    assert previous > 20.0


@pytest.mark.parametrize("shape", [(1, 1, 9), (2, 7, 300), (3, 33, 65), (1, 200, 3)])
def test_ratio_mode_edge_shapes(default_model: RuntimeModel, shape: tuple[int, int, int]) -> None:
    chunk = np.ascontiguousarray(em_block((3, 300, 300))[: shape[0], : shape[1], : shape[2]])
    check_round_trip(default_model, chunk, QualitySettings(ratio=3.0))


def test_wavelet_residual_on_inr_base(default_model: RuntimeModel) -> None:
    """The INR-base variant of the ratio mode decodes to the same voxels the encoder computed."""
    from zarr_unicompress.runtime.coders import ratio
    from zarr_unicompress.runtime.inr.prediction import scaled_table, select_indices
    from zarr_unicompress.runtime.inr.tokens import from_tokens, to_tokens
    from zarr_unicompress.runtime.quantize.band_units import BandUnits
    from tests.reference.transform import from_blocks
    from zarr_unicompress.runtime.transform.wavelet_residual import analyze, levels_for, synthesize

    vol = em_block((4, 64, 64))
    lo, hi = int(vol.min()), int(vol.max())
    tokens01 = (to_tokens(vol, default_model.token_shape).astype(np.float32) - lo) / (hi - lo)
    indices = select_indices(default_model, tokens01, "table")
    pred = from_tokens(scaled_table(default_model, lo, hi)[indices], vol.shape, default_model.token_shape)
    levels = levels_for(vol.shape)
    bands = analyze(vol - pred.astype(np.float64), levels)
    units = BandUnits.of(bands, True)
    stream = ratio.pack_bands(default_model, vol, units, indices, 0, np.float32(4.0), levels, lo, hi)
    decoded = decode_chunk(default_model, stream)
    bands32 = []  # what the encoder coded: each band's flagged blocks (sparse ones zeroed)
    for k, band in enumerate(bands):
        flags, values = units.band_groups(k, 4.0)
        bands32.append(from_blocks(flags.view(np.bool_), values.astype(np.float32) * np.float32(4.0), band.shape))
    expected = np.clip(np.rint(synthesize(bands32, levels, vol.shape) + pred.astype(np.float32)), lo, hi)
    np.testing.assert_array_equal(decoded, expected.astype(np.uint8))
    # the float32 lifting stays within 1 intensity unit of PyWavelets' float64 inverse transform
    coeffs = [b.astype(np.float64) for b in bands32]
    coeffs = [coeffs[0]] + [tuple(coeffs[1 + 3 * i : 4 + 3 * i]) for i in range(levels)]
    exact_residual = pywt.waverec2(coeffs, "bior4.4", mode="periodization", axes=(1, 2))[:, :64, :64]
    exact = np.clip(np.rint(pred + exact_residual), lo, hi)
    assert np.abs(decoded.astype(np.int64) - exact.astype(np.int64)).max() <= 1


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16"])
def test_ratio_near_one_keeps_the_finest_step(default_model: RuntimeModel, dtype: str) -> None:
    """The step in a stream is never below MIN_STEP; where even that step fits the budget (a
    smooth ramp at ratio 1.01), the encoder uses it and the chunk decodes within one unit."""
    from zarr_unicompress.bitstream import unpack_chunk
    from zarr_unicompress.runtime.quantize.rate_control import MIN_STEP
    from zarr_unicompress.runtime.transform.wavelet_residual import WaveletParams

    z, y, x = np.mgrid[:4, :96, :96]
    ramp = (z + y + 2 * x).astype(dtype)  # smooth: every step down to the finest fits the budget
    for chunk in (em_block((4, 96, 96), dtype), ramp):
        out, stream = check_round_trip(default_model, chunk, QualitySettings(ratio=1.01))
        _, sections = unpack_chunk(stream)
        assert WaveletParams.unpack(sections.classes).step >= np.float32(MIN_STEP)
    assert WaveletParams.unpack(sections.classes).step == np.float32(MIN_STEP)
    assert np.abs(out.astype(np.int64) - ramp.astype(np.int64)).max() <= 1


@pytest.mark.parametrize("shape", [(3, 70, 90), (2, 8, 8), (1, 5, 300), (16, 256, 256)])
def test_zero_block_streams_decode_like_streams_without_them(default_model: RuntimeModel,
                                                             shape: tuple[int, int, int]) -> None:
    """A stream that codes every coefficient (all streams of v0.2.0-v0.2.4, small chunks now)
    decodes to exactly the voxels of a zero-block stream of the same coefficients; the encoder
    uses zero blocks from ZERO_BLOCK_MIN_VOXELS on, where they are smaller."""
    from zarr_unicompress.bitstream import (FLAG_FLAT_BASE, FLAG_WAVELET, ChunkHeader, ChunkSections, pack_chunk,
                                            unpack_chunk)
    from zarr_unicompress.runtime.coders import ratio
    from zarr_unicompress.runtime.entropy.groups import encode_groups
    from zarr_unicompress.runtime.quantize.band_units import BandUnits
    from tests.reference.transform import from_blocks
    from zarr_unicompress.runtime.transform.wavelet_residual import WaveletParams, analyze, levels_for

    vol = np.ascontiguousarray(em_block((16, 300, 300), real_only=shape[0] == 16)[: shape[0], : shape[1], : shape[2]])
    lo, hi = int(vol.min()), int(vol.max())
    flat, step, levels = int(vol.mean()), np.float32(12.0), levels_for(vol.shape)
    digest = bytes.fromhex(default_model.digest)[:16]
    bands = analyze(vol.astype(np.float32) - np.float32(flat), levels)
    units = BandUnits.of(bands, True)
    coded = []  # the quantised bands as the zero-block stream codes them (sparse blocks zeroed)
    for k, band in enumerate(bands):
        flags, values = units.band_groups(k, float(step))
        coded.append(from_blocks(flags.view(np.bool_), values, band.shape))
    tables, words, _ = encode_groups(coded, allow_rans=False)  # the streams of v0.2.0-v0.2.4
    header = ChunkHeader(FLAG_WAVELET | FLAG_FLAT_BASE, vol.dtype, vol.shape, digest, lo, hi, None, 0, 0, 0)
    legacy = pack_chunk(header, ChunkSections(tables, WaveletParams(float(step), levels, flat).pack(), words))
    blocked = ratio.pack_bands(default_model, vol, units, None, flat, step, levels, lo, hi)
    np.testing.assert_array_equal(decode_chunk(default_model, legacy), decode_chunk(default_model, blocked))
    large = vol.size >= ratio.ZERO_BLOCK_MIN_VOXELS
    if large:
        assert len(blocked) < len(legacy)
    header, _ = unpack_chunk(encode_chunk(default_model, vol, QualitySettings(ratio=6.0)))
    assert header.has_zero_blocks is large


def test_forged_zero_block_flags_are_refused(default_model: RuntimeModel) -> None:
    """A block flag other than 0/1, or zero blocks without a wavelet residual, is a clear error."""
    from zarr_unicompress.bitstream import (FLAG_FLAT_BASE, FLAG_WAVELET, FLAG_ZERO_BLOCKS, ChunkHeader,
                                            ChunkSections, pack_chunk, unpack_chunk)
    from zarr_unicompress.runtime.entropy.groups import encode_groups
    from zarr_unicompress.runtime.transform.wavelet_residual import WaveletParams, band_shapes, block_grid, levels_for

    shape = (1, 16, 16)
    levels = levels_for(shape)
    groups = []
    for band in band_shapes(shape, levels):
        n_blocks = int(np.prod(block_grid(band)))
        groups += [np.full(n_blocks, 2, np.int64), np.zeros(2 * 16 * n_blocks, np.int64)]
    tables, words, _ = encode_groups(groups, allow_rans=False)
    flags = FLAG_WAVELET | FLAG_FLAT_BASE | FLAG_ZERO_BLOCKS
    header = ChunkHeader(flags, np.dtype("uint8"), shape, bytes.fromhex(default_model.digest)[:16], 0, 9,
                         None, 0, 0, 0)
    stream = pack_chunk(header, ChunkSections(tables, WaveletParams(1.0, levels, 3).pack(), words))
    with pytest.raises(ChunkCorrupt, match="outside what its section allows"):
        decode_chunk(default_model, stream)
    good = encode_chunk(default_model, em_block((2, 32, 32)), QualitySettings(max_error=1))
    head, sections = unpack_chunk(good)
    forged = pack_chunk(ChunkHeader(head.flags | FLAG_ZERO_BLOCKS, head.dtype, head.shape, head.digest, head.lo,
                                    head.hi, head.max_error, 0, 0, 0), sections)
    with pytest.raises(ChunkCorrupt, match="zero blocks without a wavelet"):
        decode_chunk(default_model, forged)


def test_ratio_mode_chooses_inr_base_where_it_predicts(default_model: RuntimeModel) -> None:
    """A chunk the INR predicts exactly gets the INR base (indices in the stream), an EM block the
    flat base; both land at or under their byte budget."""
    from zarr_unicompress.bitstream import unpack_chunk
    from zarr_unicompress.runtime.inr.prediction import scaled_table
    from zarr_unicompress.runtime.inr.tokens import from_tokens, token_grid

    shape = (17, 64, 96)
    n_tokens = int(np.prod(token_grid(shape, default_model.token_shape)))
    indices = np.random.default_rng(3).integers(0, default_model.codebook_size, n_tokens)
    table = scaled_table(default_model, 0, 255)
    predicted = np.ascontiguousarray(from_tokens(table[indices], shape, default_model.token_shape).astype(np.uint8))
    predicted[0, 0, 0], predicted[0, 0, 1] = 0, 255  # the chunk spans [0, 255] like the table
    for chunk, inr_expected in ((predicted, True), (em_block(shape, real_only=True), False)):
        out, stream = check_round_trip(default_model, chunk, QualitySettings(ratio=4.0))
        header, _ = unpack_chunk(stream)
        assert header.has_flat_base is not inr_expected
        assert len(stream) <= chunk.nbytes / 4.0
    assert psnr(out, chunk) > 25.0


@pytest.mark.parametrize("max_errors", [range(0, 40), [127, 4095, 65535, (1 << 21) + 3, (1 << 22) - 1, 1 << 22,
                                                   (1 << 30) + 7, 2**31 - 1]])
def test_quantize_residual_is_the_integer_floor(max_errors: list[int]) -> None:
    """The residual loop gives exactly sign(r) * floor((|r| + E) / (2E + 1)) for every residual
    a 16-bit chunk can have, by its table of magnitudes and by its float64 division, for bounds
    up to 2**31 - 1 (the int64 NumPy reference)."""
    from tests.reference.voxel import quantized_residuals as reference

    loops = numba_support.loops("quantize.voxel_loops")
    residual = np.arange(-(1 << 17) + 1, 1 << 17, dtype=np.int32)
    chunk = np.concatenate([residual, np.zeros(-len(residual) % 8, np.int32)]).reshape(1, 1, -1)
    indices, table, tokens = np.zeros(chunk.size // 8, np.int64), np.zeros((1, 8), np.int32), np.array([1, 1, 8])
    for max_error in max_errors:
        step = 2 * max_error + 1
        want, want_energy = reference(chunk, indices, table, max_error, (1, 1, 8))
        span = (1 << 17) - 1
        for magnitudes in (np.empty(0, np.int64), (np.arange(span + 1, dtype=np.int64) + max_error) // step):
            q, energy = np.empty((len(indices), 8), np.int32), np.empty(len(indices), np.int64)
            loops.quantized_residuals(chunk, indices, table, max_error, tokens, magnitudes, q, energy)
            np.testing.assert_array_equal(q, want, err_msg=f"max_error={max_error}")
            np.testing.assert_array_equal(energy, want_energy)
        flat = q.ravel()[: len(residual)].astype(np.int64)
        assert np.abs(residual - flat * step).max() <= max_error


def test_larger_error_bound_gives_smaller_stream(default_model: RuntimeModel) -> None:
    chunk = em_block((8, 64, 64))
    sizes = [len(encode_chunk(default_model, chunk, QualitySettings(max_error=e))) for e in (0, 2, 8)]
    assert sizes[0] > sizes[1] > sizes[2]


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 7, 3), (5, 9, 13), (3, 64, 1), (9, 17, 33)])
def test_edge_shapes(default_model: RuntimeModel, shape: tuple[int, int, int]) -> None:
    chunk = em_block((9, 64, 64))[: shape[0], : shape[1], : shape[2]]
    check_round_trip(default_model, np.ascontiguousarray(chunk), QualitySettings(max_error=2))


def test_1d_and_2d_chunks(default_model: RuntimeModel) -> None:
    block = em_block((1, 32, 48))
    for chunk in (block[0], block[0, 0]):
        out, _ = check_round_trip(default_model, np.ascontiguousarray(chunk), QualitySettings(max_error=1))
        assert out.shape == chunk.shape


def test_constant_and_saturated_chunks(default_model: RuntimeModel) -> None:
    for value in (0, 255, 77):
        chunk = np.full((4, 20, 20), value, np.uint8)
        out, stream = check_round_trip(default_model, chunk, QualitySettings(max_error=0))
        assert len(stream) < 100
        np.testing.assert_array_equal(out, chunk)
    checker = (np.indices((4, 16, 16)).sum(0) % 2 * 255).astype(np.uint8)
    check_round_trip(default_model, checker, QualitySettings(max_error=3))
    wide = np.array([[[-32768, 32767]]], np.int16)
    out, _ = check_round_trip(default_model, wide, QualitySettings(max_error=0))
    np.testing.assert_array_equal(out, wide)


def test_unsupported_inputs_are_refused(default_model: RuntimeModel) -> None:
    with pytest.raises(UnsupportedInput, match="float32"):
        encode_chunk(default_model, np.zeros((2, 2, 2), np.float32), QualitySettings())
    with pytest.raises(UnsupportedInput, match="4D"):
        encode_chunk(default_model, np.zeros((1, 2, 2, 2), np.uint8), QualitySettings())
    with pytest.raises(UnsupportedInput, match="empty"):
        encode_chunk(default_model, np.zeros((0, 2, 2), np.uint8), QualitySettings())
    with pytest.raises(UnsupportedInput):
        QualitySettings(max_error=-1)
    with pytest.raises(UnsupportedInput):
        QualitySettings(max_error=1, ratio=4.0)
    with pytest.raises(UnsupportedInput):
        QualitySettings(ratio=0.5)


def test_truncated_and_damaged_streams_raise(default_model: RuntimeModel) -> None:
    chunk = em_block((4, 32, 32))
    stream = encode_chunk(default_model, chunk, QualitySettings(max_error=2))
    for cut in range(0, len(stream), max(1, len(stream) // 97)):
        with pytest.raises(ChunkCorrupt):
            decode_chunk(default_model, stream[:cut])
    damaged = bytearray(stream)
    damaged[len(damaged) // 2] ^= 0x10
    with pytest.raises(ChunkCorrupt, match="checksum"):
        decode_chunk(default_model, bytes(damaged))


def test_wrong_shape_dtype_or_model_raise(default_model: RuntimeModel, tiny_model: RuntimeModel) -> None:
    chunk = em_block((4, 32, 32))
    stream = encode_chunk(default_model, chunk, QualitySettings(max_error=2))
    with pytest.raises(ChunkCorrupt, match="shape"):
        decode_chunk(default_model, stream, expected_shape=(4, 32, 31))
    with pytest.raises(ChunkCorrupt, match="dtype"):
        decode_chunk(default_model, stream, expected_dtype=np.uint16)
    with pytest.raises(ModelMismatch):
        decode_chunk(tiny_model, stream)


def test_encoder_index_search(default_model: RuntimeModel) -> None:
    chunk = em_block((8, 64, 64))
    check_round_trip(default_model, chunk, QualitySettings(max_error=3, index_search="encoder"))


@pytest.mark.parametrize("corner, shape, ratio, signed", [((8, 446, 398), (9, 45, 30), 60.86, False),
                                                          ((7, 426, 48), (14, 85, 46), 91.78, False),
                                                          ((9, 411, 104), (13, 24, 81), 76.37, True)])
def test_small_chunks_fit_tight_budgets(default_model: RuntimeModel, corner: tuple[int, int, int],
                                        shape: tuple[int, int, int], ratio: float, signed: bool) -> None:
    """Chunks of few tokens per row choose the base on enough rows (all of them here). Chosen on
    their first row, the INR base won these real EM crops on 24-45 indices and then overran
    budgets of 200-600 bytes that the flat base meets (found by a random search over crops)."""
    volume = em_volume()
    chunk = np.ascontiguousarray(volume[tuple(slice(c, c + n) for c, n in zip(corner, shape))])
    if signed:
        chunk = (chunk.astype(np.int16) - 128).astype(np.int8)
    _, stream = check_round_trip(default_model, chunk, QualitySettings(ratio=ratio))
    assert len(stream) <= chunk.nbytes / ratio


def test_random_crops_fit_their_budget(default_model: RuntimeModel) -> None:
    """Random crops (1-30 slices, 1-299 rows and columns, four dtypes) at random ratios 1.5-100
    decode to their shape and dtype, and every stream whose budget is at least 256 bytes fits
    it (on the real volume 6500 such crops all fit)."""
    from zarr_unicompress.testing import random_crop

    source = em_block((30, 300, 300))
    rng = np.random.default_rng(11)
    for _ in range(120):
        chunk, ratio = random_crop(source, rng)
        _, stream = check_round_trip(default_model, chunk, QualitySettings(ratio=ratio))
        if chunk.nbytes / ratio >= 256:
            assert len(stream) <= chunk.nbytes / ratio, (chunk.shape, chunk.dtype, ratio, len(stream))


@pytest.mark.parametrize("shape", [(16, 256, 256), (5, 45, 70)])
def test_streams_of_constrictions_coder_decode_to_the_voxels_of_rans_streams(
        default_model: RuntimeModel, shape: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Streams written before v0.4.0 (constriction's words, no FLAG_RANS) stay readable: the same
    symbols coded either way decode to the same voxels (fixed steps, so both code the same
    symbols; the ratio mode's rate control could pick another step for another size)."""
    from zarr_unicompress.bitstream import pack_chunk, unpack_chunk
    from zarr_unicompress.runtime.coders import ratio
    from zarr_unicompress.runtime.coders.max_error import MaxErrorCoder
    from zarr_unicompress.runtime.entropy import rans
    from zarr_unicompress.runtime.quantize.band_units import BandUnits
    from zarr_unicompress.runtime.transform.wavelet_residual import levels_for

    vol = em_block(shape)
    lo, hi, levels = int(vol.min()), int(vol.max()), levels_for(vol.shape)
    units, flat = BandUnits.about_mean(vol, levels, vol.size >= ratio.ZERO_BLOCK_MIN_VOXELS, lo, hi)

    def streams() -> list[bytes]:
        return ([ratio.pack_bands(default_model, vol, units, None, flat, np.float32(step), levels, lo, hi)
                 for step in (3.0, 40.0)] +
                [pack_chunk(*MaxErrorCoder().encode(vol, default_model, QualitySettings(max_error=2))),  # v0.4's
                 encode_chunk(default_model, vol, QualitySettings())])

    new = streams()
    monkeypatch.setattr(rans, "frequencies_if_affordable", lambda counts: None)
    old = streams()
    monkeypatch.undo()
    for old_stream, new_stream in zip(old, new, strict=True):
        assert not unpack_chunk(old_stream)[0].uses_rans and unpack_chunk(new_stream)[0].uses_rans
        np.testing.assert_array_equal(decode_chunk(default_model, old_stream), decode_chunk(default_model, new_stream))


@pytest.mark.parametrize("n_classes", [1, 3, 8])
def test_tokens_by_class_equal_a_masked_copy_per_class(n_classes: int) -> None:
    """The max_error encoder's residual groups: per class, its tokens' rows in token order
    (classes may be empty, e.g. the last ones)."""
    from zarr_unicompress.runtime.quantize.voxel_residual import tokens_by_class

    rng = np.random.default_rng(n_classes)
    q_tokens = rng.integers(-40, 40, size=(500, 16)).astype(np.int32)
    token_class = rng.integers(0, max(1, n_classes - 1), size=500)  # the last class stays empty
    got = tokens_by_class(q_tokens, token_class, n_classes)
    assert len(got) == n_classes
    for c, group in enumerate(got):
        np.testing.assert_array_equal(group, q_tokens[token_class == c].ravel())

"""Payload version 2 of the predictive coder (zarr_unicompress.runtime.predict.fast_codec): round
trips and the exact bound over dtypes, shapes and ranges (the float64 sums' exactness limit
included), the version chosen by range, the compiled loops against the plain Python ones, the
frequency tables and damaged payloads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.common import em_block
from zarr_unicompress.errors import ChunkCorrupt
from zarr_unicompress.fitting.predictors import fit_predictors
from zarr_unicompress.runtime.predict import encode_kernels, fast_codec, row_kernels, tables
from zarr_unicompress.runtime.predict.codec import decode_chunk, encode_chunk, read_header
from zarr_unicompress.runtime.predict.model import PredictorModel, fixed_model
from zarr_unicompress.runtime.predict.row_kernels import ALPHABET, MAX_RANGE_BITS, N_CTX


@pytest.fixture(scope="module")
def model() -> PredictorModel:
    return fit_predictors(em_block((12, 64, 64)), classes_2d=4, classes_3d=4, n_tokens=200, iterations=3)


def check(chunk: np.ndarray, max_error: int, model: PredictorModel, version: int = 2) -> bytes:
    stream = encode_chunk(chunk, max_error, model)
    assert read_header(stream)[0] == version
    out = decode_chunk(stream, model)
    assert out.dtype == chunk.dtype and out.shape == chunk.shape
    err = np.abs(out.astype(np.int64) - chunk.astype(np.int64)).max()
    assert err <= max_error, f"bound {max_error} violated: {err}"
    assert len(stream) <= chunk.nbytes + 64
    return stream


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "uint32", "int32"])
@pytest.mark.parametrize("max_error", [0, 1, 4])
def test_round_trip_dtypes(model, dtype, max_error):
    check(em_block((5, 40, 37), dtype), max_error, model)


@pytest.mark.parametrize("shape", [(1,), (7,), (1, 1, 1), (3, 5), (2, 1, 9), (4, 19, 3), (3, 33, 17), (2, 70, 40)])
def test_round_trip_shapes(model, shape):
    chunk = np.random.default_rng(1).integers(0, 256, shape).astype(np.uint8)
    for e in (0, 2):
        check(chunk, e, model)
    check(np.asarray(em_block((4, 40, 40))[: shape[0]], np.uint8)[..., :3], 1, model)


def test_widest_range_of_version_2_is_exact(model):
    """Range 2**27 - 1: the largest whose float64 sums are proven exact, with voxels at both ends."""
    rng = np.random.default_rng(3)
    lo = -(2**26)
    chunk = (em_block((3, 24, 24)).astype(np.int64) * ((2**27 - 1) // 255) + lo).astype(np.int32)
    chunk.flat[rng.integers(0, chunk.size, 50)] = lo + 2**27 - 1
    chunk.flat[0] = lo
    for e in (0, 1, 1000):
        check(chunk, e, model, version=2)


def test_wider_ranges_use_version_1(model):
    chunk = em_block((3, 20, 20)).astype(np.int64) * (2**24) - 2**31
    chunk = np.clip(chunk, -(2**31), 2**31 - 1).astype(np.int32)
    check(chunk, 0, model, version=1)
    check(chunk, 7, model, version=1)


def test_sparse_chunk_costs_under_a_hundredth_of_a_bit(model):
    chunk = np.zeros((16, 128, 128), np.uint8)
    chunk[5, 60, 70] = 255
    for e in (0, 2):
        stream = check(chunk, e, model)
        assert 8 * len(stream) / chunk.size <= 0.01


def test_learned_model_beats_fixed_predictor(model):
    chunk = em_block((8, 64, 64))
    assert len(check(chunk, 1, model)) < len(check(chunk, 1, fixed_model()))


def _plain(monkeypatch):
    from zarr_unicompress.runtime.entropy import rans_kernels
    monkeypatch.setattr(fast_codec, "_impl", lambda: (row_kernels.closed_loop, encode_kernels.choose_rows,
                                                      encode_kernels.emit, encode_kernels.pack_bits,
                                                      rans_kernels.encode_symbols))


@pytest.mark.parametrize("max_error", [0, 3])
def test_compiled_loops_match_plain_python(model, monkeypatch, max_error):
    chunk = em_block((3, 21, 35)).astype(np.int64)
    chunk[1, 5:9, 3:30] = 0  # large residuals: raw escape bits
    lo, hi = int(chunk.min()), int(chunk.max())
    compiled = fast_codec.encode_payload2(chunk, max_error, lo, hi, model, 10**6)
    out = fast_codec.decode_payload2(compiled, chunk.shape, lo, hi, max_error, model, np.uint8)
    _plain(monkeypatch)
    assert fast_codec.encode_payload2(chunk, max_error, lo, hi, model, 10**6) == compiled
    assert np.array_equal(fast_codec.decode_payload2(compiled, chunk.shape, lo, hi, max_error, model, np.uint8), out)
    assert np.abs(out.astype(np.int64) - chunk).max() <= max_error


def test_count_codes_round_trip_within_a_sixteenth():
    counts = np.array([0, 1, 2, 15, 16, 17, 31, 100, 1000, 65535, 2**20 + 7, 2**31], np.int64)
    back = tables.code_count(tables.count_code(counts))
    assert np.array_equal(back[:4], counts[:4])
    assert np.all(np.abs(back - counts) <= counts / 16)


def test_tables_round_trip_and_normalise():
    rng = np.random.default_rng(4)
    counts = np.zeros(N_CTX * ALPHABET, np.int64)
    counts[rng.integers(0, counts.size, 300)] = rng.integers(1, 10**6, 300)
    data, freq = tables.write_tables(counts)
    assert np.array_equal(tables.read_tables(data), freq)
    f = freq.reshape(N_CTX, ALPHABET)
    used = counts.reshape(N_CTX, ALPHABET).sum(axis=1) > 0
    assert np.all(f[used].sum(axis=1) == 1 << tables.PRECISION)
    assert np.array_equal(f > 0, counts.reshape(N_CTX, ALPHABET) > 0)


@pytest.mark.parametrize("data", [b"", b"\x00", b"x\x9c\x03\x00\x00\x00\x00\x01", bytes(40)])
def test_malformed_tables_raise(data):
    with pytest.raises(ChunkCorrupt):
        tables.read_tables(data)


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(0, 300), flip=st.integers(0, 3000), bit=st.integers(0, 7))
def test_damaged_payloads_raise_or_decode(model, cut, flip, bit):
    chunk = em_block((3, 32, 32)).astype(np.int64)
    lo, hi = int(chunk.min()), int(chunk.max())
    payload = bytearray(fast_codec.encode_payload2(chunk, 1, lo, hi, model, 10**6))
    if flip < len(payload):
        payload[flip] ^= 1 << bit
    payload = bytes(payload[: max(0, len(payload) - cut)])
    try:
        out = fast_codec.decode_payload2(payload, chunk.shape, lo, hi, 1, model, np.uint8)
    except ChunkCorrupt:
        return
    assert out.shape == chunk.shape


def test_declared_range_beyond_version_2_raises(model):
    with pytest.raises(ChunkCorrupt):
        fast_codec.decode_payload2(b"\x00" * 40, (1, 4, 4), 0, 2**MAX_RANGE_BITS, 0, model, np.int32)


@pytest.mark.parametrize("shape", [(3, 64, 64), (2, 32, 32), (3, 32, 31), (6, 32, 32)])
def test_payload_under_another_shape_raises(model, shape):
    """A header naming another shape than the payload's (the crafted header of a small payload
    that declares a large chunk) is refused: its words or bits run out, or some are left."""
    chunk = em_block((3, 32, 32)).astype(np.int64)
    lo, hi = int(chunk.min()), int(chunk.max())
    payload = fast_codec.encode_payload2(chunk, 0, lo, hi, model, 10**6)
    with pytest.raises(ChunkCorrupt):
        fast_codec.decode_payload2(payload, shape, lo, hi, 0, model, np.uint8)

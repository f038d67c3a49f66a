"""The predictive error-bounded coder (zarr_unicompress.runtime.predict): round trips over dtypes,
shapes and bounds, the exact bound, sparse chunks, the raw fallback, the compiled loops against
the plain Python ones, damaged streams and the model's strict loading."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.common import em_block, em_volume
from zarr_unicompress.errors import ChunkCorrupt, ModelCorrupt, ModelMismatch, UnsupportedInput
from zarr_unicompress.fitting.predictors import fit_predictors
from zarr_unicompress.runtime.predict import choose, codec, kernels, range_coder, taps
from zarr_unicompress.runtime.predict.codec import decode_chunk, encode_chunk
from zarr_unicompress.runtime.predict.model import PredictorModel, fixed_model

HEADER_MAX = 64


@pytest.fixture(scope="module")
def model() -> PredictorModel:
    return fit_predictors(em_block((12, 64, 64)), classes_2d=4, classes_3d=4, n_tokens=200, iterations=3)


def check(chunk: np.ndarray, max_error: int, model: PredictorModel, options: int = taps.ALL_OPTIONS) -> bytes:
    stream = encode_chunk(chunk, max_error, model, options)
    out = decode_chunk(stream, model)
    assert out.dtype == chunk.dtype and out.shape == chunk.shape
    err = np.abs(out.astype(np.int64) - chunk.astype(np.int64)).max()
    assert err <= max_error, f"bound {max_error} violated: {err}"
    assert len(stream) <= chunk.nbytes + HEADER_MAX
    return stream


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "uint32", "int32"])
@pytest.mark.parametrize("max_error", [0, 1, 3])
def test_round_trip_dtypes(model, dtype, max_error):
    check(em_block((5, 40, 37), dtype), max_error, model)


@pytest.mark.parametrize("shape", [(1,), (7,), (1, 1, 1), (3, 5), (2, 1, 9), (4, 19, 3), (3, 33, 17)])
def test_round_trip_shapes(model, shape):
    chunk = em_block((4, 40, 40))[: shape[0]] if len(shape) == 3 else None
    rng = np.random.default_rng(1)
    chunk = rng.integers(0, 256, shape).astype(np.uint8)
    for e in (0, 2):
        check(chunk, e, model)


def test_extreme_values_and_bounds(model):
    rng = np.random.default_rng(2)
    chunk = rng.choice(np.array([-(2**31), 2**31 - 1, 0], np.int64), (3, 20, 20)).astype(np.int32)
    for e in (0, 1, 2**30, 2**31 - 1):
        check(chunk, e, model)


def test_every_option_mask(model):
    chunk = em_block((4, 48, 48))
    for options in range(taps.ALL_OPTIONS + 1):
        check(chunk, 1, model, options)


def test_sparse_chunk_costs_under_a_hundredth_of_a_bit(model):
    chunk = np.zeros((16, 128, 128), np.uint8)
    chunk[7, 60, 61] = 255
    chunk[12, 3, 100] = 17
    for e in (0, 2):
        stream = check(chunk, e, model)
        assert 8 * len(stream) / chunk.size <= 0.01, 8 * len(stream) / chunk.size


def test_noise_falls_back_to_raw(model):
    chunk = np.random.default_rng(3).integers(0, 256, (4, 32, 32)).astype(np.uint8)
    stream = check(chunk, 0, model)
    assert stream[3] == codec.RAW


def test_uint16_using_8_bits_does_not_expand():
    chunk = em_block((8, 64, 64)).astype(np.uint16)
    stream = check(chunk, 0, fixed_model())
    assert len(stream) < chunk.nbytes / 2


def test_compiled_loops_match_plain_python(model):
    from zarr_unicompress.runtime.predict import loops
    chunk = em_block((3, 21, 19)).astype(np.int64)
    shape = np.array(chunk.shape, np.int64)
    coefs, ntaps, offs = model.coefs.astype(np.int64).ravel(), model.ntaps(), taps.flat_offsets(chunk.shape)
    n_tok = 3 * 2 * 2
    outs = []
    for run, encode_stream, choose_classes, finish in (
            (kernels.run, kernels.encode_stream, choose.choose_classes, range_coder.finish),
            (loops.run, loops.encode_stream, loops.choose_classes, loops.finish)):
        classes = np.zeros(n_tok, np.int64)
        vp = np.pad(chunk, ((1, 0), (3, 2), (2, 2)), mode="edge").ravel()
        choose_classes(vp, coefs / 4096.0, ntaps, offs, shape, model.token, model.n_classes, model.classes_2d, 1, 12.0, 2,
                       classes)
        rp = np.zeros(int(np.prod(taps.padded_shape(chunk.shape))), np.int64)
        qp = np.zeros_like(rp)
        buckets = np.zeros(chunk.size, np.uint8)
        buf = np.zeros(4 * chunk.size, np.uint8)
        rc = range_coder.encoder_state()
        probs = range_coder.new_probs(taps.N_CONTEXTS)
        run(0, chunk.ravel(), rp, qp, buckets, classes, coefs, ntaps, offs, shape, model.token, model.n_classes,
            model.classes_2d, 0, 255, 1, taps.ALL_OPTIONS, buf, rc, probs, 0)
        encode_stream(qp, buckets, classes, shape, model.token, model.n_classes, taps.ALL_OPTIONS, buf, rc, probs)
        stream = buf[:finish(rc, buf)].tobytes()
        # the decoder's ring of work slices, writing uint8 voxels
        ring = np.zeros(kernels.ring_slots(3) * 26 * 23, np.int64)
        ring_q, out = np.zeros_like(ring), np.zeros(chunk.size, np.uint8)
        data = np.frombuffer(stream, np.uint8)
        assert run(1, out, ring, ring_q, buckets[:1], np.zeros(n_tok, np.int64), coefs, ntaps, offs, shape, model.token,
                   model.n_classes, model.classes_2d, 0, 255, 1, taps.ALL_OPTIONS, data,
                   range_coder.decoder_state(data, 0), range_coder.new_probs(taps.N_CONTEXTS), 1) == kernels.OK
        assert np.array_equal(out, rp.reshape(4, 26, 23)[1:, 3:-2, 2:-2].ravel())
        outs.append((classes.copy(), rp.copy(), stream, out))
    for a, b in zip(outs[0], outs[1]):
        assert np.array_equal(np.frombuffer(a, np.uint8) if isinstance(a, bytes) else a,
                              np.frombuffer(b, np.uint8) if isinstance(b, bytes) else b)


def test_other_model_is_refused(model):
    stream = encode_chunk(em_block((4, 32, 32)), 1, model)
    with pytest.raises(ModelMismatch):
        decode_chunk(stream, fixed_model())


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(0, 400), flip=st.integers(0, 4000), bit=st.integers(0, 7))
def test_damaged_streams_raise_or_decode(model, cut, flip, bit):
    chunk = em_block((3, 32, 32))
    stream = bytearray(encode_chunk(chunk, 1, model))
    if flip < len(stream):
        stream[flip] ^= 1 << bit
    stream = bytes(stream[: max(0, len(stream) - cut)])
    try:
        out = decode_chunk(stream, model)
    except ChunkCorrupt:
        return
    except ModelMismatch:
        return
    assert out.size == int(np.prod(out.shape))


def test_bad_input_is_refused(model):
    with pytest.raises(UnsupportedInput):
        encode_chunk(np.zeros((2, 2), np.float32), 0, model)
    with pytest.raises(UnsupportedInput):
        encode_chunk(np.zeros((2, 2, 2, 2), np.uint8), 0, model)
    with pytest.raises(UnsupportedInput):
        encode_chunk(np.zeros((2, 2), np.uint8), -1, model)


def test_model_bytes_round_trip(model):
    again = PredictorModel.from_bytes(model.to_bytes())
    assert np.array_equal(again.coefs, model.coefs) and again.digest == model.digest
    assert again.classes_2d == model.classes_2d and again.token == model.token


@settings(max_examples=60, deadline=None)
@given(at=st.integers(0, 10_000), value=st.integers(0, 255))
def test_damaged_model_raises(model, at, value):
    data = bytearray(model.to_bytes())
    at %= len(data)
    if data[at] == value:
        return
    data[at] = value
    try:
        again = PredictorModel.from_bytes(bytes(data))
    except ModelCorrupt:
        return
    assert again.digest == model.digest  # only a change that JSON ignores (e.g. white space) may pass


def test_crafted_models_raise():
    coefs = np.zeros((2, taps.N_TAPS), np.int32)
    coefs[0, taps.N_TAPS_2D] = 5  # a 2D predictor that weighs the previous slice
    with pytest.raises(ModelCorrupt):
        PredictorModel(coefs, 1, 16)
    with pytest.raises(ModelCorrupt):
        PredictorModel(np.full((2, taps.N_TAPS), taps.MAX_COEF + 1, np.int32), 1, 16)
    with pytest.raises(ModelCorrupt):
        PredictorModel(np.zeros((taps.MAX_CLASSES + 1, taps.N_TAPS), np.int32), 1, 16)
    with pytest.raises(ModelCorrupt):
        PredictorModel(np.zeros((2, taps.N_TAPS), np.int32), 1, 12)
    with pytest.raises(ModelCorrupt):
        PredictorModel.from_bytes(b"UCPM\xff\xff\xff\xff")


def test_learned_model_beats_fixed_predictor_on_real_data():
    vol = em_volume()
    model = fit_predictors(vol[:16], classes_2d=4, classes_3d=4, n_tokens=300, iterations=3)
    crop = vol[16:24, :128, :128]  # not fitted on
    learned = len(encode_chunk(crop, 1, model))
    fixed = len(encode_chunk(crop, 1, fixed_model()))
    assert learned < fixed

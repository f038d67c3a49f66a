"""The predictive max_error coder (coder id 1) inside UniCompress chunks: round trips over dtypes,
shapes and bounds through the chunk codec, sparse and incompressible chunks, the predictor model
carried in the model blob, damaged side information, old max_error streams, Zarr v3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

from tests.common import em_block, em_like_stand_in
from zarr_unicompress.bitstream import HEADER_SIZE, ChunkSections, pack_chunk, unpack_chunk
from zarr_unicompress.errors import ChunkCorrupt, ModelCorrupt, ModelMismatch
from zarr_unicompress.fitting.predictors import fit_predictors
from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk, encode_chunk
from zarr_unicompress.runtime.coders.max_error import MaxErrorCoder
from zarr_unicompress.runtime.coders.predictive import PredictiveCoder
from zarr_unicompress.runtime.inr.model import load_model
from zarr_unicompress.runtime.inr.weights import pack_weights, unpack_weights
from zarr_unicompress.runtime.predict.binding import META_KEY, default_predictors, encode_meta, predictors_of
from zarr_unicompress.zarr3 import UniCompressCodec


def _round_trip(model, chunk: np.ndarray, e: int) -> bytes:
    stream = encode_chunk(model, chunk, QualitySettings(max_error=e))
    out = decode_chunk(model, stream, expected_shape=chunk.shape, expected_dtype=chunk.dtype)
    assert out.dtype == chunk.dtype
    err = np.abs(out.reshape(chunk.shape).astype(np.int64) - chunk.astype(np.int64)).max()
    assert err <= e, f"bound {e} violated: {err}"
    return stream


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int8", "int16"])
@pytest.mark.parametrize("e", [0, 1, 3])
def test_round_trip_dtypes(default_model, dtype, e):
    stream = _round_trip(default_model, em_block((6, 40, 45), dtype), e)
    assert stream[7] == PredictiveCoder.coder_id


@pytest.mark.parametrize("shape", [(17,), (40, 50), (1, 1, 3), (5, 37, 23), (3, 2, 90)])
def test_round_trip_shapes(default_model, shape):
    chunk = em_like_stand_in((5, 40, 90), seed=4)
    chunk = np.ascontiguousarray(chunk[tuple(slice(0, s) for s in ((1,) * (3 - len(shape)) + shape))].reshape(shape))
    for e in (0, 2):
        _round_trip(default_model, chunk, e)


def test_sparse_chunk_costs_under_a_hundredth_of_a_bit(default_model):
    chunk = np.zeros((16, 128, 128), np.uint8)
    chunk[9, 70, 3] = 255
    for e in (0, 2):
        stream = _round_trip(default_model, chunk, e)
        assert 8 * len(stream) / chunk.size <= 0.01, 8 * len(stream) / chunk.size


def test_incompressible_chunk_is_stored_raw(default_model):
    chunk = np.random.default_rng(5).integers(0, 65536, (3, 30, 30)).astype(np.uint16)
    stream = _round_trip(default_model, chunk, 0)
    assert len(stream) <= chunk.nbytes + HEADER_SIZE + 16
    header, sections = unpack_chunk(stream)
    assert sections.classes[1] == 0  # raw mode


def test_uint16_using_8_bits_does_not_expand(default_model):
    chunk = em_block((8, 64, 64)).astype(np.uint16)
    stream = _round_trip(default_model, chunk, 0)
    assert len(stream) < chunk.nbytes / 2


def test_old_max_error_streams_still_decode(default_model):
    chunk = em_block((4, 32, 32))
    header, sections = MaxErrorCoder().encode(chunk, default_model, QualitySettings(max_error=2))
    stream = pack_chunk(header, sections)
    assert stream[7] == 0
    out = decode_chunk(default_model, stream)
    assert np.abs(out.astype(np.int64) - chunk).max() <= 2


def _with_predictors(blob: bytes, text: object) -> bytes:
    weights = unpack_weights(blob)
    return pack_weights(weights.arch, {**weights.meta, META_KEY: text}, weights.tensors)


def test_predictors_travel_in_the_model_blob(default_model):
    chunk = em_block((6, 48, 48))
    own = fit_predictors(chunk, classes_2d=2, classes_3d=2, n_tokens=100, iterations=2, seed=1)
    model = load_model(_with_predictors(default_model.blob, encode_meta(own)))
    assert predictors_of(model).digest == own.digest != default_predictors().digest
    stream = _round_trip(model, chunk, 1)
    with pytest.raises(ModelMismatch):
        decode_chunk(default_model, stream)


@pytest.mark.parametrize("text", ["", "not base64!", 17, "QUJD", "x" * 20000, None])
def test_damaged_predictors_in_the_blob_raise(default_model, text):
    with pytest.raises(ModelCorrupt):
        load_model(_with_predictors(default_model.blob, text))


def test_damaged_side_information_raises(default_model):
    chunk = em_block((4, 32, 32))
    header, sections = unpack_chunk(encode_chunk(default_model, chunk, QualitySettings(max_error=1)))
    side = bytearray(sections.classes)
    for at, value, error in ((0, 9, ChunkCorrupt), (1, 7, ChunkCorrupt), (2, 200, ChunkCorrupt), (5, side[5] ^ 1,
                                                                                             ModelMismatch)):
        bad = bytearray(side)
        bad[at] = value
        stream = pack_chunk(header, ChunkSections(sections.tables, bytes(bad), sections.words))
        with pytest.raises(error):
            decode_chunk(default_model, stream)
    stream = pack_chunk(header, ChunkSections(sections.tables, bytes(side), sections.words[: len(sections.words) // 2]))
    with pytest.raises(ChunkCorrupt):
        decode_chunk(default_model, stream)


def test_zarr_v3_chunks_are_predictive(tmp_path: Path):
    volume = np.ascontiguousarray(em_block((6, 40, 40)))
    z = zarr.create_array(str(tmp_path / "p.zarr"), shape=volume.shape, chunks=(3, 40, 40), dtype="uint8",
                          serializer=UniCompressCodec(max_error=0), compressors=None)
    z[:] = volume
    np.testing.assert_array_equal(z[:], volume)
    raw = (tmp_path / "p.zarr" / "c" / "0" / "0" / "0").read_bytes()
    assert raw[7] == PredictiveCoder.coder_id


def test_fit_stores_the_arrays_own_predictors(tiny_model):
    assert META_KEY in tiny_model.weights.meta
    assert predictors_of(tiny_model).digest != default_predictors().digest
    _round_trip(tiny_model, em_block((8, 64, 64)), 1)

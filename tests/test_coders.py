"""The coder registry and the header's coder byte."""

from __future__ import annotations

import numpy as np
import pytest

from tests.common import em_block
from zarr_unicompress.bitstream import ChunkHeader, ChunkSections, pack_chunk, unpack_chunk
from zarr_unicompress.errors import ChunkCorrupt
from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk, encode_chunk
from zarr_unicompress.runtime.coders import registry
from zarr_unicompress.runtime.coders.base import Coder, chunk_header
from zarr_unicompress.runtime.coders.constant import ConstantCoder
from zarr_unicompress.runtime.coders.indices_only import IndicesOnlyCoder
from zarr_unicompress.runtime.coders.max_error import MaxErrorCoder
from zarr_unicompress.runtime.coders.predictive import PredictiveCoder
from zarr_unicompress.runtime.coders.ratio import RatioCoder
from zarr_unicompress.runtime.coders.ratio3d import Ratio3DCoder
from zarr_unicompress.runtime.coders.ratio_ctx import RatioContextCoder
from zarr_unicompress.runtime.inr.model import RuntimeModel

#: offset of the coder byte in a stream (magic 4 bytes, version, flags, dtype).
CODER_BYTE = 7

MODES = [(QualitySettings(), IndicesOnlyCoder), (QualitySettings(max_error=2), PredictiveCoder),
         (QualitySettings(ratio=8.0), RatioContextCoder)]


@pytest.mark.parametrize(("quality", "kind"), MODES)
def test_each_mode_has_its_coder_both_ways(default_model: RuntimeModel, quality: QualitySettings, kind: type) -> None:
    chunk = em_block((4, 32, 32))
    assert isinstance(registry.encoder_for(chunk, quality), kind)
    stream = encode_chunk(default_model, chunk, quality)
    header, _ = unpack_chunk(stream)
    if kind is RatioContextCoder:  # chunks this small (no zero blocks) are coded by coder 2 (or 0) as in v0.5
        assert isinstance(registry.decoder_for(header), RatioCoder if stream[CODER_BYTE] == 0 else Ratio3DCoder)
        assert stream[CODER_BYTE] in (0, 2)
    else:
        assert stream[CODER_BYTE] == kind.coder_id  # indices only keeps coder 0; max_error is coder 1
        assert isinstance(registry.decoder_for(header), kind)
    constant = np.full((2, 8, 8), 9, np.uint8)
    assert isinstance(registry.encoder_for(constant, quality), ConstantCoder)
    assert isinstance(registry.decoder_for(unpack_chunk(encode_chunk(default_model, constant, quality))[0]),
                      ConstantCoder)


def _with_coder(stream: bytes, coder: int) -> bytes:
    header, sections = unpack_chunk(stream)
    fields = {**header.__dict__, "coder": coder}
    return pack_chunk(ChunkHeader(**fields), sections)


@pytest.mark.parametrize(("coder", "message"), [(4, "is unknown"), (5, "is unknown"), (255, "is unknown")])
def test_a_stream_naming_an_unregistered_coder_is_refused(default_model: RuntimeModel, coder: int,
                                                          message: str) -> None:
    stream = _with_coder(encode_chunk(default_model, em_block((2, 16, 16)), QualitySettings(max_error=1)), coder)
    assert stream[CODER_BYTE] == coder
    with pytest.raises(ChunkCorrupt, match=message):
        decode_chunk(default_model, stream)


class _NegatedCoder(Coder):
    """A coder as a new mode would add one: the chunk's complement, stored raw."""

    coder_id = 200
    name = "negated"

    def wants(self, settings: QualitySettings) -> bool:
        return settings.index_search == "encoder"

    def encode(self, chunk: np.ndarray, model: RuntimeModel,
               settings: QualitySettings) -> tuple[ChunkHeader, ChunkSections]:
        lo, hi = int(chunk.min()), int(chunk.max())
        return chunk_header(self, 0, chunk, model, lo, hi), ChunkSections(b"", b"", (~chunk).tobytes())

    def decode(self, header: ChunkHeader, sections: ChunkSections, model: RuntimeModel) -> np.ndarray:
        if len(sections.words) != np.prod(header.shape) * header.dtype.itemsize:
            raise ChunkCorrupt("negated chunk has the wrong size")
        return ~np.frombuffer(sections.words, header.dtype).reshape(header.shape)


def test_a_new_coder_is_one_class_and_one_registry_line(default_model: RuntimeModel,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    coder = _NegatedCoder()
    monkeypatch.setattr(registry, "CODERS", (coder, *registry.CODERS))
    monkeypatch.setattr(registry, "_BY_ID", {**registry._BY_ID, coder.coder_id: coder})
    chunk = em_block((3, 10, 12))
    stream = encode_chunk(default_model, chunk, QualitySettings(index_search="encoder"))
    assert stream[CODER_BYTE] == 200
    np.testing.assert_array_equal(decode_chunk(default_model, stream, chunk.shape, chunk.dtype), chunk)


def test_v04_max_error_streams_are_read_by_their_coder(default_model: RuntimeModel) -> None:
    chunk = em_block((4, 32, 32))
    stream = pack_chunk(*MaxErrorCoder().encode(chunk, default_model, QualitySettings(max_error=2)))
    assert stream[CODER_BYTE] == 0
    assert isinstance(registry.decoder_for(unpack_chunk(stream)[0]), MaxErrorCoder)
    assert np.abs(decode_chunk(default_model, stream).astype(np.int64) - chunk).max() <= 2

"""Decompression bombs on the numcodecs (Zarr v2) path: a chunk's declared size is capped
(``max_decoded_bytes``) and checked against ``out=`` before anything is allocated."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from numcodecs_ext import UniCompress
from numcodecs_ext.config_checks import DEFAULT_MAX_DECODED_BYTES
from tests.common import em_block
from tests.crafted import indices_chunk, restamp
from zarr_unicompress.errors import ChunkCorrupt, UniCompressError

pytestmark = pytest.mark.filterwarnings("ignore::numcodecs_ext.unicompress.IndicesOnlyWarning")


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _refused_with_little_memory(codec: UniCompress, stream: bytes, out: np.ndarray | None = None) -> str:
    tracemalloc.start()
    try:
        with pytest.raises(ChunkCorrupt) as info:
            codec.decode(stream, out=out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * len(stream) + 2**16, f"refusing a {len(stream)}-byte chunk took {peak} bytes"
    return str(info.value)


@pytest.fixture(scope="module")
def codec() -> UniCompress:
    return UniCompress()


def test_default_cap_is_documented_value(codec: UniCompress) -> None:
    assert codec.max_decoded_bytes == DEFAULT_MAX_DECODED_BYTES == 2**30
    assert "max_decoded_bytes" not in codec.get_config()  # left out at its default (v0.4 reads it)
    assert UniCompress(max_decoded_bytes=2**20).get_config()["max_decoded_bytes"] == 2**20


@pytest.mark.parametrize("shape,dtype", [((2048, 1024, 1024), 0), ((1024, 1024, 1024), 1),
                                         ((2**31 - 1, 1, 1), 3), ((1, 40000, 40000), 0)])
def test_constant_bombs_are_refused(codec: UniCompress, shape: tuple, dtype: int) -> None:
    small = codec.encode(np.full((2, 2, 2), 7, np.uint8))
    message = _refused_with_little_memory(codec, restamp(small, sz=shape[0], sy=shape[1], sx=shape[2], dtype=dtype))
    assert "max_decoded_bytes" in message


def test_indices_only_bomb_is_refused(codec: UniCompress) -> None:
    stream = indices_chunk(codec.model_sha256, np.zeros(4, np.int64), (4, 16, 16))
    bomb = restamp(stream, sz=2048, sy=1024, sx=1024)
    _refused_with_little_memory(codec, bomb)


@pytest.mark.parametrize("quality", [{"max_error": 2}, {"ratio": 8}, {}])
def test_genuine_streams_restamped_large_are_refused(quality: dict) -> None:
    codec = UniCompress(**quality, max_decoded_bytes=2**20)
    stream = codec.encode(em_block((8, 32, 32)))
    for shape in ((16, 256, 512), (2**31 - 1, 1, 1)):
        _refused_with_little_memory(codec, restamp(stream, sz=shape[0], sy=shape[1], sx=shape[2]))
    with pytest.raises(UniCompressError):  # under the cap: refused by the decoder's own checks
        codec.decode(restamp(stream, sz=8, sy=256, sx=256))


def test_cap_is_a_config_value(codec: UniCompress) -> None:
    chunk = em_block((4, 32, 64))
    small = UniCompress(max_error=1, max_decoded_bytes=chunk.nbytes - 1)
    stream = small.encode(chunk)
    assert "max_decoded_bytes" in _refused_with_little_memory(small, stream)
    exact = UniCompress(max_error=1, max_decoded_bytes=chunk.nbytes)
    assert exact.decode(stream).size == chunk.size
    out = np.empty_like(chunk)  # an out buffer of the right size is the caller's bound
    small.decode(stream, out=out)
    assert np.abs(out.astype(int) - chunk).max() <= 1


@pytest.mark.parametrize("delta", [-1, 1, 4096])
def test_out_buffer_must_match_the_declared_size(codec: UniCompress, delta: int) -> None:
    chunk = em_block((4, 32, 32))
    stream = UniCompress(max_error=1).encode(chunk)
    out = np.empty(chunk.nbytes + delta, np.uint8)
    assert "out buffer" in _refused_with_little_memory(UniCompress(max_error=1), stream, out=out)


def test_huge_bound_decodes_like_the_span() -> None:
    """A max_error beyond the intensity span decodes as the span (int32 work, same voxels)."""
    codec = UniCompress(max_error=300)
    chunk = em_block((16, 128, 128))
    stream = codec.encode(chunk)
    expected = codec.decode(stream)
    peak = _peak_bytes(lambda: codec.decode(stream))
    for bound in (2**30, 2**31 - 1, 2**32 - 2):
        forged = restamp(stream, max_err=bound)
        np.testing.assert_array_equal(codec.decode(forged), expected)
        assert _peak_bytes(lambda: codec.decode(forged)) <= 1.25 * peak  # no int64 work arrays


def test_garbage_is_refused(codec: UniCompress) -> None:
    for junk in (b"", b"UCZ1", b"x" * 100, b"UCZ1" + b"\xff" * 100):
        with pytest.raises(ChunkCorrupt):
            codec.decode(junk)


def test_bulk_read_checks_declared_shapes_first(tmp_path) -> None:
    """read_array decodes without zarr's shape check: a restamped chunk is refused from its header."""
    import zarr

    from zarr_unicompress.bulk_read import read_array

    volume = em_block((4, 32, 32))
    array = zarr.open(str(tmp_path / "a.zarr"), mode="w", zarr_format=2, shape=volume.shape, chunks=(4, 32, 32),
                      dtype=volume.dtype, compressor=UniCompress(max_error=1))
    array[:] = volume
    key = tmp_path / "a.zarr" / "0.0.0"
    key.write_bytes(restamp(key.read_bytes(), sz=2048, sy=1024, sx=1024))
    with pytest.raises(ChunkCorrupt, match="declares"):
        read_array(str(tmp_path / "a.zarr"), processes=1, threads=True)



@pytest.mark.parametrize("shape,message", [((64, 1024, 1024), "damaged"), ((1024, 32, 32), "ends before"),
                                           ((1, 1, 2**29), "work memory"), ((2, 2, 2**27), "work memory")])
def test_predictive_chunk_restamped_large_is_refused_in_little_memory(shape: tuple, message: str) -> None:
    """A genuine predictive max_error chunk restamped larger (under the cap): the decoder holds
    the output (1 byte per voxel here) and a ring of 3 work slices (not 16 bytes per voxel of
    int64 work arrays), and refuses the stream at a bad index or residual or as soon as it
    reads past its end (the (1024, 32, 32) chunk's slices are read as genuine ones)."""
    codec = UniCompress(max_error=2)
    stream = codec.encode(em_block((8, 32, 32)))
    assert stream[7] == 1  # the predictive coder
    crafted = restamp(stream, sz=shape[0], sy=shape[1], sx=shape[2])
    tracemalloc.start()
    try:
        with pytest.raises(ChunkCorrupt, match=message):
            codec.decode(crafted)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    voxels = int(np.prod(shape))
    assert peak < 2 * voxels + 2**20, f"refusing a chunk of {voxels} declared uint8 voxels took {peak} bytes"


def test_thin_max_error_chunks_are_stored_raw_and_round_trip() -> None:
    """A long thin chunk (a 1D row of 5M voxels) would need a decoder work ring many times its
    size: the predictive coder stores it raw (lossless), and it decodes exactly."""
    row = (np.arange(5_000_000) % 251).astype(np.uint8)
    codec = UniCompress(max_error=2)
    stream = codec.encode(row)
    assert len(stream) < row.nbytes + 512
    np.testing.assert_array_equal(np.asarray(codec.decode(stream)).reshape(row.shape), row)

"""Bulk reads (zarr_unicompress/bulk_read.py): the same voxels as zarr's own read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

from numcodecs_ext.unicompress import UniCompress
from tests.common import em_block
from zarr_unicompress.bulk_read import read_array
from zarr_unicompress.errors import UnsupportedInput
from zarr_unicompress.zarr3 import UniCompressCodec

pytest.importorskip("torch")


def _v2(path: Path, volume: np.ndarray, chunks: tuple[int, ...], **quality: object) -> zarr.Array:
    array = zarr.open(str(path), mode="w", zarr_format=2, shape=volume.shape, chunks=chunks, dtype=volume.dtype,
                      compressor=UniCompress(**quality), fill_value=3)
    return array


def _v3(path: Path, volume: np.ndarray, chunks: tuple[int, ...], **quality: object) -> zarr.Array:
    return zarr.create_array(str(path), shape=volume.shape, chunks=chunks, dtype=volume.dtype,
                             serializer=UniCompressCodec(**quality), compressors=None, fill_value=3)


@pytest.mark.parametrize("make", [_v2, _v3])
@pytest.mark.parametrize("device", ["cpu", None])
def test_bulk_read_equals_zarr(tmp_path: Path, make, device: str | None) -> None:
    volume = em_block((10, 150, 140))
    array = make(tmp_path / "a.zarr", volume, (4, 64, 64), ratio=8)
    array[:] = volume
    array[8:, :64, :64] = em_block((2, 64, 64))[:, ::-1]  # one chunk rewritten
    np.testing.assert_array_equal(read_array(str(tmp_path / "a.zarr"), device=device, processes=2, max_batch=3),
                                  array[:])
    region = (slice(3, 9), slice(50, 149), slice(None, 70))
    np.testing.assert_array_equal(read_array(array, region, device=device, processes=2), array[region])
    np.testing.assert_array_equal(read_array(array, region, device=device, processes=2, threads=True), array[region])


def test_bulk_read_fills_unwritten_chunks_and_reads_other_modes(tmp_path: Path) -> None:
    volume = em_block((8, 64, 96), "uint16")
    array = _v3(tmp_path / "b.zarr", volume, (4, 32, 32), max_error=2)
    array[:4] = volume[:4]  # the chunks of z 4..7 are never written
    got = read_array(array, device="cpu", processes=2)
    np.testing.assert_array_equal(got, array[:])
    assert (got[4:] == 3).all()


def test_bulk_read_refuses_other_layouts(tmp_path: Path) -> None:
    volume = em_block((8, 64, 64))
    sharded = zarr.create_array(str(tmp_path / "s.zarr"), shape=volume.shape, chunks=(4, 32, 32), shards=(8, 64, 64),
                                dtype=volume.dtype, serializer=UniCompressCodec(ratio=8), compressors=None)
    with pytest.raises(UnsupportedInput, match="sharding|ShardingCodec"):
        read_array(sharded, device="cpu", processes=1)
    plain = zarr.create_array(str(tmp_path / "p.zarr"), shape=volume.shape, chunks=(4, 32, 32), dtype=volume.dtype)
    with pytest.raises(UnsupportedInput):
        read_array(plain, device="cpu", processes=1)
    array = _v3(tmp_path / "a.zarr", volume, (4, 32, 32), ratio=8)
    with pytest.raises(UnsupportedInput, match="step"):
        read_array(array, (slice(None, None, 2),), device="cpu", processes=1)
    with pytest.raises(UnsupportedInput, match="max_batch"):
        read_array(array, device=None, processes=1, max_batch=0)


def test_bulk_read_with_a_running_opener(tmp_path: Path) -> None:
    from zarr_unicompress.runtime.device.parallel_open import ChunkOpener

    volume = em_block((8, 64, 64))
    array = _v3(tmp_path / "a.zarr", volume, (4, 32, 32), ratio=8)
    array[:] = volume
    model = array.metadata.codecs[0].inner.runtime
    with ChunkOpener(model, 2) as opener:
        np.testing.assert_array_equal(read_array(array, device="cpu", opener=opener), array[:])
        np.testing.assert_array_equal(read_array(array, (slice(2, 5),), device="cpu", opener=opener), array[2:5])
        with pytest.raises(UnsupportedInput, match="reconstruct"):
            read_array(array, device=None, opener=opener)

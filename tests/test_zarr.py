"""Zarr v2, v3 and v3+sharding round trips, read back lazily in fresh processes and with Dask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

from numcodecs_ext import UniCompress
from tests.common import em_block, run_fresh_python
from zarr_unicompress.zarr3 import UniCompressCodec

SHAPE = (10, 70, 90)  # not a multiple of the chunks: edge chunks on every axis
CHUNKS = (4, 32, 32)
BOUND = 2


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    return np.ascontiguousarray(em_block(SHAPE))


def _fresh_read(path: Path) -> np.ndarray:
    out = path.parent / (path.name + ".npy")
    run_fresh_python(f"""
        import numpy as np, dask.array as da
        x = da.from_zarr({str(path)!r})
        np.save({str(out)!r}, x.compute(scheduler="threads"))
    """)
    return np.load(out)


def _check(decoded: np.ndarray, volume: np.ndarray) -> None:
    assert decoded.shape == volume.shape and decoded.dtype == volume.dtype
    assert np.abs(decoded.astype(np.int64) - volume).max() <= BOUND


def test_zarr_v2_compressor(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "v2.zarr"
    z = zarr.open(str(path), mode="w", zarr_format=2, shape=volume.shape, chunks=CHUNKS, dtype="uint8",
                  compressor=UniCompress(max_error=BOUND))
    z[:] = volume
    _check(z[:], volume)
    _check(_fresh_read(path), volume)
    np.testing.assert_array_equal(_fresh_read(path), z[:])


def test_zarr_v3_serializer(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "v3.zarr"
    z = zarr.create_array(str(path), shape=volume.shape, chunks=CHUNKS, dtype="uint8",
                          serializer=UniCompressCodec(max_error=BOUND), compressors=None)
    z[:] = volume
    _check(z[:], volume)
    np.testing.assert_array_equal(_fresh_read(path), z[:])


def test_zarr_v3_sharding(tmp_path: Path, volume: np.ndarray) -> None:
    path = tmp_path / "v3s.zarr"
    z = zarr.create_array(str(path), shape=volume.shape, chunks=CHUNKS, shards=(8, 64, 64), dtype="uint8",
                          serializer=UniCompressCodec(max_error=BOUND), compressors=None)
    z[:] = volume
    _check(z[:], volume)
    np.testing.assert_array_equal(_fresh_read(path), z[:])
    # partial reads go through the shard index
    np.testing.assert_array_equal(z[3:7, 10:50, 60:], z[:][3:7, 10:50, 60:])


def test_zarr_v3_refuses_float(tmp_path: Path) -> None:
    from zarr_unicompress.errors import UnsupportedInput

    with pytest.raises(UnsupportedInput, match="float32"):
        zarr.create_array(str(tmp_path / "f.zarr"), shape=(4, 4, 4), chunks=(4, 4, 4), dtype="float32",
                          serializer=UniCompressCodec(), compressors=None)


def test_dask_threads_and_region_reads(tmp_path: Path, volume: np.ndarray) -> None:
    import dask.array as da

    path = tmp_path / "d.zarr"
    z = zarr.open(str(path), mode="w", zarr_format=2, shape=volume.shape, chunks=CHUNKS, dtype="uint8",
                  compressor=UniCompress(max_error=BOUND))
    da.from_array(volume, chunks=CHUNKS).to_zarr(z)
    lazy = da.from_zarr(str(path))
    assert lazy.chunks[0] == (4, 4, 2)
    full = lazy.compute(scheduler="threads", num_workers=4)
    _check(full, volume)
    np.testing.assert_array_equal(lazy[5:9, 33:66, 1:80].compute(scheduler="threads"), full[5:9, 33:66, 1:80])
    np.testing.assert_array_equal(lazy.compute(scheduler="sync"), full)


def test_dask_distributed_local_cluster(tmp_path: Path, volume: np.ndarray) -> None:
    pytest.importorskip("distributed")
    path = tmp_path / "dist.zarr"
    z = zarr.open(str(path), mode="w", zarr_format=2, shape=volume.shape, chunks=CHUNKS, dtype="uint8",
                  compressor=UniCompress(max_error=BOUND))
    z[:] = volume
    out = tmp_path / "dist.npy"
    run_fresh_python(f"""
        import numpy as np, dask.array as da
        from distributed import Client, LocalCluster
        if __name__ == "__main__":
            with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \\
                    Client(cluster) as client:
                x = da.from_zarr({str(path)!r})
                np.save({str(out)!r}, x.compute())
    """, timeout=240)
    np.testing.assert_array_equal(np.load(out), z[:])


def test_chunks_larger_than_the_array_warn_about_edge_padding(tmp_path) -> None:
    import warnings

    import zarr

    from zarr_unicompress.zarr3 import EdgePaddingWarning, UniCompressCodec

    with pytest.warns(EdgePaddingWarning, match=r"chunks \(64, 32, 32\) exceed the array \(30, 32, 32\)"):
        zarr.create_array(str(tmp_path / "big.zarr"), shape=(30, 32, 32), chunks=(64, 32, 32), dtype="uint8",
                          serializer=UniCompressCodec(max_error=1), compressors=None, fill_value=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EdgePaddingWarning)
        zarr.create_array(str(tmp_path / "fits.zarr"), shape=(30, 32, 32), chunks=(16, 32, 32), dtype="uint8",
                          serializer=UniCompressCodec(max_error=1), compressors=None, fill_value=0)

"""Zarr v3: dtypes and ranks the codec cannot encode are refused at array creation, sharded or not."""

from __future__ import annotations

import pytest
import zarr
from zarr.storage import MemoryStore

from zarr_unicompress.errors import UnsupportedInput
from zarr_unicompress.zarr3 import UniCompressCodec


@pytest.mark.parametrize("shards", [None, (8, 64, 64)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "uint64", "bool"])
def test_unsupported_dtype_refused_at_creation(dtype: str, shards: tuple | None) -> None:
    store = MemoryStore()
    with pytest.raises(UnsupportedInput, match="dtype"):
        zarr.create_array(store, shape=(16, 64, 64), chunks=(8, 32, 32), shards=shards, dtype=dtype,
                          serializer=UniCompressCodec(max_error=1))
    assert not any(k.endswith("zarr.json") for k in store._store_dict)  # nothing written


@pytest.mark.parametrize("shards", [None, (1, 8, 64, 64)])
def test_4d_refused_at_creation(shards: tuple | None) -> None:
    with pytest.raises(UnsupportedInput, match="4D"):
        zarr.create_array(MemoryStore(), shape=(2, 16, 64, 64), chunks=(1, 8, 32, 32), shards=shards,
                          dtype="uint8", serializer=UniCompressCodec(max_error=1))


@pytest.mark.parametrize("shards", [None, (8, 64, 64)])
def test_supported_sharded_array_round_trips(shards: tuple | None) -> None:
    import numpy as np

    arr = zarr.create_array(MemoryStore(), shape=(16, 64, 64), chunks=(8, 32, 32), shards=shards,
                            dtype="uint16", serializer=UniCompressCodec(max_error=0))
    data = (np.arange(16 * 64 * 64) % 977).astype("uint16").reshape(16, 64, 64)
    arr[:] = data
    np.testing.assert_array_equal(arr[:], data)

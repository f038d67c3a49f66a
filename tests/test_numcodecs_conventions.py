"""The codec under numcodecs' own test helpers, over the arrays numcodecs uses for its codecs.

numcodecs' arrays include dtypes this codec refuses (floats, 32/64-bit integers, bool, bytes,
datetimes): those must raise ``UnsupportedInput``. The supported dtypes (uint8, uint16, int8,
int16) are run through the same shapes and orders, losslessly (``max_error=0``), so the
helpers' exact comparisons apply. Fixture files for ``check_backwards_compatibility`` live in
``tests/fixture/unicompress`` (regenerate deliberately: UNICOMPRESS_WRITE_FIXTURES=1).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from numcodecs.tests import common

from numcodecs_ext import UniCompress
from zarr_unicompress.errors import UnsupportedInput

pytestmark = pytest.mark.filterwarnings("ignore::numcodecs_ext.unicompress.IndicesOnlyWarning")

_rng = np.random.default_rng(42)
#: numcodecs' arrays (as in numcodecs/tests/test_zstd.py and the other codecs' tests).
NUMCODECS_ARRAYS = [
    np.arange(1000, dtype="i4"),
    np.linspace(1000, 1001, 1000, dtype="f8"),
    _rng.normal(loc=1000, scale=1, size=(100, 10)),
    _rng.integers(0, 2, size=1000, dtype=bool).reshape(100, 10, order="F"),
    _rng.choice([b"a", b"bb", b"ccc"], size=1000).reshape(10, 10, 10),
    _rng.integers(0, 2**60, size=1000, dtype="u8").view("M8[ns]"),
    _rng.integers(0, 2**60, size=1000, dtype="u8").view("m8[ns]"),
    _rng.integers(0, 2**25, size=1000, dtype="u8").view("M8[m]"),
    np.arange(1000, dtype="f4"),
    np.arange(1000, dtype="f2"),
    np.arange(1000, dtype="u4").reshape(10, 10, 10),
    np.arange(1000, dtype="i8").reshape(10, 10, 10, order="F"),
]
#: the same shapes and orders in the supported dtypes.
SUPPORTED_ARRAYS = [
    (np.arange(1000) % 256).astype("u1"),
    np.arange(1000, dtype="u2"),
    (np.arange(1000) % 256 - 128).astype("i1"),
    np.arange(-500, 500, dtype="i2"),
    _rng.integers(0, 2, size=1000).astype("u1").reshape(100, 10, order="F"),
    np.asfortranarray(_rng.normal(1000, 30, size=(100, 10)).astype("u2")),
    _rng.integers(0, 256, size=(10, 10, 10)).astype("u1"),
    np.asfortranarray(_rng.integers(-3000, 3000, size=(10, 10, 10)).astype("i2")),
    np.full((4, 20, 30), 17, "u1"),
    _rng.integers(0, 65536, size=(3, 50, 7)).astype("u2"),
]
FIXTURES = Path(__file__).parent


@pytest.mark.parametrize("arr", NUMCODECS_ARRAYS, ids=lambda a: f"{a.dtype}{a.shape}")
def test_refused_arrays_raise_unsupported_input(arr: np.ndarray) -> None:
    with pytest.raises(UnsupportedInput, match="dtype"):
        UniCompress(max_error=0).encode(arr)


@pytest.mark.parametrize("arr", SUPPORTED_ARRAYS, ids=lambda a: f"{a.dtype}{a.shape}")
def test_check_encode_decode(arr: np.ndarray) -> None:
    common.check_encode_decode(arr, UniCompress(max_error=0))


@pytest.mark.parametrize("kwargs", [{}, {"max_error": 2}, {"ratio": 8.0}, {"index_search": "encoder"},
                                    {"max_error": 0, "max_decoded_bytes": 2**20}])
def test_check_config(kwargs: dict) -> None:
    common.check_config(UniCompress(**kwargs))


@pytest.mark.parametrize("stmt", ["UniCompress(max_error=2, ratio=None, index_search='table')",
                                  "UniCompress(max_error=None, ratio=8.0, index_search='encoder')",
                                  "UniCompress(max_error=None, ratio=None, index_search='table', "
                                  "max_decoded_bytes=1048576)"])
def test_check_repr(stmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "UniCompress", UniCompress, raising=False)  # check_repr evals in its module
    common.check_repr(stmt)


def test_check_backwards_compatibility(monkeypatch: pytest.MonkeyPatch) -> None:
    fixture_dir = FIXTURES / "fixture" / "unicompress"
    if not os.environ.get("UNICOMPRESS_WRITE_FIXTURES"):
        assert (fixture_dir / "codec.00" / "config.json").is_file(), f"fixture files missing in {fixture_dir}"
        assert len(list(fixture_dir.glob("array.*.npy"))) == len(SUPPORTED_ARRAYS)
    monkeypatch.chdir(FIXTURES)  # numcodecs keeps its fixtures under ./fixture/<codec_id>
    codecs = [UniCompress(max_error=0), UniCompress(max_error=0, index_search="encoder")]
    common.check_backwards_compatibility(UniCompress.codec_id, SUPPORTED_ARRAYS, codecs)


@pytest.mark.parametrize("order", ["C", "F"])
def test_zarr_v2_array_in_either_order(order: str) -> None:
    import zarr
    from zarr.storage import MemoryStore

    data = _rng.integers(0, 4000, size=(6, 40, 24)).astype("u2")
    arr = zarr.create_array(MemoryStore(), shape=data.shape, chunks=(4, 32, 16), dtype="u2", zarr_format=2,
                            order=order, compressors=UniCompress(max_error=0), filters=None)
    arr[:] = data
    np.testing.assert_array_equal(arr[:], data)

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zarr_unicompress.bitstream import (
    FLAG_RESIDUAL, MAGIC, ChunkHeader, ChunkSections, pack_chunk, unpack_chunk)
from zarr_unicompress.errors import ChunkCorrupt, UnsupportedInput


def _stream() -> bytes:
    header = ChunkHeader(FLAG_RESIDUAL, np.dtype("uint16"), (3, 5, 7), b"d" * 16, 10, 900, 4, 0, 0, 0)
    return pack_chunk(header, ChunkSections(b"tab", b"cls", b"wordword"))


def test_header_round_trip() -> None:
    header, sections = unpack_chunk(_stream())
    assert header.shape == (3, 5, 7) and header.dtype == np.uint16
    assert (header.lo, header.hi, header.max_error) == (10, 900, 4)
    assert header.has_residual and not header.is_constant
    assert (sections.tables, sections.classes, sections.words) == (b"tab", b"cls", b"wordword")


def test_every_truncation_is_rejected() -> None:
    data = _stream()
    for cut in range(len(data)):
        with pytest.raises(ChunkCorrupt):
            unpack_chunk(data[:cut])


def test_wrong_magic_and_version() -> None:
    data = bytearray(_stream())
    with pytest.raises(ChunkCorrupt, match="magic"):
        unpack_chunk(b"XXXX" + bytes(data[4:]))
    data[4] = 99
    with pytest.raises(ChunkCorrupt):  # checksum catches it first; version is checked after
        unpack_chunk(bytes(data))


def test_unsupported_dtype_refused() -> None:
    header = ChunkHeader(0, np.dtype("float32"), (1, 1, 1), b"d" * 16, 0, 0, None, 0, 0, 0)
    with pytest.raises(UnsupportedInput, match="float32"):
        pack_chunk(header, ChunkSections(b"", b"", b""))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=8 * len(_stream()) - 1))
def test_any_single_bit_flip_is_rejected(bit: int) -> None:
    data = bytearray(_stream())
    data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ChunkCorrupt):
        unpack_chunk(bytes(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        unpack_chunk(MAGIC + data)
    except ChunkCorrupt:
        pass

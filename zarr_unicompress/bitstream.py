"""Chunk bitstream: fixed header, variable sections, trailing CRC32.

Layout (little endian)::

    magic    4s   b"UCZ1"
    version  u8   FORMAT_VERSION
    flags    u8   FLAG_CONSTANT | FLAG_RESIDUAL | FLAG_WAVELET | FLAG_FLAT_BASE | FLAG_ZERO_BLOCKS
                  | FLAG_RANS
    dtype    u8   index into DTYPE_CODES
    coder    u8   the coder that wrote the chunk (:mod:`.runtime.coders`): 0 for the modes of
                  v0.4 and earlier, told apart by the flags (the byte was reserved, always 0)
    shape    3*u32   chunk shape in voxels (z, y, x)
    digest   16s  first 16 bytes of the model's sha256
    lo, hi   2*i32   intensity range used for normalisation (or the constant value)
    max_err  u32  residual bound in intensity units (0xFFFFFFFF: no residual)
    tables   u32  byte length of the frequency-table section
    classes  u32  byte length of the side-info section (voxel residual: class map;
                  wavelet residual: wavelet parameters)
    words    u32  byte length of the entropy coder's word section
    ... sections ...
    crc32    u32  zlib.crc32 of every preceding byte

This module only converts between bytes and fields; it knows nothing of models.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import ChunkCorrupt, UnsupportedInput

MAGIC = b"UCZ1"
FORMAT_VERSION = 1
FLAG_CONSTANT = 1
FLAG_RESIDUAL = 2
#: the residual is coded as quantised wavelet coefficients (ratio mode) instead of voxels.
FLAG_WAVELET = 4
#: the prediction is one flat value instead of the INR (no codebook indices in the stream).
FLAG_FLAT_BASE = 8
#: (with FLAG_WAVELET) each band is coded as one all-zero flag per 4 x 4 block and the
#: coefficients of the other blocks; without it, every coefficient (streams of v0.2.0-v0.2.4).
FLAG_ZERO_BLOCKS = 16
#: the word section is the interleaved rANS coder's (:mod:`.runtime.rans`, v0.4.0 on); without
#: it, constriction's ANS words (streams of v0.1-v0.3, and chunks whose frequency tables would
#: cost rANS more than 0.5 % over their entropy: see :func:`.runtime.rans.frequencies_if_affordable`).
FLAG_RANS = 32
_KNOWN_FLAGS = FLAG_CONSTANT | FLAG_RESIDUAL | FLAG_WAVELET | FLAG_FLAT_BASE | FLAG_ZERO_BLOCKS | FLAG_RANS
NO_RESIDUAL = 0xFFFFFFFF

#: dtypes the codec encodes, by their code in the header.
DTYPE_CODES: tuple[str, ...] = ("uint8", "uint16", "int8", "int16")

#: the largest chunk, in voxels, a stream may declare (2**31: 2 GiB of uint8).
MAX_CHUNK_VOXELS = 2**31

_HEADER = struct.Struct("<4sBBBB3I16s2iIIII")
HEADER_SIZE = _HEADER.size
_CRC = struct.Struct("<I")


def dtype_code(dtype: np.dtype) -> int:
    """Return the header code of ``dtype``; raise :class:`UnsupportedInput` if not supported."""
    name = np.dtype(dtype).name
    if name not in DTYPE_CODES:
        raise UnsupportedInput(
            f"dtype {name} is not supported by UniCompress; supported dtypes are "
            f"{', '.join(DTYPE_CODES)}. Convert the array (e.g. scale float data to uint16) first."
        )
    return DTYPE_CODES.index(name)


@dataclass(frozen=True)
class ChunkHeader:
    """Decoded header fields of one chunk stream."""

    flags: int
    dtype: np.dtype
    shape: tuple[int, int, int]
    digest: bytes
    lo: int
    hi: int
    max_error: int | None
    tables_len: int
    classes_len: int
    words_len: int
    #: the coder byte: which coder of :mod:`.runtime.coders` wrote the chunk (0: the modes of
    #: v0.4 and earlier, told apart by ``flags``).
    coder: int = 0

    @property
    def is_constant(self) -> bool:
        return bool(self.flags & FLAG_CONSTANT)

    @property
    def has_residual(self) -> bool:
        return bool(self.flags & FLAG_RESIDUAL)

    @property
    def has_wavelet_residual(self) -> bool:
        return bool(self.flags & FLAG_WAVELET)

    @property
    def has_flat_base(self) -> bool:
        return bool(self.flags & FLAG_FLAT_BASE)

    @property
    def has_zero_blocks(self) -> bool:
        return bool(self.flags & FLAG_ZERO_BLOCKS)

    @property
    def uses_rans(self) -> bool:
        return bool(self.flags & FLAG_RANS)


@dataclass(frozen=True)
class ChunkSections:
    """The variable-length sections of a chunk stream, as raw bytes."""

    tables: bytes
    classes: bytes
    words: bytes


def packed_size(sections: ChunkSections) -> int:
    """Bytes of the stream :func:`pack_chunk` makes of any header and ``sections``."""
    return HEADER_SIZE + len(sections.tables) + len(sections.classes) + len(sections.words) + _CRC.size


def pack_chunk(header: ChunkHeader, sections: ChunkSections) -> bytes:
    """Serialise a header and its sections, appending the CRC32 of all of it."""
    head = _HEADER.pack(
        MAGIC,
        FORMAT_VERSION,
        header.flags,
        dtype_code(header.dtype),
        header.coder,
        *header.shape,
        header.digest[:16],
        header.lo,
        header.hi,
        NO_RESIDUAL if header.max_error is None else header.max_error,
        len(sections.tables),
        len(sections.classes),
        len(sections.words),
    )
    body = b"".join((head, sections.tables, sections.classes, sections.words))
    return body + _CRC.pack(zlib.crc32(body))


def declared_output(buf: bytes | memoryview) -> tuple[tuple[int, int, int], np.dtype]:
    """The shape (z, y, x) and dtype a stream declares, read from its fixed header only (no
    checksum: O(1) whatever the stream's length), so that a caller can refuse an output too
    large for it before :func:`unpack_chunk` and the decoder allocate anything.

    Raises :class:`ChunkCorrupt` for a stream too short for a header, without the magic, or
    with an unknown dtype code.
    """
    view = memoryview(buf).cast("B") if not isinstance(buf, bytes) else memoryview(buf)
    if len(view) < HEADER_SIZE + _CRC.size:
        raise ChunkCorrupt(
            f"chunk stream is {len(view)} bytes, shorter than the {HEADER_SIZE + _CRC.size}-byte "
            "minimum; the chunk is truncated or is not a UniCompress chunk"
        )
    fields = _HEADER.unpack_from(view, 0)
    if fields[0] != MAGIC:
        raise ChunkCorrupt(
            f"chunk does not start with UniCompress magic {MAGIC!r} (found {fields[0]!r}); "
            "it was written by another codec or is damaged"
        )
    if fields[3] >= len(DTYPE_CODES):
        raise ChunkCorrupt(f"chunk header names unknown dtype code {fields[3]}; the chunk is damaged")
    return (fields[5], fields[6], fields[7]), np.dtype(DTYPE_CODES[fields[3]])


def unpack_chunk(buf: bytes | memoryview) -> tuple[ChunkHeader, ChunkSections]:
    """Parse and verify a chunk stream.

    Raises :class:`ChunkCorrupt` when the stream is truncated, fails its checksum,
    has an unknown magic or version, or declares sizes that do not add up.
    """
    data = bytes(buf)
    if len(data) < HEADER_SIZE + _CRC.size:
        raise ChunkCorrupt(
            f"chunk stream is {len(data)} bytes, shorter than the {HEADER_SIZE + _CRC.size}-byte "
            "minimum; the chunk is truncated or is not a UniCompress chunk"
        )
    if data[:4] != MAGIC:
        raise ChunkCorrupt(
            f"chunk does not start with UniCompress magic {MAGIC!r} (found {data[:4]!r}); "
            "it was written by another codec or is damaged"
        )
    (stored_crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    computed = zlib.crc32(data[: -_CRC.size])
    if stored_crc != computed:
        raise ChunkCorrupt(
            f"chunk checksum mismatch: stored 0x{stored_crc:08x}, computed 0x{computed:08x}; "
            "the chunk is damaged or truncated"
        )
    (_, version, flags, dcode, coder, sz, sy, sx, digest, lo, hi, max_err, t_len, c_len, w_len) = (
        _HEADER.unpack_from(data, 0)
    )
    if version != FORMAT_VERSION:
        raise ChunkCorrupt(
            f"chunk format version {version} is not supported (this build reads version "
            f"{FORMAT_VERSION}); upgrade zarr-unicompress"
        )
    if dcode >= len(DTYPE_CODES):
        raise ChunkCorrupt(f"chunk header names unknown dtype code {dcode}; the chunk is damaged")
    if flags & ~_KNOWN_FLAGS:
        raise ChunkCorrupt(f"chunk header has unknown flag bits 0x{flags:02x}; the chunk is damaged "
                           "or was written by a newer zarr-unicompress")
    if flags & FLAG_ZERO_BLOCKS and not flags & FLAG_WAVELET:
        raise ChunkCorrupt(f"chunk header flags 0x{flags:02x} ask for zero blocks without a wavelet "
                           "residual; the chunk is damaged")
    shape = (sz, sy, sx)
    if min(shape) < 1 or sz * sy * sx > MAX_CHUNK_VOXELS:
        raise ChunkCorrupt(
            f"chunk header declares shape {shape}, which is empty or larger than "
            f"{MAX_CHUNK_VOXELS} voxels; the chunk is damaged"
        )
    body_len = len(data) - HEADER_SIZE - _CRC.size
    if t_len + c_len + w_len != body_len:
        raise ChunkCorrupt(
            f"chunk sections declare {t_len + c_len + w_len} bytes but the stream holds {body_len}; "
            "the chunk is damaged"
        )
    header = ChunkHeader(
        flags=flags,
        dtype=np.dtype(DTYPE_CODES[dcode]),
        shape=shape,
        digest=digest,
        lo=lo,
        hi=hi,
        max_error=None if max_err == NO_RESIDUAL else max_err,
        tables_len=t_len,
        classes_len=c_len,
        words_len=w_len,
        coder=coder,
    )
    pos = HEADER_SIZE
    tables = data[pos : pos + t_len]
    classes = data[pos + t_len : pos + t_len + c_len]
    words = data[pos + t_len + c_len : pos + body_len]
    return header, ChunkSections(tables=tables, classes=classes, words=words)

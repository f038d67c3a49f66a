"""The interface every coder implements: chunk, model and settings in, header and sections out;
header, sections and model in, chunk out."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ...bitstream import ChunkHeader, ChunkSections
from ..inr.model import RuntimeModel
from ..quality import QualitySettings


class Coder:
    """One quality mode's encoder and decoder, side by side.

    Attributes:
        coder_id: the header's coder byte (0: a mode of v0.4 and earlier, told apart by flags).
        name: a short name for messages and tests.
    """

    coder_id: ClassVar[int] = 0
    name: ClassVar[str] = ""

    def wants(self, settings: QualitySettings) -> bool:
        """Whether this coder encodes (non-constant) chunks with ``settings``."""
        raise NotImplementedError

    def reads(self, header: ChunkHeader) -> bool:
        """For coder id 0 only: whether a stream with these header flags is this coder's."""
        return False

    def encode(self, chunk: np.ndarray, model: RuntimeModel,
               settings: QualitySettings) -> tuple[ChunkHeader, ChunkSections]:
        """Code a 3D chunk (z, y, x) of a supported dtype in native byte order: its header
        (lengths 0; :func:`~zarr_unicompress.bitstream.pack_chunk` counts them) and sections."""
        raise NotImplementedError

    def decode(self, header: ChunkHeader, sections: ChunkSections, model: RuntimeModel) -> np.ndarray:
        """The chunk (z, y, x) in ``header.dtype`` from a stream whose CRC, model, shape, dtype
        and range were checked; raises ChunkCorrupt for what the sections cannot hold."""
        return self.finish(model, self.open(header, sections, model))

    def open(self, header: ChunkHeader, sections: ChunkSections, model: RuntimeModel) -> object:
        """All of :meth:`decode` that must run where the stream is (entropy decoding and every
        check), leaving :meth:`finish` to run elsewhere; by default all of it."""
        return self.decode(header, sections, model)

    def finish(self, model: RuntimeModel, opened: object) -> np.ndarray:
        """The chunk from what :meth:`open` returned (by default that is the chunk)."""
        assert isinstance(opened, np.ndarray)
        return opened


def chunk_header(coder: Coder, flags: int, chunk: np.ndarray, model: RuntimeModel, lo: int, hi: int,
                 max_error: int | None = None) -> ChunkHeader:
    """The header of ``chunk`` (z, y, x) coded by ``coder`` with ``flags``, intensity range
    [lo, hi] and residual bound ``max_error`` (section lengths 0: :func:`pack_chunk` sets them)."""
    digest = bytes.fromhex(model.digest)[:16]
    return ChunkHeader(flags, chunk.dtype, chunk.shape, digest, lo, hi, max_error, 0, 0, 0, coder.coder_id)

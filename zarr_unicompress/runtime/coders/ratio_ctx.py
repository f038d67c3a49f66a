"""``ratio=R`` with context coding (coder id 3, v0.6 on): the 3D ratio coder's transform, z-level
choice, quantiser and zero blocks (:mod:`.ratio3d`), with each band's values coded by the
contexts of :mod:`..entropy.contexts` and tables from the per-array model
(:mod:`..entropy.context_tables`) or from the stream, whichever costs fewer bits.

Which chunks: those of at least :data:`.ratio.ZERO_BLOCK_MIN_VOXELS` voxels with a 2D level
(smaller ones, and chunks where the INR base wins in 2D, are coded by :class:`.ratio3d.Ratio3DCoder`
as in v0.5: coder-2 or coder-0 streams). 0 z levels are allowed here (2D chunks about a flat base).

Stream: header flags WAVELET | FLAT_BASE | ZERO_BLOCKS (| RANS for the ordinary groups);
- classes section: :class:`ContextParams` (step, 2D levels, flat base, z levels 0..3, the first
  8 bytes of the model tables' sha256 or zeros where no selector names them, the length of the
  context-table section), then the context-table section;
- tables section: the ordinary groups' tables (:mod:`..entropy.groups`);
- words section: the ordinary words' length (uint32 LE), the ordinary words, the context words.
Ordinary groups and their order: :mod:`..entropy.contexts`. Bands in :mod:`.ratio3d`'s order
(z-band major, 2D band minor); band b's parent is band b - 3 where b is a 2D band of level >= 2
within its z-band.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from ...bitstream import (FLAG_FLAT_BASE, FLAG_RANS, FLAG_WAVELET, FLAG_ZERO_BLOCKS, HEADER_SIZE, ChunkHeader,
                          ChunkSections)
from ...errors import ChunkCorrupt
from .. import numba_support
from ..entropy.context_kernels import ALPHABET_HALF, N_CONTEXTS
from ..entropy.context_tables import MAX_TABLES
from ..entropy.contexts import MAX_ESCAPE, ContextDecoder, ContextEncoder, fill_values, scratch_band, tables_of
from ..entropy.groups import GroupDecoder, encode_groups
from ..inr.model import RuntimeModel
from ..quality import QualitySettings
from ..transform import cdf97_z
from ..transform.compiled_synthesis import synthesize_dequantized
from ..transform.wavelet_residual import MAX_LEVELS, ZERO_BLOCK, band_shapes, block_grid, levels_for
from .base import Coder, chunk_header
from .ratio import ZERO_BLOCK_MIN_VOXELS, encode_wavelet_residual, search_step
from .ratio3d import _RATIO_2D, Ratio3DCoder, _empty_planes

_PARAMS = struct.Struct("<fBiB8sI")
_WORDS = struct.Struct("<I")
#: header, checksum, parameter and word-length bytes of a coder-3 stream.
_FIXED_BYTES = HEADER_SIZE + 4 + _PARAMS.size + _WORDS.size
#: a stream of at least this share of the budget is kept. The size estimate counts the bands as
#: coders 0 and 2 code them (one table per band), which the contexts undercut by 1-7 %: the first
#: stream falls short of the budget and the search corrects the estimate by its size
#: (:func:`.ratio.search_step`); with the 2-point window of coders 0 and 2, a stream 1-2 % short
#: was kept, giving back what the contexts saved.
ACCEPT_LOW = 0.99


@dataclass(frozen=True)
class ContextParams:
    """Side information of a coder-3 stream: quantiser step (intensity units, float32-exact), 2D
    levels, flat base (intensity units), z levels (0..MAX_Z_LEVELS), the model tables' digest
    prefix (8 bytes, zeros: no model table used) and the context-table section's length (bytes)."""

    step: float
    levels: int
    flat_value: int
    z_levels: int
    tables_digest: bytes
    section_bytes: int

    def pack(self) -> bytes:
        return _PARAMS.pack(self.step, self.levels, self.flat_value, self.z_levels, self.tables_digest,
                            self.section_bytes)

    @classmethod
    def unpack(cls, data: bytes) -> tuple[ContextParams, bytes]:
        """The parameters at the start of a classes section and the context-table section after them."""
        if len(data) < _PARAMS.size:
            raise ChunkCorrupt(f"chunk context parameters are {len(data)} bytes, expected at least {_PARAMS.size}")
        step, levels, flat, z_levels, digest, section = _PARAMS.unpack_from(data, 0)
        if (not (math.isfinite(step) and step > 0) or levels > MAX_LEVELS or z_levels > cdf97_z.MAX_Z_LEVELS
                or len(data) != _PARAMS.size + section):
            raise ChunkCorrupt(f"chunk context parameters are invalid (step {step}, levels {levels}, z levels "
                               f"{z_levels}, section {section} of {len(data) - _PARAMS.size} bytes); "
                               "the chunk is damaged")
        return cls(step, levels, flat, z_levels, digest, section), bytes(data[_PARAMS.size:])


def band_layout(shape: tuple[int, int, int], levels: int,
                z_levels: int) -> tuple[list[tuple[int, int, int]], list[int | None]]:
    """Coding-order band shapes of a chunk of ``shape`` and each band's parent index (or None)."""
    per_z = band_shapes(shape, levels)
    shapes, parents = [], []
    for zs in cdf97_z.z_bands(shape[0], z_levels):
        for k, (_, y, x) in enumerate(per_z):
            parents.append(len(shapes) - 3 if k >= 4 else None)
            shapes.append((zs.stop - zs.start, y, x))
    return shapes, parents


class RatioContextCoder(Coder):
    """Settings with ``ratio``: :class:`.ratio3d.Ratio3DCoder`'s choices, bands context coded."""

    coder_id = 3
    name = "ratio contexts"

    def __init__(self, z_levels: tuple[int, ...] | None = None, model_tables: bool = True,
                 contexts: bool = True) -> None:
        """``z_levels``: the candidates (as :class:`.ratio3d.Ratio3DCoder`); ``model_tables``:
        False codes every context with a table in the stream (no model tables); ``contexts``:
        False codes every band as one group with its table in the stream, as coder 2 does (the
        learned part off). Both are ablations for benchmarks/bench_volume_rd.py."""
        self._ratio3d = Ratio3DCoder(z_levels)
        self._model_tables = model_tables
        self._contexts = contexts

    def wants(self, settings: QualitySettings) -> bool:
        return settings.ratio is not None

    def encode(self, chunk: np.ndarray, model: RuntimeModel,
               settings: QualitySettings) -> tuple[ChunkHeader, ChunkSections]:
        assert settings.ratio is not None
        if chunk.size < ZERO_BLOCK_MIN_VOXELS or levels_for(chunk.shape) == 0:
            return self._ratio3d.encode(chunk, model, settings)
        lo, hi = int(chunk.min()), int(chunk.max())
        budget = chunk.nbytes / settings.ratio
        choice = self._ratio3d._choose(chunk, lo, hi, budget, model, settings.index_search, keep_2d=True)
        if choice is None:  # the INR base wins in 2D
            return encode_wavelet_residual(_RATIO_2D, model, chunk, settings)
        z_levels, flat, units, estimator, step = choice
        levels = levels_for(chunk.shape)
        shapes, parents = band_layout(chunk.shape, levels, z_levels)
        tables = tables_of(model) if self._model_tables else None

        def pack(step: float) -> tuple[ChunkHeader, ChunkSections]:
            coder = ContextEncoder(tables, self._contexts)
            groups = units.groups(step)
            banded = []
            for b, (shape, parent) in enumerate(zip(shapes, parents)):
                flags, values = groups[2 * b], groups[2 * b + 1]
                banded += [flags, coder.add_band(flags, values, shape, parent)]
            ordinary = [np.array(coder.modes, np.uint8), coder.selectors()] + banded
            table_bytes, words, uses_rans = encode_groups(ordinary)
            section, context_words = coder.finish()
            digest = bytes.fromhex(tables.digest[:16]) if coder.uses_model and tables is not None else bytes(8)
            params = ContextParams(float(np.float32(step)), levels, flat, z_levels, digest, len(section))
            flags = FLAG_WAVELET | FLAG_FLAT_BASE | FLAG_ZERO_BLOCKS | (FLAG_RANS if uses_rans else 0)
            all_words = _WORDS.pack(len(words)) + words + context_words
            sections = ChunkSections(table_bytes, params.pack() + section, all_words)
            return chunk_header(self, flags, chunk, model, lo, hi), sections

        return search_step(pack, estimator, budget, lambda size: 8 * (size - _FIXED_BYTES), hi - lo, step,
                           ACCEPT_LOW)

    def open(self, header: ChunkHeader, sections: ChunkSections, model: RuntimeModel) -> np.ndarray:
        """The chunk, reconstructed on the CPU (as coder 2's)."""
        return self.decode(header, sections, model)

    def decode(self, header: ChunkHeader, sections: ChunkSections, model: RuntimeModel) -> np.ndarray:
        params, section = _checked_params(header, sections)
        words = sections.words
        if len(words) < _WORDS.size or _WORDS.unpack_from(words, 0)[0] > len(words) - _WORDS.size:
            raise ChunkCorrupt("chunk context-coder word section is shorter than its ordinary words; it is damaged")
        split = _WORDS.size + _WORDS.unpack_from(words, 0)[0]
        decoder = GroupDecoder(sections.tables, words[_WORDS.size:split], header.uses_rans)
        shapes, parents = band_layout(header.shape, params.levels, params.z_levels)
        modes = decoder.next(len(shapes), dtype=np.uint8, magnitude_limit=2)
        n_context = int(np.count_nonzero(modes))
        selectors = decoder.next(n_context * N_CONTEXTS, dtype=np.int64, magnitude_limit=2 + MAX_TABLES)
        if selectors.size and int(selectors.min()) < 0:
            raise ChunkCorrupt("chunk holds a negative context-table selector; the chunk is damaged")
        tables = None
        if params.tables_digest != bytes(8):
            tables = tables_of(model)
            if bytes.fromhex(tables.digest[:16]) != params.tables_digest:
                raise ChunkCorrupt(f"chunk was coded with ratio tables {params.tables_digest.hex()}, this array's "
                                   f"model has {tables.digest[:16]}; the chunk belongs to another array or is damaged")
        contexts = ContextDecoder(section, words[split:], selectors.reshape(n_context, N_CONTEXTS), tables)
        planes, offsets, plane_shapes, buffer = _empty_planes(header.shape, params.levels)
        step = np.float32(params.step)
        compiled = numba_support.loops("transform.synthesis_loops")
        # a band's scratch copy is read by its children's contexts: needed where a child is context coded
        needed = [False] * len(shapes)
        for child, parent in enumerate(parents):
            if parent is not None and modes[child]:
                needed[parent] = True
        scratches: list[np.ndarray | None] = []
        b = 0
        with np.errstate(over="ignore", invalid="ignore"):  # a forged stream may overflow: checked below
            for zs in cdf97_z.z_bands(header.shape[0], params.z_levels):
                for plane in planes:
                    target = plane[zs]
                    nonzero = decoder.next(math.prod(block_grid(target.shape)), dtype=np.uint8, magnitude_limit=2)
                    n = int(np.count_nonzero(nonzero)) * ZERO_BLOCK**2
                    scratch = scratch_band(target.shape) if modes[b] or needed[b] else None
                    if modes[b]:
                        parent = None if parents[b] is None else scratches[parents[b]]
                        values = contexts.next_band(nonzero, scratch, parent, n)
                        _add_escapes(decoder, values)
                    else:
                        values = decoder.next_narrow(n)
                        if scratch is not None:
                            fill_values(nonzero, values, scratch)
                    scratches.append(scratch)
                    compiled.dequantize_blocks(nonzero, values, step, target)
                    b += 1
            decoder.finish()
            contexts.finish()
            for plane in planes:
                cdf97_z.inverse_in_place(plane, params.z_levels)
        out = np.empty(header.shape, header.dtype)
        synthesize_dequantized(compiled, buffer, offsets, plane_shapes, params.levels,
                               np.float32(params.flat_value), header.lo, header.hi, out)
        return out


def _add_escapes(decoder: GroupDecoder, values: np.ndarray) -> None:
    """Add to ``values`` (int32, symbols clipped to +-ALPHABET_HALF) the escape group's
    magnitudes beyond ALPHABET_HALF, in value order."""
    clipped = np.flatnonzero(np.abs(values) == ALPHABET_HALF)
    extra = decoder.next(len(clipped), dtype=np.int64, magnitude_limit=MAX_ESCAPE)
    if extra.size and int(extra.min()) < 0:
        raise ChunkCorrupt("chunk holds a negative escape magnitude; the chunk is damaged")
    values[clipped] += (np.sign(values[clipped]) * extra).astype(np.int32)


def _checked_params(header: ChunkHeader, sections: ChunkSections) -> tuple[ContextParams, bytes]:
    needed = FLAG_WAVELET | FLAG_FLAT_BASE | FLAG_ZERO_BLOCKS
    if header.flags & needed != needed or header.has_residual:
        raise ChunkCorrupt(f"chunk of the context ratio coder has flags 0x{header.flags:02x} without the wavelet, "
                           "flat-base and zero-block flags; the chunk is damaged")
    params, section = ContextParams.unpack(sections.classes)
    if params.levels != levels_for(header.shape) or params.levels == 0:
        raise ChunkCorrupt(f"chunk declares {params.levels} wavelet levels where its shape needs "
                           f"{levels_for(header.shape)}; the chunk is damaged")
    if params.z_levels > cdf97_z.max_levels(header.shape[0]):
        raise ChunkCorrupt(f"chunk declares {params.z_levels} z levels for {header.shape[0]} slices; the chunk "
                           "is damaged")
    if not header.lo <= params.flat_value <= header.hi:
        raise ChunkCorrupt("chunk flat base lies outside its intensity range; the chunk is damaged")
    return params, section

"""``ratio=R`` for volumes (coder id 2): the ratio mode with a wavelet along z where it pays.

Per chunk, the encoder compares 0..:data:`.cdf97_z.MAX_Z_LEVELS` levels of the CDF 9/7 wavelet
along z (on top of the per-slice 2D CDF 9/7 of :mod:`.ratio`) by the quantiser step each
needs to fit ``nbytes / R`` (size estimates of :mod:`..quantize.rate_control`): the smallest
step gives the lowest error, since the bands of every choice are near orthonormal. Isotropic
volumes (FIB-SEM) take 2-3 z levels, serial sections none, without a setting.

- 0 z levels: the chunk is coded by :class:`.ratio.RatioCoder` itself (a coder-0 stream,
  byte for byte today's 2D ratio stream, INR or flat base), so 2D chunks lose nothing.
- 1..3 z levels: a coder-2 stream: the chunk minus its flat base (mean, rounded), 2D CDF 9/7
  per slice, then the z wavelet (:mod:`..transform.cdf97_z`) of every 2D band; the bands are
  (z-band x 2D band), z-bands coarse to fine (low_L, high_L, ..., high_1), 2D bands in
  :mod:`.ratio`'s order within each, each coded like a 2D band of :mod:`.ratio` (zero-block
  flags and values, dead-zone quantiser with one step, tables in the stream). The side-info
  section holds :class:`Wavelet3DParams`.

Decode: dequantise into the 2D bands (each z-band is a range along z of its 2D band), inverse
z wavelet per 2D band, then the 2D synthesis, base, rounding and clipping of :mod:`.ratio`
(the loops of :mod:`..transform.synthesis_loops`). Coder-2 chunks are reconstructed on the CPU when opened (the
torch reconstruction takes coder-0 chunks; coder-2 ones come back decoded from
:func:`..opening.open_chunk`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ...bitstream import (FLAG_FLAT_BASE, FLAG_RANS, FLAG_WAVELET, FLAG_ZERO_BLOCKS, HEADER_SIZE, ChunkHeader,
                          ChunkSections)
from ...errors import ChunkCorrupt
from .. import numba_support
from ..entropy.groups import GroupDecoder, encode_groups
from ..inr.model import RuntimeModel
from ..quality import QualitySettings
from ..quantize.band_units import BandUnits
from ..quantize.base_choice import inr_base_wins
from ..quantize.rate_control import SizeEstimator
from ..transform import cdf97, cdf97_z
from ..transform.compiled_synthesis import synthesize_dequantized
from ..transform.wavelet_residual import MAX_LEVELS, ZERO_BLOCK, band_shapes, block_grid, levels_for
from .base import Coder, chunk_header
from .ratio import _AIM, ZERO_BLOCK_MIN_VOXELS, RatioCoder, encode_wavelet_residual, search_step

_PARAMS = struct.Struct("<fBiB")
#: header, checksum and parameter bytes of a coder-2 stream.
_FIXED_BYTES = HEADER_SIZE + 4 + _PARAMS.size
_RATIO_2D = RatioCoder()
#: share of each 2D band's columns on which the z-level candidates are compared (encode time:
#: the candidates cost a quarter of lifting the whole chunk once per candidate).
CHOICE_SHARE = 0.25


@dataclass(frozen=True)
class Wavelet3DParams:
    """Side information of a coder-2 stream: quantiser step (intensity units, float32-exact),
    2D levels, flat base (intensity units) and z levels (1..MAX_Z_LEVELS)."""

    step: float
    levels: int
    flat_value: int
    z_levels: int

    def pack(self) -> bytes:
        return _PARAMS.pack(self.step, self.levels, self.flat_value, self.z_levels)

    @classmethod
    def unpack(cls, data: bytes) -> Wavelet3DParams:
        if len(data) != _PARAMS.size:
            raise ChunkCorrupt(f"chunk 3D wavelet parameters are {len(data)} bytes, expected {_PARAMS.size}")
        step, levels, flat, z_levels = _PARAMS.unpack(data)
        if not (math.isfinite(step) and step > 0) or levels > MAX_LEVELS or not 1 <= z_levels <= cdf97_z.MAX_Z_LEVELS:
            raise ChunkCorrupt(f"chunk 3D wavelet parameters are invalid (step {step}, levels {levels}, "
                               f"z levels {z_levels}); the chunk is damaged")
        return cls(step, levels, flat, z_levels)


class Ratio3DCoder(Coder):
    """Settings with ``ratio``: z levels chosen per chunk; 0 z levels go to :class:`.ratio.RatioCoder`."""

    coder_id = 2
    name = "ratio 3D"

    def __init__(self, z_levels: tuple[int, ...] | None = None) -> None:
        """``z_levels``: the candidates (default: all a chunk allows); ``(0,)`` codes every chunk
        in 2D (today's ratio mode: the ablation of benchmarks/bench_volume_rd.py)."""
        self._candidates = z_levels

    def wants(self, settings: QualitySettings) -> bool:
        return settings.ratio is not None

    def encode(self, chunk: np.ndarray, model: RuntimeModel,
               settings: QualitySettings) -> tuple[ChunkHeader, ChunkSections]:
        assert settings.ratio is not None
        lo, hi = int(chunk.min()), int(chunk.max())
        budget = chunk.nbytes / settings.ratio
        choice = self._choose(chunk, lo, hi, budget, model, settings.index_search)
        if choice is None:
            return encode_wavelet_residual(_RATIO_2D, model, chunk, settings)
        z_levels, flat, units, estimator, step = choice
        levels = levels_for(chunk.shape)

        def pack(step: float) -> tuple[ChunkHeader, ChunkSections]:
            tables, words, uses_rans = encode_groups(units.groups(step))
            flags = FLAG_WAVELET | FLAG_FLAT_BASE | (FLAG_ZERO_BLOCKS if units.zero_blocks else 0)
            flags |= FLAG_RANS if uses_rans else 0
            params = Wavelet3DParams(float(np.float32(step)), levels, flat, z_levels)
            return chunk_header(self, flags, chunk, model, lo, hi), ChunkSections(tables, params.pack(), words)

        return search_step(pack, estimator, budget, lambda size: 8 * (size - _FIXED_BYTES), hi - lo, step)

    def _choose(self, chunk: np.ndarray, lo: int, hi: int, budget: float, model: RuntimeModel,
                index_search: str, keep_2d: bool = False) -> tuple[int, int, BandUnits, SizeEstimator, float] | None:
        """(z levels, flat base, coding units, their estimator, budget step) of the candidate
        with the smallest step that fits ``budget``, or None where 0 z levels win (unless
        ``keep_2d``: then the 2D units about the flat base), or where the INR base would win in
        2D (:func:`..quantize.base_choice.inr_base_wins`, as the 2D coder asks it; the 3D
        streams have a flat base only; with ``keep_2d`` asked only where 0 z levels win).

        The candidates are compared on a band of columns of every 2D band (CHOICE_SHARE of the
        x extent, the middle one, whole zero blocks): the z wavelet works along z only, so these
        columns get exactly the coefficients they get in the whole chunk; the budget and the
        tables count that share. Only the winner is then lifted whole."""
        top = cdf97_z.max_levels(chunk.shape[0])
        candidates = [z for z in (self._candidates or range(top + 1)) if z <= top]
        levels = levels_for(chunk.shape)
        if levels == 0 or not (any(candidates) or keep_2d):  # no z levels possible, or slices too small
            return None
        zero_blocks = chunk.size >= ZERO_BLOCK_MIN_VOXELS
        flat = int(np.clip(np.rint(chunk.mean(dtype=np.float64)), lo, hi))
        planes = cdf97.analyze(chunk, levels, float(flat))  # 2D bands (z, y_b, x_b) of chunk - flat
        payload = 8 * (_AIM * budget - _FIXED_BYTES)
        sample = [_middle_columns(p) for p in planes] if len(candidates) > 1 else planes
        share = sum(p.size for p in sample) / sum(p.size for p in planes)
        steps = []
        for z_levels, bands in _candidate_bands(sample, chunk.shape[0], candidates):
            units = BandUnits.of(bands, zero_blocks)
            steps.append(SizeEstimator(units, table_weight=share).step_for(payload * share, hi - lo))
        z_levels = candidates[int(np.argmin(steps))]
        if z_levels == 0 and not keep_2d:
            return None
        if z_levels == 0 or not keep_2d:
            # the INR base is judged against the flat 2D coding (with keep_2d only where that
            # is the choice: a chunk that z levels code with a coarser step than the flat 2D
            # coding is not given to the INR base for beating the flat 2D coding alone)
            flat_2d = BandUnits.of(planes, zero_blocks)
            estimator_2d = SizeEstimator(flat_2d)
            step_2d = estimator_2d.step_for(payload, hi - lo)
            if inr_base_wins(model, chunk, lo, hi, flat_2d, levels, step_2d, index_search):
                return None
            if z_levels == 0:
                return 0, flat, flat_2d, estimator_2d, step_2d
        units = BandUnits.of(z_band_split(planes, chunk.shape[0], z_levels), zero_blocks)
        estimator = SizeEstimator(units)
        return z_levels, flat, units, estimator, estimator.step_for(payload, hi - lo)

    def open(self, header: ChunkHeader, sections: ChunkSections, model: RuntimeModel) -> np.ndarray:
        """The chunk, reconstructed on the CPU (see the module docstring)."""
        return self.decode(header, sections, model)

    def decode(self, header: ChunkHeader, sections: ChunkSections, model: RuntimeModel) -> np.ndarray:
        params = _checked_params(header, sections)
        decoder = GroupDecoder(sections.tables, sections.words, header.uses_rans)
        planes, offsets, shapes, buffer = _empty_planes(header.shape, params.levels)
        step = np.float32(params.step)
        compiled = numba_support.loops("transform.synthesis_loops")
        with np.errstate(over="ignore", invalid="ignore"):  # a forged stream may overflow: checked below
            for zs in cdf97_z.z_bands(header.shape[0], params.z_levels):
                for plane in planes:
                    _read_band(decoder, header.has_zero_blocks, plane[zs], step, compiled)
            decoder.finish()
            for plane in planes:
                cdf97_z.inverse_in_place(plane, params.z_levels)
        out = np.empty(header.shape, header.dtype)
        synthesize_dequantized(compiled, buffer, offsets, shapes, params.levels, np.float32(params.flat_value),
                               header.lo, header.hi, out)
        return out


def z_band_split(planes: list[np.ndarray], depth: int, z_levels: int) -> list[np.ndarray]:
    """The coding-order bands of the 2D bands ``planes`` (each (depth, y_b, x_b) float32) after
    ``z_levels`` z levels: z-band major, 2D band minor (contiguous float32 copies)."""
    lifted = [cdf97_z.forward(p, z_levels) for p in planes] if z_levels else planes
    return [np.ascontiguousarray(p[zs]) for zs in cdf97_z.z_bands(depth, z_levels) for p in lifted]


def _candidate_bands(planes: list[np.ndarray], depth: int,
                     candidates: list[int]) -> Iterator[tuple[int, list[np.ndarray]]]:
    """(z levels, :func:`z_band_split` of ``planes`` at them) for each of the ``candidates``
    in turn, lifting each 2D band level after level (ascending candidates lift it once; the
    same values as :func:`z_band_split`); the bands are views valid until the next candidate."""
    lifted: list[np.ndarray] = []
    done = 0
    for z_levels in candidates:
        if not lifted or z_levels < done:
            lifted, done = [np.array(p, np.float32, order="C") for p in planes], 0
        for p in lifted:
            cdf97_z.forward_more_in_place(p, done, z_levels)
        done = z_levels
        yield z_levels, [p[zs] for zs in cdf97_z.z_bands(depth, z_levels) for p in lifted]


def _middle_columns(plane: np.ndarray) -> np.ndarray:
    """The middle CHOICE_SHARE of ``plane``'s (z, y, x) columns along x, in whole zero blocks
    (all of them for planes narrower than 4 blocks at that share)."""
    width = plane.shape[2]
    take = int(width * CHOICE_SHARE) // ZERO_BLOCK * ZERO_BLOCK
    if take < 4 * ZERO_BLOCK:
        return plane
    start = (width - take) // 2 // ZERO_BLOCK * ZERO_BLOCK
    return np.ascontiguousarray(plane[:, :, start: start + take])


def _checked_params(header: ChunkHeader, sections: ChunkSections) -> Wavelet3DParams:
    if not (header.has_wavelet_residual and header.has_flat_base) or header.has_residual:
        raise ChunkCorrupt(f"chunk of the 3D ratio coder has flags 0x{header.flags:02x} without the wavelet "
                           "and flat-base flags; the chunk is damaged")
    params = Wavelet3DParams.unpack(sections.classes)
    if params.levels != levels_for(header.shape):
        raise ChunkCorrupt(f"chunk declares {params.levels} wavelet levels where its shape needs "
                           f"{levels_for(header.shape)}; the chunk is damaged")
    if params.z_levels > cdf97_z.max_levels(header.shape[0]):
        raise ChunkCorrupt(f"chunk declares {params.z_levels} z levels for {header.shape[0]} slices; the chunk "
                           "is damaged")
    if not header.lo <= params.flat_value <= header.hi:
        raise ChunkCorrupt("chunk flat base lies outside its intensity range; the chunk is damaged")
    return params


def _empty_planes(shape: tuple[int, int, int],
                  levels: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """The 2D bands of a chunk of ``shape`` as views of one float32 buffer: (bands, their
    offsets (n,) int64, their shapes (n, 3) int64, the buffer)."""
    shapes = band_shapes(shape, levels)
    sizes = [math.prod(s) for s in shapes]
    offsets = np.zeros(len(shapes), np.int64)
    np.cumsum(sizes[:-1], out=offsets[1:])
    buffer = np.empty(int(sum(sizes)), np.float32)
    planes = [buffer[o: o + n].reshape(s) for o, n, s in zip(offsets.tolist(), sizes, shapes)]
    return planes, offsets, np.array(shapes, np.int64).reshape(-1, 3), buffer


def _read_band(decoder: GroupDecoder, zero_blocks: bool, target: np.ndarray, step: np.float32, compiled) -> None:
    """Decode one band into ``target`` (z, y, x) float32 (a C-contiguous range of a 2D band),
    dequantised with ``step``."""
    shape = target.shape
    if not zero_blocks:
        values = decoder.next_narrow(math.prod(shape))
        np.multiply(values.reshape(shape).astype(np.float32), step, out=target)
        return
    nonzero = decoder.next(math.prod(block_grid(shape)), dtype=np.uint8, magnitude_limit=2).view(np.bool_)
    values = decoder.next_narrow(np.count_nonzero(nonzero) * ZERO_BLOCK**2)
    compiled.dequantize_blocks(nonzero.view(np.uint8), values, step, target)

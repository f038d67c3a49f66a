"""Reconstruction of ratio-mode chunks with torch (a GPU, or the CPU), many chunks at a time.

Decoding a ratio-mode chunk has two stages: entropy decoding of the quantised coefficients
(:func:`.opening.open_chunk`: sequential rANS (or constriction's ANS) on a CPU core; run it
in processes with :class:`.parallel_open.ChunkOpener`), then the reconstruction: zero-block
placement, dequantisation, inverse 2D CDF 9/7 per slice (:mod:`.cdf97_torch`), the base (INR
table lookup or flat), rounding and clipping. This module does the second stage on a torch
device for a batch of chunks: chunks of one shape and dtype are stacked along z and every
lifting step is one kernel over the batch. The batch's coefficients travel to the device in
one copy (page-locked for CUDA), its voxels back in one.

Same values as NumPy: the transform is NumPy's float32 operations one by one, the base is the
same integer table, and ``torch.round`` rounds half to even as ``np.rint`` does, so decoded
voxels equal :func:`.chunk_codec.decode_chunk`'s bit for bit (the tests check this on the CPU,
and on a GPU where there is one; RESULTS.md counts differing voxels on an H200: none). The
documented guarantee stays 1 intensity unit (README, determinism).

Torch is imported by the functions that need it only: decoding never requires torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ...errors import ChunkCorrupt, UnsupportedInput
from . import cdf97_torch
from . import decode_device
from ..coders.ratio import CodedWavelet
from ..inr.prediction import scaled_table
from ..opening import open_chunk
from ..inr.model import RuntimeModel
from ..transform.wavelet_residual import ZERO_BLOCK, band_shapes, block_grid

if TYPE_CHECKING:
    import torch

#: chunks reconstructed together at most. More take more device memory (several float32
#: arrays of the batch's size at once); on an H200, 16 instead of 8 chunks of (30, 512, 512)
#: ran the device stage 1.3-1.6x faster at ratios 4-16, but end to end, where the CPU's
#: entropy stage decides, not faster (RESULTS.md v0.3.0, run B).
DEFAULT_MAX_BATCH = 8


def decode_chunks(model: RuntimeModel, buffers: Sequence[bytes | memoryview] | None, device: str,
                  opened: Sequence[np.ndarray | CodedWavelet] | None = None,
                  max_batch: int = DEFAULT_MAX_BATCH) -> list[np.ndarray]:
    """Decode chunk streams to host arrays (z, y, x) in their dtypes, the ratio-mode ones
    reconstructed on the torch ``device`` in batches of up to ``max_batch`` chunks of one
    shape and dtype.

    Give either ``buffers`` (streams, opened here in this process) or ``opened`` (streams
    already entropy-decoded by :func:`.opening.open_chunk`, e.g. by a
    :class:`.parallel_open.ChunkOpener`). Raises :class:`UnsupportedInput` for both or
    neither and where the device runs out of memory (naming max_batch), :class:`ChunkCorrupt` /
    :class:`ModelMismatch` for damaged or foreign streams.
    Unlike :func:`.chunk_codec.decode_chunk`, streams are not checked against an array's chunk
    shape and dtype: callers that know them compare the arrays' ``shape`` and ``dtype``.
    """
    if (buffers is None) == (opened is None):
        raise UnsupportedInput("decode_chunks takes either buffers (streams) or opened (entropy-decoded chunks)")
    if opened is None:
        opened = [open_chunk(model, buf) for buf in buffers]
    out: list[np.ndarray | CodedWavelet] = list(opened)
    positions = [i for i, c in enumerate(opened) if isinstance(c, CodedWavelet)]
    coded = [opened[i] for i in positions]
    for members, group in _reconstruct_groups(model, coded, device, max_batch):
        host = _to_host_view(group)
        depth = group.shape[0] // len(members)
        for k, m in enumerate(members):
            out[positions[m]] = host[k * depth : (k + 1) * depth].astype(coded[m].header.dtype)
    return out  # type: ignore[return-value]


def reconstruct_batch(model: RuntimeModel, coded: Sequence[CodedWavelet], device: str,
                      max_batch: int = DEFAULT_MAX_BATCH) -> list[torch.Tensor]:
    """Reconstruct entropy-decoded ratio-mode chunks on a torch device, in batches of up to
    ``max_batch`` chunks of one shape and dtype.

    Returns one tensor (z, y, x) per chunk, in order, on ``device``: uint8, int8 and int16
    chunks in their own dtype, uint16 chunks as int32 (torch's uint16 has few kernels).
    Raises :class:`ChunkCorrupt` where a chunk's dequantised coefficients overflow float32,
    :class:`UnsupportedInput` where the device runs out of memory (naming max_batch).
    """
    out: list[torch.Tensor | None] = [None] * len(coded)
    for members, group in _reconstruct_groups(model, coded, device, max_batch):
        depth = group.shape[0] // len(members)
        for k, m in enumerate(members):
            out[m] = group[k * depth : (k + 1) * depth]
    return out  # type: ignore[return-value]


def to_host(tensor: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """A tensor of :func:`reconstruct_batch` as a new host array in the chunk's ``dtype``."""
    return _to_host_view(tensor).astype(dtype)


def _reconstruct_groups(model: RuntimeModel, coded: Sequence[CodedWavelet], device: str,
                        max_batch: int) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Per batch of chunks of one shape, dtype and stream version: their positions in ``coded``
    and their voxels stacked along z on the device, in :func:`reconstruct_batch`'s dtype."""
    import torch

    if not isinstance(max_batch, int) or max_batch < 1:
        raise UnsupportedInput(f"max_batch must be an integer >= 1, got {max_batch!r}")
    dev = decode_device.torch_device(device)
    groups: dict[tuple[tuple[int, int, int], bool, np.dtype], list[int]] = {}
    for i, c in enumerate(coded):
        groups.setdefault((c.header.shape, c.header.has_zero_blocks, np.dtype(c.header.dtype)), []).append(i)
    for (shape, _, dtype), members in groups.items():
        for start in range(0, len(members), max_batch):
            batch = members[start : start + max_batch]
            try:
                values = _reconstruct(model, [coded[i] for i in batch], batch, shape, dev)
            except torch.cuda.OutOfMemoryError:
                raise UnsupportedInput(f"{dev} ran out of memory reconstructing {len(batch)} chunks of {shape}; "
                                       "pass a smaller max_batch") from None
            yield batch, values.to(_output_dtype(dtype))


def _output_dtype(dtype: np.dtype) -> torch.dtype:
    """The torch dtype of reconstructed chunks of ``dtype``: uint8, int8 and int16 as
    themselves, uint16 as int32."""
    name = np.dtype(dtype).name
    return _torch_dtype(name if name in ("uint8", "int8", "int16") else "int32")


def _torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a NumPy dtype name (bool, integers, float32)."""
    import torch

    return getattr(torch, name)


def _to_host_view(tensor: torch.Tensor) -> np.ndarray:
    """A NumPy view of ``tensor``'s values in host memory: for a CUDA tensor through one copy
    into page-locked memory (a copy to pageable memory is staged, and slower); callers copy out."""
    import torch

    if tensor.device.type == "cpu":
        return tensor.numpy()
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor)
    return host.numpy()


class _Staging:
    """Host arrays packed into one buffer (page-locked for CUDA) and moved to the device in
    one copy; :meth:`get` gives each back as a 1D device tensor of its dtype."""

    _ALIGN = 8  # bytes: every array starts at a multiple of its item size

    def __init__(self, arrays: list[np.ndarray], dev: torch.device) -> None:
        import torch

        self._layout: list[tuple[int, np.dtype, int]] = []
        offset = 0
        for a in arrays:
            self._layout.append((offset, a.dtype, a.size))
            offset += -(-a.nbytes // self._ALIGN) * self._ALIGN
        host = torch.empty(max(offset, self._ALIGN), dtype=torch.uint8, pin_memory=dev.type == "cuda")
        view = host.numpy()
        for a, (start, _, _) in zip(arrays, self._layout):
            view[start : start + a.nbytes] = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
        self._device = host.to(dev, non_blocking=True)

    def get(self, k: int) -> torch.Tensor:
        start, dtype, size = self._layout[k]
        return self._device[start : start + size * dtype.itemsize].view(_torch_dtype(np.dtype(dtype).name))


def _reconstruct(model: RuntimeModel, coded: list[CodedWavelet], numbers: list[int], shape: tuple[int, int, int],
                 dev: torch.device) -> torch.Tensor:
    """Chunks of one ``shape`` (``numbers``: their positions, for errors) stacked along z:
    float32 (n * z, y, x) on ``dev``, rounded and clipped to each chunk's [lo, hi]."""
    import torch

    depth = shape[0]
    per_slice = np.repeat(np.array([[np.float32(c.params.step), c.header.lo, c.header.hi] for c in coded],
                                   np.float32), depth, axis=0)
    arrays = [per_slice] + [a for c in coded for band in c.bands for a in band if a is not None]
    # an INR base: the chunk's indices and its scaled table (codebook_size, voxels_per_token) int32
    arrays += [a for c in coded if c.indices is not None
               for a in (c.indices, scaled_table(model, c.header.lo, c.header.hi))]
    staged = _Staging(arrays, dev)
    per_slice_dev = staged.get(0).reshape(-1, 3)[:, :, None, None]
    step, lo, hi = per_slice_dev[:, 0], per_slice_dev[:, 1], per_slice_dev[:, 2]
    position = iter(range(1, len(arrays)))
    parts = [[[staged.get(next(position)) for a in band if a is not None] for band in c.bands] for c in coded]
    bands = []
    for b, band_shape in enumerate(band_shapes(shape, coded[0].params.levels)):
        band = _band([p[b] for p in parts], band_shape, len(coded), dev)
        band *= step
        bands.append(band)
    values = cdf97_torch.synthesize(bands, coded[0].params.levels, shape)
    tables = [(staged.get(next(position)), staged.get(next(position))) if c.indices is not None else None
              for c in coded]
    values += _base(model, coded, tables, shape, dev)
    finite = torch.isfinite(values).reshape(len(coded), -1).all(dim=1).cpu().numpy()
    if not finite.all():
        raise ChunkCorrupt(f"chunk {numbers[int(np.flatnonzero(~finite)[0])]} (counting the ratio-mode chunks "
                           "given): wavelet coefficients overflow when dequantised; the chunk is damaged")
    torch.round(values, out=values)
    return torch.clamp(values, lo, hi, out=values)


def _band(parts: list[list[torch.Tensor]], shape: tuple[int, int, int], n: int, dev: torch.device) -> torch.Tensor:
    """One band (of ``shape`` per chunk) of ``n`` chunks stacked along z, float32 on ``dev``,
    from each chunk's device tensors [block flags (bool), flagged blocks' values] or [whole band].

    The flagged blocks are placed by a gather (block k takes value block cumsum(flags)[k] - 1)
    rather than a scatter to positions computed on the host: nothing more to move, no sync."""
    import torch

    z, y, x = shape
    values = torch.cat([p[-1].to(torch.float32) for p in parts])
    if len(parts[0]) == 1:  # streams written before zero blocks: whole bands
        return values.reshape(n * z, y, x)
    if values.numel() == 0:
        return torch.zeros((n * z, y, x), dtype=torch.float32, device=dev)
    flags = torch.cat([p[0] for p in parts])
    _, by, bx = block_grid(shape)
    source = torch.cumsum(flags, 0) - 1
    source.clamp_(min=0)
    blocks = torch.where(flags[:, None], values.reshape(-1, ZERO_BLOCK * ZERO_BLOCK)[source], 0.0)
    band = blocks.reshape(n * z, by, bx, ZERO_BLOCK, ZERO_BLOCK).permute(0, 1, 3, 2, 4)
    band = band.reshape(n * z, by * ZERO_BLOCK, bx * ZERO_BLOCK)
    return band[:, :y, :x].contiguous()


def _base(model: RuntimeModel, coded: list[CodedWavelet], tables: list[tuple[torch.Tensor, torch.Tensor] | None],
          shape: tuple[int, int, int], dev: torch.device) -> torch.Tensor:
    """The bases (INR prediction or flat value) of the chunks stacked along z, float32 on
    ``dev``; ``tables`` hold per INR-based chunk its codebook indices and its
    :func:`.inr.prediction.scaled_table` (flattened) on the device (None: flat base)."""
    import torch

    depth = shape[0]
    base = torch.empty((len(coded) * depth, *shape[1:]), dtype=torch.float32, device=dev)
    for k, (c, table) in enumerate(zip(coded, tables)):
        part = base[k * depth : (k + 1) * depth]
        if table is None:
            part.fill_(float(np.float32(c.params.flat_value)))
        else:
            indices, scaled = table
            tokens = scaled.reshape(model.codebook_size, -1)[indices].to(torch.float32)  # exact: |entries| < 2**24
            part.copy_(_from_tokens(tokens, shape, model.token_shape))
    return base


def _from_tokens(tokens: torch.Tensor, shape: tuple[int, int, int], token_shape: tuple[int, int, int]) -> torch.Tensor:
    """:func:`.tokens.from_tokens` for a tensor (n_tokens, prod(token_shape)): (z, y, x)."""
    gz, gy, gx = (-(-s // t) for s, t in zip(shape, token_shape))
    tz, ty, tx = token_shape
    full = tokens.reshape(gz, gy, gx, tz, ty, tx).permute(0, 3, 1, 4, 2, 5).reshape(gz * tz, gy * ty, gx * tx)
    return full[: shape[0], : shape[1], : shape[2]]

"""How many chunks of a stored UniCompress array each coder (and choice) wrote, for
``unicompress info``: the chunk files of a local array in, counts by kind out.

Reads every chunk stream's header (and a 3D ratio chunk's parameters for its z levels); streams
inside shards are found through the shard index (Zarr v3 ``sharding_indexed``, index at the
end, 16 bytes per inner chunk plus a 4-byte checksum). Files that hold no UniCompress stream
(metadata, progress markers) are skipped.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from .bitstream import MAGIC, unpack_chunk
from .errors import ChunkCorrupt

#: an inner chunk that was never written (Zarr's shard index marks it with both fields all ones).
_EMPTY = np.uint64(2**64 - 1)


def stream_kind(buf: bytes | memoryview) -> str:
    """The kind of one chunk stream: "constant", "indices only", "max_error", "ratio 2D",
    "ratio 3D, K z levels", "ratio contexts, K z levels", the name of another registered coder
    (e.g. "predictive max_error") or "coder N" for one this build does not have; "damaged" where
    its header or checksum fails."""
    try:
        header, sections = unpack_chunk(buf)
    except ChunkCorrupt:
        return "damaged"
    if header.coder == 2:
        from .runtime.coders.ratio3d import Wavelet3DParams

        try:
            return f"ratio 3D, {Wavelet3DParams.unpack(sections.classes).z_levels} z levels"
        except ChunkCorrupt:
            return "damaged"
    if header.coder == 3:
        from .runtime.coders.ratio_ctx import ContextParams

        try:
            return f"ratio contexts, {ContextParams.unpack(sections.classes)[0].z_levels} z levels"
        except ChunkCorrupt:
            return "damaged"
    if header.coder:
        from .runtime.coders.registry import decoder_for

        try:
            return decoder_for(header).name
        except ChunkCorrupt:  # a coder this build does not have
            return f"coder {header.coder}"
    if header.is_constant:
        return "constant"
    if header.has_wavelet_residual:
        return "ratio 2D"
    return "max_error" if header.has_residual else "indices only"


def census(dest: str | Path, chunks_per_shard: int | None = None) -> dict[str, int]:
    """Counts of :func:`stream_kind` over the chunk files under ``dest`` (a local array
    directory); ``chunks_per_shard``: inner chunks per shard for sharded v3 arrays, else None."""
    counts: Counter[str] = Counter()
    for path in sorted(Path(dest).rglob("*")):
        if not path.is_file() or path.name.startswith(".") or path.suffix == ".json" or path.name == "zarr.json":
            continue
        data = path.read_bytes()
        if chunks_per_shard:
            for start, size in _shard_index(data, chunks_per_shard):
                counts[stream_kind(memoryview(data)[start: start + size])] += 1
        elif data[:4] == MAGIC:
            counts[stream_kind(data)] += 1
    return dict(sorted(counts.items()))


def _shard_index(data: bytes, n: int) -> list[tuple[int, int]]:
    """(offset, length) of the written inner chunks of a shard with ``n`` inner chunks."""
    size = 16 * n + 4
    if len(data) < size:
        return []
    index = np.frombuffer(data[-size:-4], "<u8").reshape(n, 2)
    return [(int(o), int(s)) for o, s in index if o != _EMPTY and int(o) + int(s) <= len(data) - size]


def chunks_per_shard(metadata: dict) -> int | None:
    """Inner chunks per shard from a v3 array's metadata (dict), or None where it is not sharded."""
    for codec in metadata.get("codecs", []):
        if codec.get("name") == "sharding_indexed":
            outer = metadata["chunk_grid"]["configuration"]["chunk_shape"]
            inner = codec["configuration"]["chunk_shape"]
            return math.prod(o // i for o, i in zip(outer, inner))
    return None

"""Checks of a compression job's arguments, made before anything is fitted or written.

Each bad argument raises a :class:`~zarr_unicompress.errors.UniCompressError` whose one-line
message names the argument as the user gave it and says what to pass instead, so that the
command line prints one line and no destination is started.
"""

from __future__ import annotations

from numbers import Integral
from pathlib import Path
from typing import Any

from numcodecs_ext.config_checks import check_max_error, check_ratio

from .errors import ModelCorrupt, UnsupportedInput
from .runtime.inr.weights import BLOB_MAGIC, MAX_BLOB_BYTES


def positive_shape(name: str, value: Any) -> tuple[int, int, int]:
    """``value`` as three positive integers (voxels); ``name`` is the argument's name."""
    try:
        items = tuple(value)
    except TypeError:
        items = ()
    if len(items) != 3 or not all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in items):
        raise UnsupportedInput(f"{name} must be three positive integers (z, y, x voxels), got {value!r}")
    return tuple(int(v) for v in items)  # type: ignore[return-value]


def check_job(chunks: Any, shards: Any, zarr_format: int, max_error: Any, ratio: Any, group_chunks: Any,
              workers: Any, device: str | None) -> tuple[tuple[int, int, int], tuple[int, int, int] | None]:
    """Check a job's arguments; returns (chunks, shards) as given, checked."""
    chunks = positive_shape("chunks", chunks)
    if shards is not None:
        if zarr_format != 3:
            raise UnsupportedInput("shards need zarr_format=3 (--zarr-format 3)")
        shards = positive_shape("shards", shards)
        if any(s % c for s, c in zip(shards, chunks)):
            raise UnsupportedInput(f"shards {shards} must be whole multiples of chunks {chunks}")
    if zarr_format not in (2, 3):
        raise UnsupportedInput(f"zarr_format must be 2 or 3, got {zarr_format!r}")
    if max_error is not None and ratio is not None:
        raise UnsupportedInput("give either max_error or ratio, not both")
    check_max_error(max_error)
    check_ratio(ratio)
    for name, value in (("group_chunks", group_chunks), ("workers", workers)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, Integral) or value < 1):
            raise UnsupportedInput(f"{name} must be a positive integer, got {value!r}")
    if device is not None and device != "cpu":
        from .runtime.device.torch_devices import checked_torch_device

        checked_torch_device(device, "device")
    return chunks, shards


def clip_to_volume(chunks: tuple[int, int, int], shards: tuple[int, int, int] | None,
                   shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """Chunks clipped to the volume, and shards with them: along an axis where the chunk covers
    the whole volume, so does one shard of one chunk (shards of the user's chunks stay
    multiples of the clipped ones)."""
    clipped = tuple(min(c, s) for c, s in zip(chunks, shape))
    if shards is None:
        return clipped, None
    return clipped, tuple(k if k < c else sh for sh, c, k in zip(shards, chunks, clipped))


def read_model_file(path: str | Path) -> bytes:
    """The bytes of a .ucmw model file, checked to be one (size and magic) before they are used."""
    p = Path(path)
    if not p.is_file():
        raise UnsupportedInput(f"model file {str(p)!r} not found; pass 'default', 'fit' or the path of a "
                               ".ucmw file written by zarr_unicompress.fit")
    size = p.stat().st_size
    if size > MAX_BLOB_BYTES:
        raise ModelCorrupt(f"{p} is {size} bytes, larger than any UniCompress model ({MAX_BLOB_BYTES} bytes); "
                           "pass a .ucmw file written by zarr_unicompress.fit")
    blob = p.read_bytes()
    if blob[:4] != BLOB_MAGIC:
        raise ModelCorrupt(f"{p} is not a UniCompress model file (it does not start with {BLOB_MAGIC!r}); "
                           "pass a .ucmw file written by zarr_unicompress.fit")
    return blob

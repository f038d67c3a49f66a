"""A JSON cache of anchor measurements, so that repeated benchmark runs (by anyone sharing the
checkout) cost nothing.

One small JSON file per measurement under ``benchmarks/cache/<volume sha256[:16]>/`` (override
the root with ``$UNICOMPRESS_ANCHOR_CACHE``), named by the sha256 of its key: codec name,
codec settings, knob value and the sha256 of the input array (dtype, shape and bytes). The
value holds stored bytes, ratio, PSNR, SSIM, max |error| and the encode / decode seconds of
the run that made it (timings therefore reflect the machine's load at that time). Files are
written atomically (temporary file + rename), so concurrent runs never see half a file.
The folder is git-ignored; delete it to re-measure.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

#: bump when the meaning of a cached value changes, so old entries stop matching
CACHE_VERSION = 1


def cache_root() -> Path:
    """The cache folder: ``$UNICOMPRESS_ANCHOR_CACHE`` or ``benchmarks/cache``."""
    return Path(os.environ.get("UNICOMPRESS_ANCHOR_CACHE", Path(__file__).resolve().parent / "cache"))


def volume_digest(volume: np.ndarray) -> str:
    """sha256 (hex) of a volume's dtype, shape and C-order bytes."""
    h = hashlib.sha256(f"{volume.dtype.str}{tuple(volume.shape)}".encode())
    h.update(np.ascontiguousarray(volume).tobytes())
    return h.hexdigest()


def _key(codec: str, settings: str, knob: float, digest: str) -> dict[str, Any]:
    return {"version": CACHE_VERSION, "codec": codec, "settings": settings, "knob": float(knob), "volume": digest}


def _path(key: dict[str, Any]) -> Path:
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return cache_root() / key["volume"][:16] / f"{name}.json"


def load(codec: str, settings: str, knob: float, digest: str) -> dict[str, Any] | None:
    """The cached value for this measurement, or None."""
    key = _key(codec, settings, knob, digest)
    try:
        entry = json.loads(_path(key).read_text())
    except (OSError, ValueError):
        return None
    return entry["value"] if entry.get("key") == key else None


def store(codec: str, settings: str, knob: float, digest: str, value: dict[str, Any]) -> None:
    """Write one measurement (a JSON-able dict) atomically."""
    key = _key(codec, settings, knob, digest)
    path = _path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"key": key, "value": value}, indent=1))
    os.replace(tmp, path)


def known_knobs(codec: str, settings: str, digest: str) -> dict[float, dict[str, Any]]:
    """Every cached measurement of this codec and settings on this volume: knob -> value."""
    found: dict[float, dict[str, Any]] = {}
    folder = cache_root() / digest[:16]
    if not folder.is_dir():
        return found
    for path in folder.glob("*.json"):
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        key = entry.get("key", {})
        if (key.get("version"), key.get("codec"), key.get("settings"), key.get("volume")) == (
                CACHE_VERSION, codec, settings, digest):
            found[float(key["knob"])] = entry["value"]
    return found

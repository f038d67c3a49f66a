"""The encoder's codeword search (nearest entry of the SIREN table), in NumPy or on a torch device.

For normalised tokens t (N, V) and the model's intensity table c (K, V), both in [0, 1], the
index of a token is argmin_k ||t - c_k||^2 = argmin_k (||c_k||^2 - 2 t . c_k): one (N, V) x
(V, K) matrix product per chunk, the only network-sized work left in the encoder after fitting
(about a quarter of an error-bound encode on one CPU core). ``set_search_device("cuda")`` moves
it to a GPU; the setting is process-wide because zarr calls the codec without extra arguments.

The chosen indices are written into the stream, so decoding never depends on where (or with
which float rounding) they were chosen; decoding never searches and never imports torch.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..errors import UnsupportedInput

#: tokens per NumPy product (bounds the (tokens x codewords) distance block to ~16 MiB).
_NUMPY_BATCH = 16384
#: tokens per device product (~64 MiB of float32 distances for 256 codewords).
_DEVICE_BATCH = 65536

_device: str | None = None
_device_tables: dict[tuple[str, str], tuple[Any, Any]] = {}
_lock = threading.Lock()


def set_search_device(device: str | None) -> None:
    """Search codewords on the torch ``device`` ("cpu", "cuda", "cuda:N"), or in NumPy for None.

    Raises :class:`UnsupportedInput` for a device name torch does not know, a CUDA device
    where torch sees none, or any device where torch is not installed.
    """
    global _device
    if device is None:
        _device = None
        return
    try:
        import torch
    except ImportError:
        raise UnsupportedInput(f"search device {device!r} needs torch; install it or use the NumPy search "
                               "(device None)") from None
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise UnsupportedInput(f"unknown search device {device!r}: {exc}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise UnsupportedInput(f"search device {device!r} asked for, but torch sees no CUDA device; "
                               "use 'cpu' or leave the device unset")
    if parsed.type not in ("cpu", "cuda"):
        raise UnsupportedInput(f"search device {device!r} is neither 'cpu' nor a CUDA device")
    _device = str(parsed)


def search_device() -> str | None:
    """The torch device of the codeword search, or None for NumPy."""
    return _device


def default_search_device(requested: str | None) -> str | None:
    """The search device for a job given its ``--device``: a CUDA device when named, or when
    none is named and torch sees one; otherwise None (NumPy, faster than torch on CPU)."""
    if requested is not None:
        return requested if requested.startswith("cuda") else None
    try:
        import torch
    except ImportError:
        return None
    return "cuda" if torch.cuda.is_available() else None


def nearest_table_entries(table_key: str, table01: np.ndarray, tokens01: np.ndarray) -> np.ndarray:
    """Index (N,) int64 of the nearest row of ``table01`` (K, V) float32 for each row of
    ``tokens01`` (N, V) float32; ``table_key`` (the model digest) caches the table per device."""
    if _device is None:
        return _numpy_search(table01, tokens01)
    return _device_search(_device, table_key, table01, tokens01)


def _numpy_search(table01: np.ndarray, tokens01: np.ndarray) -> np.ndarray:
    table_sq = (table01 * table01).sum(1)
    out = np.empty(len(tokens01), dtype=np.int64)
    for s in range(0, len(tokens01), _NUMPY_BATCH):
        block = tokens01[s : s + _NUMPY_BATCH]
        out[s : s + len(block)] = (table_sq[None, :] - 2.0 * (block @ table01.T)).argmin(axis=1)
    return out


def _device_search(device: str, table_key: str, table01: np.ndarray, tokens01: np.ndarray) -> np.ndarray:
    import torch

    with _lock:
        cached = _device_tables.get((table_key, device))
        if cached is None:
            table = torch.from_numpy(np.ascontiguousarray(table01)).to(device)
            cached = (table, (table * table).sum(1))
            _device_tables[(table_key, device)] = cached
    table, table_sq = cached
    out = np.empty(len(tokens01), dtype=np.int64)
    with torch.no_grad():
        for s in range(0, len(tokens01), _DEVICE_BATCH):
            block = torch.from_numpy(np.ascontiguousarray(tokens01[s : s + _DEVICE_BATCH])).to(device)
            distances = torch.addmm(table_sq, block, table.T, beta=1.0, alpha=-2.0)
            out[s : s + len(block)] = distances.argmin(dim=1).cpu().numpy()
    return out

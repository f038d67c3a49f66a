"""The encoder's codeword search (nearest entry of the SIREN table), in NumPy or on a torch device.

For normalised tokens t (N, V) and the model's intensity table c (K, V), both in [0, 1], the
index of a token is argmin_k ||t - c_k||^2. The table's rows are smooth SIREN outputs and span
only d << V dimensions (numerical rank: singular values above 1e-6 of the largest; d = 68 of
V = 256 for the default model). With P the projection on that span, ||t - c_k||^2 =
||P t - c_k||^2 + ||(1 - P) t||^2, whose second term is the same for every k, so the search
runs on the d-dim coordinates: argmin_k (||c_k||^2 - 2 (B^T t) . (B^T c_k)), two thin matrix
products per chunk with V d + d K = 34,816 instead of V K = 65,536 multiply-adds per token
(36 vs 61 ms per (30, 512, 512) chunk on one core), and the same index for all but float32
ties (3 of 32768 tokens of the ISBI block, squared-distance regret < 1e-4).
``set_search_device("cuda")`` moves the search to a GPU; the setting is process-wide because
zarr calls the codec without extra arguments.

The chosen indices are written into the stream, so decoding never depends on where (or with
which float rounding) they were chosen; decoding never searches and never imports torch.
"""

from __future__ import annotations

import glob
import os
import sys
import threading
from typing import Any

import numpy as np

from .torch_devices import checked_torch_device

#: tokens per NumPy product: (4096 x 256) float32 distances are 4 MiB; per (30, 512, 512)
#: chunk 4096 tokens per product took 32 ms, 16384 took 46 ms.
_NUMPY_BATCH = 4096
#: tokens per device product (~64 MiB of float32 distances for 256 codewords).
_DEVICE_BATCH = 65536

#: singular values of the table below this share of the largest are dropped (see above).
RANK_TOLERANCE = 1e-6

_device: str | None = None
_numpy_tables: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
_device_tables: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
_lock = threading.Lock()


def set_search_device(device: str | None) -> None:
    """Search codewords on the torch ``device`` ("cpu", "cuda", "cuda:N"), or in NumPy for None.

    Raises :class:`UnsupportedInput` for a device name torch does not know, a CUDA device
    where torch sees none, or any device where torch is not installed.
    """
    global _device
    _device = None if device is None else str(checked_torch_device(device, "search device"))


def search_device() -> str | None:
    """The torch device of the codeword search, or None for NumPy."""
    return _device


def default_search_device(requested: str | None) -> str | None:
    """The search device for a job given its ``--device``: a CUDA device when named, or when
    none is named and torch sees one; otherwise None (NumPy, faster than torch on CPU)."""
    if requested is not None:
        return requested if requested.startswith("cuda") else None
    if "torch" not in sys.modules and not _gpu_device_nodes_may_exist():
        return None  # no GPU to ask torch about: spares a CPU-only job torch's import (~1.3 s)
    try:
        import torch
    except ImportError:
        return None
    return "cuda" if torch.cuda.is_available() else None


#: on Linux, any of these means a GPU driver that torch may see: NVIDIA's module (its /proc entry
#: exists before the first CUDA call creates /dev/nvidia*) and device nodes, Jetson's, WSL2's
#: GPU paravirtualisation, AMD ROCm's.
_GPU_DRIVER_PATHS = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/nvmap", "/dev/nvhost-ctrl", "/dev/dxg", "/dev/kfd")


def _gpu_device_nodes_may_exist() -> bool:
    """False only on Linux without any trace of a GPU driver (:data:`_GPU_DRIVER_PATHS`,
    /dev/nvidia*), where torch can see no CUDA device; True elsewhere (other systems are
    asked through torch). A job can always name ``--device cuda``."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.path.exists(path) for path in _GPU_DRIVER_PATHS) or bool(glob.glob("/dev/nvidia[0-9]*"))


def nearest_table_entries(table_key: str, table01: np.ndarray, tokens01: np.ndarray) -> np.ndarray:
    """Index (N,) int64 of the nearest row of ``table01`` (K, V) float32 for each row of
    ``tokens01`` (N, V) float32; ``table_key`` (the model digest) caches the table's search
    basis per process and device."""
    basis, table_coords, table_sq = search_table(table_key, table01)
    if _device is None:
        return _numpy_search(basis, table_coords, table_sq, tokens01)
    return _device_search(_device, table_key, (basis, table_coords, table_sq), tokens01)


def search_table(table_key: str, table01: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Basis B (V, d) of the table's span, the rows' coordinates B^T c_k (K, d) and their
    squared norms (K,), all float32; computed once per ``table_key`` (an SVD in float64)."""
    with _lock:  # held while computing: zarr encodes a shard's chunks in threads at once, and
        # their concurrent SVDs (each multithreaded by OpenBLAS) took 2-3 s instead of 12 ms
        cached = _numpy_tables.get(table_key)
        if cached is None:
            table = table01.astype(np.float64)
            _, singular, vt = np.linalg.svd(table, full_matrices=False)
            rank = max(1, int((singular > singular[0] * RANK_TOLERANCE).sum()))
            basis = vt[:rank].T
            coords = table @ basis
            cached = (basis.astype(np.float32), coords.astype(np.float32),
                      (coords * coords).sum(1).astype(np.float32))
            _numpy_tables[table_key] = cached
    return cached


def _numpy_search(basis: np.ndarray, table_coords: np.ndarray, table_sq: np.ndarray,
                  tokens01: np.ndarray) -> np.ndarray:
    out = np.empty(len(tokens01), dtype=np.int64)
    for s in range(0, len(tokens01), _NUMPY_BATCH):
        coords = tokens01[s : s + _NUMPY_BATCH] @ basis
        distances = coords @ table_coords.T  # |c_k|^2 - 2 t.c_k in place: the same float32 values
        distances *= -2.0                    # as table_sq - 2.0 * (...) (exact scaling and
        distances += table_sq                # negation), without two temporaries
        out[s : s + len(coords)] = distances.argmin(axis=1)
    return out


def _device_search(device: str, table_key: str, search: tuple[np.ndarray, np.ndarray, np.ndarray],
                   tokens01: np.ndarray) -> np.ndarray:
    import torch

    with _lock:
        cached = _device_tables.get((table_key, device))
        if cached is None:
            cached = tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in search)
            _device_tables[(table_key, device)] = cached
    basis, table_coords, table_sq = cached
    out = np.empty(len(tokens01), dtype=np.int64)
    with torch.no_grad():
        for s in range(0, len(tokens01), _DEVICE_BATCH):
            block = torch.from_numpy(np.ascontiguousarray(tokens01[s : s + _DEVICE_BATCH])).to(device)
            distances = torch.addmm(table_sq, block @ basis, table_coords.T, beta=1.0, alpha=-2.0)
            out[s : s + len(block)] = distances.argmin(dim=1).cpu().numpy()
    return out

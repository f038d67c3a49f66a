"""The encoder's codeword search (nearest entry of the SIREN table), in NumPy or on a torch device.

For normalised tokens t (N, V) and the model's intensity table c (K, V), both in [0, 1], the
index of a token is the nearest entry, argmin_k ||t - c_k||^2, taken in the table's leading
principal directions. The table's rows are smooth SIREN outputs: they span only d << V
dimensions (numerical rank: singular values above 1e-6 of the largest; d = 68 of V = 256 for
the default model), and most of their spread lies in the first few. With B the first
:data:`SEARCH_RANK` right singular vectors of the table (V, r), the search minimises
||B^T t - B^T c_k||^2, i.e. argmin_k (||B^T c_k||^2 - 2 (B^T t) . (B^T c_k)): two thin matrix
products per batch, V r + r K = 8,192 instead of V K = 65,536 multiply-adds per token.
On the ISBI block (30, 512, 512) with the default model, r = 16 picks another codeword than
the full-span search for 1.3 % of the tokens, at a summed squared-distance regret of 0.0024 %,
and the ``max_error`` streams (E = 0, 2, 8) stay within +-0.01 % of their size (r = 8: +0.02 %,
7.9 % of the tokens changed); the search took 9.6 instead of 28 ms (one core; the tokens'
normalisation, another 9 ms, aside). See RESULTS.md, v0.4.3.
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

from ..device.torch_devices import checked_torch_device

#: tokens per NumPy product: (4096 x 256) float32 distances are 4 MiB; per (30, 512, 512)
#: chunk 4096 tokens per product took 32 ms, 16384 took 46 ms.
_NUMPY_BATCH = 4096
#: tokens per device product (~64 MiB of float32 distances for 256 codewords).
_DEVICE_BATCH = 65536

#: leading principal directions of the table in which the search measures distances (see above).
SEARCH_RANK = 16

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
    """Basis B (V, r) of the table's first r = min(:data:`SEARCH_RANK`, K, V) principal
    directions, the rows' coordinates B^T c_k (K, r) and their squared norms (K,), all
    float32; computed once per ``table_key`` (an SVD in float64)."""
    with _lock:  # held while computing: zarr encodes a shard's chunks in threads at once, and
        # their concurrent SVDs (each multithreaded by OpenBLAS) took 2-3 s instead of 12 ms
        cached = _numpy_tables.get(table_key)
        if cached is None:
            table = table01.astype(np.float64)
            _, _, vt = np.linalg.svd(table, full_matrices=False)
            basis = vt[:SEARCH_RANK].T
            coords = table @ basis
            cached = (np.ascontiguousarray(basis, np.float32), coords.astype(np.float32),
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

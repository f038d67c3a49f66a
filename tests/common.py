"""Shared test helpers: real-data access, small arrays, the one round-trip check."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from zarr_unicompress.data import DataUnavailable, load_em_volume
from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk, encode_chunk
from zarr_unicompress.runtime.model import RuntimeModel


def em_volume() -> np.ndarray:
    """The ISBI 2012 volume (30, 512, 512) uint8; skips the test with a clear message if absent."""
    try:
        return np.asarray(load_em_volume("isbi2012"))
    except DataUnavailable as exc:
        pytest.skip(f"real EM data not available: {exc}")


def em_block(shape: tuple[int, int, int] = (8, 64, 64), dtype: str = "uint8") -> np.ndarray:
    """A real EM block of ``shape`` (scaled to ``dtype``'s range) or skip if the data is absent."""
    vol = em_volume()[: shape[0], 100 : 100 + shape[1], 200 : 200 + shape[2]]
    info = np.iinfo(dtype)
    scaled = vol.astype(np.float64) / 255.0 * (min(info.max, 4000) - max(info.min, -2000)) + max(info.min, -2000)
    return np.rint(scaled).astype(dtype)


def check_round_trip(model: RuntimeModel, chunk: np.ndarray, quality: QualitySettings) -> tuple[np.ndarray, bytes]:
    """Encode and decode ``chunk``; check shape, dtype and the error bound. Returns (decoded, stream)."""
    stream = encode_chunk(model, chunk, quality)
    out = decode_chunk(model, stream, expected_shape=chunk.shape, expected_dtype=chunk.dtype)
    assert out.dtype == chunk.dtype
    assert out.reshape(chunk.shape).shape == chunk.shape
    if quality.max_error is not None:
        err = np.abs(out.reshape(chunk.shape).astype(np.int64) - chunk.astype(np.int64))
        assert err.max() <= quality.max_error, f"bound {quality.max_error} violated: {err.max()}"
    return out.reshape(chunk.shape), stream


def run_fresh_python(code: str, timeout: float = 300) -> str:
    """Run ``code`` in a new interpreter (only the installed package available); return stdout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd="/")
    assert proc.returncode == 0, f"fresh process failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout

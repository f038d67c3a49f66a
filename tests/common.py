"""Shared test helpers: real-data access, small arrays, the one round-trip check."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from zarr_unicompress.data import DataUnavailable, load_em_volume
from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk, encode_chunk
from zarr_unicompress.runtime.inr.model import RuntimeModel


def em_volume() -> np.ndarray:
    """The ISBI 2012 volume (30, 512, 512) uint8; skips the test with a clear message if absent."""
    try:
        return np.asarray(load_em_volume("isbi2012"))
    except DataUnavailable as exc:
        pytest.skip(f"real EM data not available: {exc}")


@functools.lru_cache(maxsize=1)
def real_data_available() -> bool:
    """Whether the ISBI 2012 volume is on this machine (see zarr_unicompress.data.search_dirs)."""
    try:
        load_em_volume("isbi2012")
    except DataUnavailable:
        return False
    return True


def em_like_stand_in(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """A deterministic uint8 volume with EM-like structure: cell interiors of slowly varying
    grey, thin dark membranes where a smooth random field crosses zero, and noise.

    For correctness tests only (round trips, bounds, corruption, integration) where the real
    data is absent; never for quality figures.
    """
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in shape), indexing="ij")
    field = np.zeros(shape)
    for _ in range(6):
        freq = rng.uniform(0.02, 0.12, 3) * rng.choice([-1, 1], 3)
        field += np.cos(2 * np.pi * (freq[0] * z + freq[1] * y + freq[2] * x) + rng.uniform(0, 2 * np.pi))
    vol = 150 + 30 * np.tanh(field) - 100 * np.exp(-((field / 0.25) ** 2)) + rng.normal(0, 12, shape)
    return np.clip(np.rint(vol), 0, 255).astype(np.uint8)


def em_block(shape: tuple[int, int, int] = (8, 64, 64), dtype: str = "uint8", real_only: bool = False) -> np.ndarray:
    """A real EM block of ``shape`` scaled to ``dtype``'s range.

    Where the real data is absent, tests of correctness get :func:`em_like_stand_in` instead;
    ``real_only=True`` (tests that check quality) skips the test with a clear message.
    """
    if real_only or real_data_available():
        vol = em_volume()[: shape[0], 100 : 100 + shape[1], 200 : 200 + shape[2]]
    else:
        vol = em_like_stand_in(shape)
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

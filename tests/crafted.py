"""Crafted inputs for the hardening tests: edited model blobs (digest recomputed) and chunk
streams with chosen header fields (CRC recomputed), as an attacker would write them."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from numcodecs_ext.unicompress import model_blob
from zarr_unicompress.bitstream import HEADER_SIZE
from zarr_unicompress.runtime.inr.weights import blob_digest, encode_blob_b64, pack_weights, unpack_weights

REPO = Path(__file__).resolve().parents[1]
_HEADER = struct.Struct("<4sBBBB3I16s2iIIII")


def edited_blob(arch: dict[str, Any] | None = None, tensors: dict[str, np.ndarray] | None = None,
                drop: tuple[str, ...] = ()) -> bytes:
    """The default student blob with ``arch`` fields and ``tensors`` replaced (None values of
    ``arch`` are stored as JSON null), ``drop`` tensors removed."""
    parsed = unpack_weights(model_blob(None))
    new_arch = dict(parsed.arch) | dict(arch or {})
    new_tensors = {k: v for k, v in parsed.tensors.items() if k not in drop} | dict(tensors or {})
    return pack_weights(new_arch, dict(parsed.meta), new_tensors)


def config_of(blob: bytes, **quality: Any) -> dict[str, Any]:
    """A numcodecs config holding ``blob`` inline with its (recomputed) digest."""
    return {"id": "unicompress", "model": encode_blob_b64(blob), "model_sha256": blob_digest(blob),
            "max_error": None, "ratio": None, "index_search": "table"} | quality


def restamp(stream: bytes, **fields: int) -> bytes:
    """``stream`` with header fields replaced (names as below) and its CRC32 recomputed."""
    names = ("magic", "version", "flags", "dtype", "reserved", "sz", "sy", "sx", "digest", "lo", "hi",
             "max_err", "t_len", "c_len", "w_len")
    values = dict(zip(names, _HEADER.unpack_from(stream, 0)))
    values.update(fields)
    body = _HEADER.pack(*(values[n] for n in names)) + stream[HEADER_SIZE:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def run_isolated(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that imports this checkout (a crash stays there)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=str(REPO))


def indices_chunk(digest_hex: str, indices: np.ndarray, shape: tuple[int, int, int], lo: int = 0,
                  hi: int = 255, max_error: int | None = None) -> bytes:
    """An indices-only (or, with ``max_error``, an all-zero-residual) uint8 chunk stream whose
    codebook indices are ``indices``, whatever the model allows."""
    from zarr_unicompress.bitstream import FLAG_RANS, FLAG_RESIDUAL, ChunkHeader, ChunkSections, pack_chunk
    from zarr_unicompress.runtime.entropy.groups import encode_groups

    groups = [np.asarray(indices, np.int64)]
    classes = b""
    flags = 0
    if max_error is not None:
        flags |= FLAG_RESIDUAL
        classes = bytes(256)
        groups.append(np.zeros(len(indices) * 256, np.int64))
    tables, words, uses_rans = encode_groups(groups)
    flags |= FLAG_RANS if uses_rans else 0
    header = ChunkHeader(flags, np.dtype(np.uint8), shape, bytes.fromhex(digest_hex)[:16], lo, hi, max_error, 0, 0, 0)
    return pack_chunk(header, ChunkSections(tables, classes, words))

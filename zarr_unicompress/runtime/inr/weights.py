"""One weights format: named float16 arrays plus a JSON header. No pickle.

Blob layout::

    magic      4s   b"UCMW"
    json_len   u32  length of the UTF-8 JSON header in bytes
    json            {"format": 1, "arch": {...}, "meta": {...},
                     "tensors": [{"name": str, "shape": [int, ...]}, ...]}
    data            the float16 tensors, little endian, in header order, back to back

The blob's identity is the sha256 of its bytes (:func:`blob_digest`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import ModelCorrupt

BLOB_MAGIC = b"UCMW"
BLOB_FORMAT = 1
MAX_BLOB_BYTES = 16 * 2**20
MAX_JSON_BYTES = 256 * 2**10
_PREFIX = struct.Struct("<4sI")


@dataclass(frozen=True)
class WeightsBlob:
    """Parsed model blob: architecture parameters, metadata and float16 tensors."""

    arch: dict[str, Any]
    meta: dict[str, Any]
    tensors: dict[str, np.ndarray] = field(repr=False)


def blob_digest(blob: bytes) -> str:
    """Hex sha256 of a blob's bytes."""
    return hashlib.sha256(blob).hexdigest()


def pack_weights(arch: dict[str, Any], meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> bytes:
    """Serialise named arrays (stored as float16) with a JSON header into one blob."""
    entries = []
    chunks = []
    for name, arr in tensors.items():
        a = np.ascontiguousarray(np.asarray(arr, dtype="<f2"))
        if not np.all(np.isfinite(a)):
            raise ModelCorrupt(f"tensor {name!r} has non-finite values after float16 conversion")
        entries.append({"name": name, "shape": list(a.shape)})
        chunks.append(a.tobytes())
    header = json.dumps(
        {"format": BLOB_FORMAT, "arch": arch, "meta": meta, "tensors": entries},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    return _PREFIX.pack(BLOB_MAGIC, len(header)) + header + b"".join(chunks)


def unpack_weights(blob: bytes) -> WeightsBlob:
    """Parse a blob, checking every size against the bytes present before allocating."""
    if len(blob) > MAX_BLOB_BYTES:
        raise ModelCorrupt(
            f"model blob is {len(blob)} bytes, over the {MAX_BLOB_BYTES}-byte limit; "
            "the codec config is not a UniCompress model"
        )
    if len(blob) < _PREFIX.size or blob[:4] != BLOB_MAGIC:
        raise ModelCorrupt("model blob does not start with b'UCMW'; the codec config is damaged")
    _, json_len = _PREFIX.unpack_from(blob, 0)
    if json_len > MAX_JSON_BYTES or _PREFIX.size + json_len > len(blob):
        raise ModelCorrupt(f"model blob declares a {json_len}-byte header that does not fit the blob")
    try:
        header = json.loads(blob[_PREFIX.size : _PREFIX.size + json_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelCorrupt(f"model blob header is not valid JSON: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != BLOB_FORMAT:
        raise ModelCorrupt(f"model blob format {header.get('format') if isinstance(header, dict) else '?'} "
                           f"is not supported (expected {BLOB_FORMAT}); upgrade zarr-unicompress")
    arch, meta, entries = header.get("arch"), header.get("meta"), header.get("tensors")
    if not isinstance(arch, dict) or not isinstance(meta, dict) or not isinstance(entries, list):
        raise ModelCorrupt("model blob header lacks 'arch', 'meta' or 'tensors'")
    pos = _PREFIX.size + json_len
    tensors: dict[str, np.ndarray] = {}
    for entry in entries:
        name, shape = _check_entry(entry)
        nbytes = 2 * int(np.prod(shape, dtype=np.int64))
        if pos + nbytes > len(blob):
            raise ModelCorrupt(f"tensor {name!r} of shape {shape} runs past the end of the model blob")
        arr = np.frombuffer(blob, dtype="<f2", count=nbytes // 2, offset=pos).reshape(shape)
        if not np.all(np.isfinite(arr)):
            raise ModelCorrupt(f"tensor {name!r} has non-finite values; the model blob is damaged")
        tensors[name] = arr
        pos += nbytes
    if pos != len(blob):
        raise ModelCorrupt(f"model blob has {len(blob) - pos} trailing bytes; it is damaged")
    return WeightsBlob(arch=arch, meta=meta, tensors=tensors)


def _check_entry(entry: Any) -> tuple[str, tuple[int, ...]]:
    if not isinstance(entry, dict):
        raise ModelCorrupt("model blob tensor entry is not an object")
    name, shape = entry.get("name"), entry.get("shape")
    if not isinstance(name, str) or not isinstance(shape, list) or len(shape) > 4:
        raise ModelCorrupt(f"model blob tensor entry {entry!r} is malformed")
    if not all(isinstance(s, int) and 0 <= s <= MAX_BLOB_BYTES for s in shape):
        raise ModelCorrupt(f"model blob tensor {name!r} has invalid shape {shape}")
    return name, tuple(shape)


def encode_blob_b64(blob: bytes) -> str:
    """Base64 text of a blob, for a JSON codec config."""
    return base64.b64encode(blob).decode("ascii")


def decode_blob_b64(text: str, expected_sha256: str) -> bytes:
    """Inverse of :func:`encode_blob_b64`, verifying the blob's sha256 against the config."""
    if not isinstance(text, str) or len(text) > MAX_BLOB_BYTES * 4 // 3 + 4:
        raise ModelCorrupt("codec config 'model' must be a base64 string of at most 16 MiB")
    try:
        blob = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ModelCorrupt(f"codec config 'model' is not valid base64: {exc}") from None
    actual = blob_digest(blob)
    if actual != expected_sha256:
        raise ModelCorrupt(
            f"model digest mismatch: config says sha256 {expected_sha256!r}, blob hashes to "
            f"{actual!r}; the array metadata is damaged or was edited"
        )
    return blob

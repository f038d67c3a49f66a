"""The container of the per-array model's side parts (the predictor codebook of the
``max_error`` coder, :mod:`.predict.model`; the ratio mode's context tables,
:mod:`.entropy.context_tables`): a 4-byte magic, a little-endian uint32 header length, a JSON
header holding the sha256 of the body, then the body (little-endian integers); and its base64
text under a key of the model blob's JSON metadata.

In: bytes or text that may be crafted. Out: the checked header (dict) and body (bytes), or
:class:`ModelCorrupt` saying what is wrong. Nothing is unpickled; nothing large is allocated
before the lengths are checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from ..errors import ModelCorrupt

if TYPE_CHECKING:
    from .inr.model import RuntimeModel

Part = TypeVar("Part")

#: the longest JSON header a side part may have (bytes).
MAX_HEADER = 4096
_LENGTH = struct.Struct("<I")


def pack(magic: bytes, header: Mapping[str, object], body: bytes) -> bytes:
    """The bytes of a side part: ``header`` (JSON-serialisable, including its "sha256") then ``body``."""
    text = json.dumps(dict(header), sort_keys=True).encode()
    return magic + _LENGTH.pack(len(text)) + text + body


def unpack(data: bytes, magic: bytes, what: str, fields: set[str], expect: Mapping[str, object],
           body_bytes: Callable[[dict], int], give: str) -> tuple[dict, bytes]:
    """(header, body) of a side part named ``what`` in messages: its magic, header length, JSON,
    exact ``fields``, the values (and types) of ``expect``, its body length (``body_bytes(header)``,
    which may itself raise ModelCorrupt for bad header values) and its sha256 checked, in that
    order; ``give`` names what the caller should pass instead (for a bad magic)."""
    data = bytes(data)
    if len(data) < 8 or data[:4] != magic:
        raise ModelCorrupt(f"{what}: not a {what} (bad magic); give the bytes of {give}")
    (size,) = _LENGTH.unpack(data[4:8])
    if size > MAX_HEADER or 8 + size > len(data):
        raise ModelCorrupt(f"{what}: header length {size} is out of bounds; the model is damaged")
    try:
        header = json.loads(data[8:8 + size].decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelCorrupt(f"{what}: header is not JSON ({exc}); the model is damaged") from None
    if not isinstance(header, dict) or set(header) != fields:
        raise ModelCorrupt(f"{what}: header fields must be {sorted(fields)}")
    for key, value in expect.items():
        if header[key] != value or type(header[key]) is not type(value):
            raise ModelCorrupt(f"{what}: {key} is {header[key]!r}, this version reads {value!r}")
    expected = body_bytes(header)
    body = data[8 + size:]
    if len(body) != expected:
        raise ModelCorrupt(f"{what}: {len(body)} body bytes, expected {expected}; the model is damaged")
    if hashlib.sha256(body).hexdigest() != header["sha256"]:
        raise ModelCorrupt(f"{what}: sha256 mismatch; the model is damaged")
    return header, body


def to_meta_text(data: bytes) -> str:
    """The base64 text of a side part, to store under its key of a blob's metadata."""
    return base64.b64encode(data).decode("ascii")


def from_meta_text(text: object, key: str, max_text: int) -> bytes:
    """The bytes of the side part stored as base64 ``text`` under ``key`` of a blob's metadata
    (at most ``max_text`` characters); ModelCorrupt where it is not such text."""
    if not isinstance(text, str) or not 0 < len(text) <= max_text:
        raise ModelCorrupt(f"model meta.{key} must be base64 text of 1 to {max_text} characters")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ModelCorrupt(f"model meta.{key} is not valid base64; the model blob is damaged") from None


def part_of(model: RuntimeModel, key: str, parse: Callable[[object], Part], default: Callable[[], Part],
            cache: dict[str, Part]) -> Part:
    """The side part of ``model`` stored under ``key`` of its blob's metadata (``parse`` of the
    text), else ``default()``; parsed once per blob (``cache``: by the blob's digest)."""
    found = cache.get(model.digest)
    if found is None:
        text = model.weights.meta.get(key)
        found = default() if text is None else parse(text)
        cache[model.digest] = found
    return found

"""The per-array predictor model: a codebook of K linear predictors over the causal taps of
:mod:`.taps`, with fixed-point integer coefficients, serialised without pickle as a JSON header
plus the int32 coefficients, validated strictly on load.

Layout of the bytes: ``MAGIC`` (4 bytes), the header's length (uint32 little-endian), the
header (UTF-8 JSON), then the coefficients (K, N_TAPS) int32 little-endian. Header fields:
``format``, ``version``, ``taps`` (the tap set's name), ``shift``, ``token`` (voxels per token
side), ``classes`` (K), ``classes_2d`` (the first classes_2d predictors use only the taps of the
current slice: the ones a chunk's first slice may choose) and ``sha256`` (of the coefficient
bytes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from dataclasses import dataclass, field

import numpy as np

from ...errors import ModelCorrupt
from .taps import MAX_CLASSES, MAX_COEF, N_TAPS, N_TAPS_2D, SHIFT, TAP_SET

MAGIC = b"UCPM"
FORMAT = "unicompress-predictors"
VERSION = 1
TOKEN_SIDES = (4, 8, 16, 32)
_MAX_HEADER = 4096
#: the key of the predictor model in a student blob's metadata (base64 of :meth:`PredictorModel.to_bytes`).
META_KEY = "predictors"
#: largest base64 text accepted there (a model of 32 predictors is about 4.7 kB of bytes).
MAX_META_TEXT = 16384
_FIELDS = {"format", "version", "taps", "shift", "token", "classes", "classes_2d", "sha256"}


@dataclass(frozen=True, eq=False)
class PredictorModel:
    """``coefs`` (K, N_TAPS) int32: predictor k predicts (sum coefs[k] * taps + 2**(SHIFT-1)) >>
    SHIFT (intensity units); predictors 0 .. ``classes_2d`` - 1 weigh only the in-slice taps;
    ``token``: side of the square tokens (voxels) that each choose one predictor."""

    coefs: np.ndarray
    classes_2d: int
    token: int = 16
    _digest: str = field(init=False, repr=False, default="")

    def __post_init__(self) -> None:
        coefs = np.ascontiguousarray(self.coefs, dtype=np.int32)
        _check(coefs, self.classes_2d, self.token)
        coefs.setflags(write=False)
        object.__setattr__(self, "coefs", coefs)
        object.__setattr__(self, "_digest", hashlib.sha256(coefs.astype("<i4").tobytes()).hexdigest())

    @property
    def n_classes(self) -> int:
        return int(self.coefs.shape[0])

    @property
    def digest(self) -> str:
        """sha256 (hex) of the coefficient bytes."""
        return self._digest

    def ntaps(self) -> np.ndarray:
        """Taps each predictor reads (K,) int64: N_TAPS_2D where its other taps are all zero."""
        three_d = np.any(self.coefs[:, N_TAPS_2D:] != 0, axis=1)
        return np.where(three_d, N_TAPS, N_TAPS_2D).astype(np.int64)

    def to_bytes(self) -> bytes:
        header = {"format": FORMAT, "version": VERSION, "taps": TAP_SET, "shift": SHIFT, "token": self.token,
                  "classes": self.n_classes, "classes_2d": self.classes_2d, "sha256": self.digest}
        text = json.dumps(header, sort_keys=True).encode()
        return MAGIC + struct.pack("<I", len(text)) + text + self.coefs.astype("<i4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> PredictorModel:
        """The model in ``data``; ModelCorrupt where anything is malformed or inconsistent."""
        data = bytes(data)
        if len(data) < 8 or data[:4] != MAGIC:
            raise ModelCorrupt("predictor model: not a predictor model (bad magic); give the bytes of "
                               "PredictorModel.to_bytes()")
        (size,) = struct.unpack("<I", data[4:8])
        if size > _MAX_HEADER or 8 + size > len(data):
            raise ModelCorrupt(f"predictor model: header length {size} is out of bounds; the model is damaged")
        try:
            header = json.loads(data[8:8 + size].decode())
        except (UnicodeDecodeError, ValueError) as exc:
            raise ModelCorrupt(f"predictor model: header is not JSON ({exc}); the model is damaged") from None
        if not isinstance(header, dict) or set(header) != _FIELDS:
            raise ModelCorrupt(f"predictor model: header fields must be {sorted(_FIELDS)}")
        expect = {"format": FORMAT, "version": VERSION, "taps": TAP_SET, "shift": SHIFT}
        for key, value in expect.items():
            if header[key] != value or type(header[key]) is not type(value):
                raise ModelCorrupt(f"predictor model: {key} is {header[key]!r}, this version reads {value!r}")
        k, k2, token = header["classes"], header["classes_2d"], header["token"]
        for name, value in (("classes", k), ("classes_2d", k2), ("token", token)):
            if type(value) is not int:
                raise ModelCorrupt(f"predictor model: {name} must be an integer, got {value!r}")
        if not 1 <= k <= MAX_CLASSES:
            raise ModelCorrupt(f"predictor model: {k} classes, expected 1 .. {MAX_CLASSES}")
        body = data[8 + size:]
        if len(body) != k * N_TAPS * 4:
            raise ModelCorrupt(f"predictor model: {len(body)} coefficient bytes, expected {k * N_TAPS * 4}")
        if hashlib.sha256(body).hexdigest() != header["sha256"]:
            raise ModelCorrupt("predictor model: sha256 mismatch; the model is damaged")
        coefs = np.frombuffer(body, dtype="<i4").reshape(k, N_TAPS).astype(np.int32)
        return cls(coefs, k2, token)


def _check(coefs: np.ndarray, classes_2d: int, token: int) -> None:
    if coefs.ndim != 2 or coefs.shape[1] != N_TAPS or not 1 <= coefs.shape[0] <= MAX_CLASSES:
        raise ModelCorrupt(f"predictor model: coefficients must be (K <= {MAX_CLASSES}, {N_TAPS}), got {coefs.shape}")
    if type(classes_2d) is not int or not 1 <= classes_2d <= coefs.shape[0]:
        raise ModelCorrupt(f"predictor model: classes_2d must be 1 .. {coefs.shape[0]}, got {classes_2d!r}")
    if token not in TOKEN_SIDES:
        raise ModelCorrupt(f"predictor model: token side must be one of {TOKEN_SIDES}, got {token!r}")
    if np.abs(coefs.astype(np.int64)).max() > MAX_COEF:
        raise ModelCorrupt(f"predictor model: a coefficient exceeds {MAX_COEF} in magnitude")
    if np.any(coefs[:classes_2d, N_TAPS_2D:] != 0):
        raise ModelCorrupt("predictor model: a 2D predictor (below classes_2d) weighs a previous-slice tap")


def fixed_model(token: int = 16) -> PredictorModel:
    """A model that was not fitted on anything (the "no model" baseline): one in-slice predictor
    (3W + 3N - 2NW) / 4 and one that averages it with the voxel of the previous slice."""
    coefs = np.zeros((2, N_TAPS), np.int32)
    unit = 1 << SHIFT
    coefs[0, :3] = [3 * unit // 4, 3 * unit // 4, -unit // 2]
    coefs[1, :3] = [3 * unit // 8, 3 * unit // 8, -unit // 4]
    coefs[1, N_TAPS_2D] = unit // 2
    return PredictorModel(coefs, 1, token)


def decode_meta(text: object) -> PredictorModel:
    """The model stored under META_KEY of a blob's metadata; ModelCorrupt where it is not a
    valid one (checked when the blob is loaded: :mod:`..inr.model_checks`)."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_META_TEXT:
        raise ModelCorrupt(f"model meta.{META_KEY} must be base64 text of 1 to {MAX_META_TEXT} characters")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ModelCorrupt(f"model meta.{META_KEY} is not valid base64; the model blob is damaged") from None
    return PredictorModel.from_bytes(data)

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

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ...errors import ModelCorrupt
from .. import side_blob
from .taps import MAX_CLASSES, MAX_COEF, N_TAPS, N_TAPS_2D, SHIFT, TAP_SET

MAGIC = b"UCPM"
FORMAT = "unicompress-predictors"
VERSION = 1
TOKEN_SIDES = (4, 8, 16, 32)
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
        return side_blob.pack(MAGIC, header, self.coefs.astype("<i4").tobytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> PredictorModel:
        """The model in ``data``; ModelCorrupt where anything is malformed or inconsistent."""
        expect = {"format": FORMAT, "version": VERSION, "taps": TAP_SET, "shift": SHIFT}
        header, body = side_blob.unpack(data, MAGIC, "predictor model", _FIELDS, expect, _body_bytes,
                                        "PredictorModel.to_bytes()")
        coefs = np.frombuffer(body, dtype="<i4").reshape(header["classes"], N_TAPS).astype(np.int32)
        return cls(coefs, header["classes_2d"], header["token"])


def _body_bytes(header: dict) -> int:
    """Bytes of the coefficients a checked header announces; ModelCorrupt for bad counts."""
    k = header["classes"]
    for name in ("classes", "classes_2d", "token"):
        if type(header[name]) is not int:
            raise ModelCorrupt(f"predictor model: {name} must be an integer, got {header[name]!r}")
    if not 1 <= k <= MAX_CLASSES:
        raise ModelCorrupt(f"predictor model: {k} classes, expected 1 .. {MAX_CLASSES}")
    return k * N_TAPS * 4


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
    data = side_blob.from_meta_text(text, META_KEY, MAX_META_TEXT)
    return PredictorModel.from_bytes(data)

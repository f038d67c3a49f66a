"""The per-array model of the ratio mode's context coder: a family of integer frequency tables
over the context coder's alphabet (:mod:`.context_kernels`), serialised without pickle as a
JSON header plus the uint16 frequencies, validated strictly on load.

Each chunk's stream says, per (band, context), which table of the family codes it, or that a
table of its own is in the stream (:mod:`.contexts`): the family holds the shapes of the
distributions of quantised wavelet coefficients that the array's contexts show, fitted by
:mod:`zarr_unicompress.fitting.ratio_tables` on the array (or the shipped default, fitted on two
EM volumes, for arrays without a model of their own).

Layout of the bytes: ``MAGIC`` (4 bytes), the header's length (uint32 little-endian), the
header (UTF-8 JSON: ``format``, ``version``, ``alphabet``, ``precision``, ``tables`` (K) and
``sha256`` of the frequency bytes), then the frequencies (K, alphabet) uint16 little-endian,
each >= 1, each row summing to 2**precision. Where the model comes from: the student blob's
JSON metadata under META_KEY (base64), else the shipped default
(:data:`zarr_unicompress.default_model.RATIO_TABLES_ASSET`, never changed once released: a new
default gets a new asset name; each chunk names its tables' digest, so a stream never decodes
with the wrong ones).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

import numpy as np

from ...errors import ModelCorrupt
from .. import side_blob
from .context_kernels import ALPHABET
from .rans_kernels import PRECISION

MAGIC = b"UCRT"
FORMAT = "unicompress-ratio-tables"
VERSION = 1
#: the most tables a family may hold (a stream's selector names one of them).
MAX_TABLES = 64
#: the key of the tables in a student blob's metadata (base64 of :meth:`ContextTables.to_bytes`).
META_KEY = "ratio_tables"
#: largest base64 text accepted there (64 tables take about 8.5 kB of bytes).
MAX_META_TEXT = 16384
_FIELDS = {"format", "version", "alphabet", "precision", "tables", "sha256"}


@dataclass(frozen=True, eq=False)
class ContextTables:
    """``freq`` (K, ALPHABET) int64: table k gives alphabet index a (symbol a - ALPHABET_HALF)
    the frequency freq[k, a] >= 1 out of 2**PRECISION."""

    freq: np.ndarray
    _digest: str = field(init=False, repr=False, default="")

    def __post_init__(self) -> None:
        freq = np.ascontiguousarray(self.freq, dtype=np.int64)
        if freq.ndim != 2 or freq.shape[1] != ALPHABET or not 1 <= freq.shape[0] <= MAX_TABLES:
            raise ModelCorrupt(f"ratio tables: frequencies must be (K <= {MAX_TABLES}, {ALPHABET}), got {freq.shape}")
        if freq.min() < 1 or np.any(freq.sum(axis=1) != 1 << PRECISION):
            raise ModelCorrupt(f"ratio tables: every frequency must be >= 1 and every table sum to 2**{PRECISION}; "
                               "the model is damaged")
        freq.setflags(write=False)
        object.__setattr__(self, "freq", freq)
        object.__setattr__(self, "_digest", hashlib.sha256(freq.astype("<u2").tobytes()).hexdigest())

    @property
    def n_tables(self) -> int:
        return int(self.freq.shape[0])

    @property
    def digest(self) -> str:
        """sha256 (hex) of the frequency bytes."""
        return self._digest

    @functools.cached_property
    def cost(self) -> np.ndarray:
        """(K, ALPHABET) float64: -log2 of each frequency's probability (bits per symbol)."""
        return PRECISION - np.log2(self.freq.astype(np.float64))

    def to_bytes(self) -> bytes:
        header = {"format": FORMAT, "version": VERSION, "alphabet": ALPHABET, "precision": PRECISION,
                  "tables": self.n_tables, "sha256": self.digest}
        return side_blob.pack(MAGIC, header, self.freq.astype("<u2").tobytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> ContextTables:
        """The tables in ``data``; ModelCorrupt where anything is malformed or inconsistent."""
        expect = {"format": FORMAT, "version": VERSION, "alphabet": ALPHABET, "precision": PRECISION}
        header, body = side_blob.unpack(data, MAGIC, "ratio tables", _FIELDS, expect, _body_bytes,
                                        "ContextTables.to_bytes()")
        return cls(np.frombuffer(body, dtype="<u2").reshape(header["tables"], ALPHABET).astype(np.int64))


def _body_bytes(header: dict) -> int:
    """Bytes of the frequencies a checked header announces; ModelCorrupt for a bad table count."""
    k = header["tables"]
    if type(k) is not int or not 1 <= k <= MAX_TABLES:
        raise ModelCorrupt(f"ratio tables: {k!r} tables, expected an integer 1 .. {MAX_TABLES}")
    return k * ALPHABET * 2


def encode_meta(tables: ContextTables) -> str:
    """The text to store under META_KEY in a blob's metadata."""
    return side_blob.to_meta_text(tables.to_bytes())


def decode_meta(text: object) -> ContextTables:
    """The tables stored under META_KEY of a blob's metadata; ModelCorrupt where they are not
    valid (checked when the blob is loaded: :mod:`..inr.model_checks`)."""
    data = side_blob.from_meta_text(text, META_KEY, MAX_META_TEXT)
    return ContextTables.from_bytes(data)

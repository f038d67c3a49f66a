"""The decode-side model: a verified blob, its intensity table, cached once per process."""

from __future__ import annotations

import functools
import threading
import warnings
from dataclasses import dataclass, field

import numpy as np

from ...errors import ModelCorrupt
from .model_checks import check_student_header
from .network import encoder_forward, intensity_table, nearest_codewords, table_digest
from .weights import WeightsBlob, blob_digest, unpack_weights

_REQUIRED_ARCH = ("token_shape", "code_dim", "codebook_size", "siren_layers", "w0_first", "w0_hidden",
                  "encoder_layers")


class TableMismatchWarning(UserWarning):
    """This machine's float evaluation of the SIREN differs from the one at fit time.

    Decoded voxels may then differ by 1 from the encoder's reconstruction, so an error bound
    E holds as E + 1 on this machine.
    """


@dataclass(frozen=True)
class RuntimeModel:
    """A student model ready to encode and decode chunks.

    Attributes:
        blob: the serialised model (bytes); its sha256 is the model's identity.
        weights: the parsed float16 tensors and architecture.
        table: (codebook_size, voxels_per_token) uint16 fixed-point SIREN outputs.
        table_matches: whether ``table`` equals the one computed when the model was exported.
    """

    blob: bytes = field(repr=False)
    weights: WeightsBlob = field(repr=False)
    table: np.ndarray = field(repr=False)
    table_matches: bool

    @functools.cached_property
    def digest(self) -> str:
        """Hex sha256 of ``blob`` (computed once: encoding and decoding ask for it per chunk)."""
        return blob_digest(self.blob)

    @property
    def token_shape(self) -> tuple[int, int, int]:
        return tuple(int(t) for t in self.weights.arch["token_shape"])  # type: ignore[return-value]

    @property
    def codebook_size(self) -> int:
        return int(self.weights.arch["codebook_size"])

    @property
    def table_float(self) -> np.ndarray:
        """The intensity table as float32 in [0, 1], shape (codebook_size, voxels_per_token)."""
        return _float_table(self)

    def encoder_indices(self, tokens01: np.ndarray) -> np.ndarray:
        """Codeword indices chosen by the student encoder for normalised tokens (N, V) -> (N,)."""
        feats = encoder_forward(self.weights, tokens01)
        return nearest_codewords(feats, self.weights.tensors["codebook"])


_float_tables: dict[str, np.ndarray] = {}


def _float_table(model: RuntimeModel) -> np.ndarray:
    key = model.digest
    tab = _float_tables.get(key)
    if tab is None:
        tab = (model.table.astype(np.float32) / np.float32(65535.0))
        _float_tables[key] = tab
    return tab


def build_runtime_model(blob: bytes) -> RuntimeModel:
    """Parse and check a blob and compute its intensity table (no cache; see :func:`load_model`)."""
    weights = unpack_weights(blob)
    missing = [k for k in _REQUIRED_ARCH if k not in weights.arch]
    if missing:
        raise ModelCorrupt(f"model blob architecture lacks {missing}; it is not a UniCompress student")
    check_student_header(weights)  # every arch field against the tensors, the table bounded
    ts = weights.arch["token_shape"]
    if not (isinstance(ts, list) and len(ts) == 3 and all(isinstance(t, int) and 1 <= t <= 64 for t in ts)):
        raise ModelCorrupt(f"model token_shape {ts!r} must be three integers in 1..64")
    cb = weights.tensors.get("codebook")
    if cb is None or cb.ndim != 2 or not (2 <= cb.shape[0] <= 65536):
        raise ModelCorrupt("model blob has no valid 'codebook' tensor of shape (K, C) with 2 <= K <= 65536")
    try:
        table = intensity_table(weights)
    except (KeyError, ValueError) as exc:
        raise ModelCorrupt(f"model blob tensors do not fit its architecture: {exc}") from None
    expected = weights.meta.get("table_sha256")
    matches = expected == table_digest(table)
    if expected is not None and not matches:
        warnings.warn(
            "the SIREN intensity table computed on this machine differs from the one computed at "
            "fit time; decoded voxels may differ by 1 (an error bound E holds as E+1 here)",
            TableMismatchWarning,
            stacklevel=2,
        )
    return RuntimeModel(blob=bytes(blob), weights=weights, table=table, table_matches=matches)


_cache: dict[str, RuntimeModel] = {}
_cache_lock = threading.Lock()


def load_model(blob: bytes) -> RuntimeModel:
    """Return the :class:`RuntimeModel` of ``blob``, built once per process and cached by sha256."""
    key = blob_digest(blob)
    model = _cache.get(key)
    if model is None:
        with _cache_lock:
            model = _cache.get(key)
            if model is None:
                model = build_runtime_model(blob)
                _cache[key] = model
    return model

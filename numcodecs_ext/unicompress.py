"""The ``unicompress`` numcodecs codec (Zarr v2 ``compressor=``).

The config carries the whole shared model inline, so a process that has only this
package installed can decode the array::

    {"id": "unicompress", "model": "<base64 float16 blob>", "model_sha256": "<hex>",
     "max_error": int | None, "ratio": float | None, "index_search": "table" | "encoder"}

The blob is verified against ``model_sha256`` and parsed once per process (cached by digest).
This module imports only the decode-side runtime, never torch or the training code.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray_like, ndarray_copy

from zarr_unicompress.default_model import default_student_blob
from zarr_unicompress.errors import ModelCorrupt
from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk, encode_chunk
from zarr_unicompress.runtime.inr.model import RuntimeModel, load_model
from zarr_unicompress.runtime.inr.weights import blob_digest, decode_blob_b64, encode_blob_b64


def model_blob(model: Any) -> bytes:
    """Blob bytes of ``model``: None (the default EM model), bytes, or anything with ``.blob`` bytes."""
    if model is None:
        return default_student_blob()
    blob = getattr(model, "blob", model)
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise ModelCorrupt(
            f"model must be None, a blob (bytes) or a fitted model with a .blob attribute; got {type(model).__name__}"
        )
    return bytes(blob)


class IndicesOnlyWarning(UserWarning):
    """Chunks are being stored as codebook indices only (a preview, about 18 dB on EM)."""


PREVIEW_ONLY_WARNING = ("UniCompress without max_error= or ratio= stores codebook indices only: a preview "
                        "(about 18 dB PSNR on EM), not an archive; pass max_error=E for a per-voxel bound "
                        "or ratio=R for a size target")


class UniCompress(Codec):
    """Lossy neural codec for 3D integer volumes (uint8, uint16, int8, int16).

    Args:
        model: the shared model of the array: the result of :func:`zarr_unicompress.fit`,
            a blob, or None for the default EM model shipped with the package.
        max_error: bound on |x - x'| per voxel, in intensity units (exact on machines whose
            SIREN table matches the fit-time digest, E+1 otherwise; see README).
        ratio: target compression ratio per chunk (raw bytes / stored bytes).
        index_search: "table" (least-squares choice of codeword, default) or "encoder".

    With neither ``max_error`` nor ``ratio``, only codebook indices are stored.
    """

    codec_id = "unicompress"

    def __init__(self, model: Any = None, max_error: int | None = None, ratio: float | None = None,
                 index_search: str = "table") -> None:
        self.quality = QualitySettings(max_error=max_error, ratio=ratio, index_search=index_search)
        self._blob = model_blob(model)
        self.runtime: RuntimeModel = load_model(self._blob)

    @property
    def max_error(self) -> int | None:
        return self.quality.max_error

    @property
    def ratio(self) -> float | None:
        return self.quality.ratio

    @property
    def model_sha256(self) -> str:
        return self.runtime.digest

    def encode(self, buf: Any) -> bytes:
        if self.quality.max_error is None and self.quality.ratio is None:
            warnings.warn(PREVIEW_ONLY_WARNING, IndicesOnlyWarning, stacklevel=2)
        arr = ensure_contiguous_ndarray_like(buf, flatten=False)
        return encode_chunk(self.runtime, np.asarray(arr), self.quality)

    def decode(self, buf: Any, out: Any = None) -> Any:
        data = ensure_contiguous_ndarray_like(buf).view(np.uint8)
        decoded = decode_chunk(self.runtime, memoryview(np.asarray(data)))
        if out is not None:
            return ndarray_copy(decoded, out)
        return decoded

    def get_config(self) -> dict[str, Any]:
        return {
            "id": self.codec_id,
            "model": encode_blob_b64(self._blob),
            "model_sha256": blob_digest(self._blob),
            "max_error": self.quality.max_error,
            "ratio": self.quality.ratio,
            "index_search": self.quality.index_search,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> UniCompress:
        config = dict(config)
        config.pop("id", None)
        text, digest = config.pop("model", None), config.pop("model_sha256", None)
        if not isinstance(text, str) or not isinstance(digest, str):
            raise ModelCorrupt("unicompress config needs string fields 'model' (base64) and 'model_sha256'")
        blob = decode_blob_b64(text, digest)
        return cls(model=blob, **config)

    def __repr__(self) -> str:
        q = self.quality
        return (f"UniCompress(model_sha256={self.model_sha256[:12]}..., max_error={q.max_error}, "
                f"ratio={q.ratio}, index_search={q.index_search!r})")

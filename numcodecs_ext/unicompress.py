"""The ``unicompress`` numcodecs codec (Zarr v2 ``compressor=``).

The config carries the whole shared model inline, so a process that has only this
package installed can decode the array::

    {"id": "unicompress", "model": "<base64 float16 blob>", "model_sha256": "<hex>",
     "max_error": int | None, "ratio": float | None, "index_search": "table" | "encoder",
     "max_decoded_bytes": int}     # only where it differs from the default, 2**30

The blob is verified against ``model_sha256`` and parsed once per process (cached by digest).
``{"id": "unicompress"}`` alone gives the default EM model, indices only, as ``UniCompress()``.
``max_decoded_bytes`` caps what one chunk may decode to on this path, which has no expected
shape to check a chunk against (Zarr v3 checks the chunk's shape first); it is left out of
the config at its default, so that arrays written with it read in v0.4.
This module imports only the decode-side runtime, never torch or the training code.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray_like, ndarray_copy

from zarr_unicompress.default_model import default_student_blob
from zarr_unicompress.bitstream import declared_output
from zarr_unicompress.errors import ChunkCorrupt, ModelCorrupt
from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk, encode_chunk
from zarr_unicompress.runtime.inr.model import RuntimeModel, load_model
from zarr_unicompress.runtime.inr.weights import blob_digest, decode_blob_b64, encode_blob_b64

from .config_checks import (
    DEFAULT_MAX_DECODED_BYTES,
    check_index_search,
    check_keys,
    check_max_decoded_bytes,
    check_max_error,
    check_ratio,
)


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


@functools.lru_cache(maxsize=1)
def _default_digest() -> str:
    return blob_digest(default_student_blob())


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
        max_decoded_bytes: the most bytes :meth:`decode` lets one chunk declare when no
            ``out`` buffer is given (default 2**30, 1 GiB); a larger chunk raises
            :class:`~zarr_unicompress.errors.ChunkCorrupt` before anything is allocated.

    Every value is checked for type and range here (:class:`~zarr_unicompress.errors.ConfigInvalid`).
    With neither ``max_error`` nor ``ratio``, only codebook indices are stored.
    """

    codec_id = "unicompress"

    def __init__(self, model: Any = None, max_error: int | None = None, ratio: float | None = None,
                 index_search: str = "table", max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES) -> None:
        self.quality = QualitySettings(max_error=check_max_error(max_error), ratio=check_ratio(ratio),
                                       index_search=check_index_search(index_search))
        self.max_decoded_bytes = check_max_decoded_bytes(max_decoded_bytes)
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
        arr = np.asarray(ensure_contiguous_ndarray_like(buf, flatten=False))
        if arr.ndim > 1 and not arr.flags.c_contiguous:  # F order: code the buffer's bytes in memory order
            arr = arr.T
        return encode_chunk(self.runtime, arr, self.quality)

    def decode(self, buf: Any, out: Any = None) -> Any:
        data = np.asarray(ensure_contiguous_ndarray_like(buf)).view(np.uint8)
        shape, dtype = declared_output(memoryview(data))
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if out is not None:
            room = ensure_contiguous_ndarray_like(out).nbytes
            if room != nbytes:
                raise ChunkCorrupt(f"chunk declares a {shape} {dtype} chunk ({nbytes} bytes) but the out buffer "
                                   f"holds {room} bytes; the chunk belongs to another array or is damaged")
        elif nbytes > self.max_decoded_bytes:
            raise ChunkCorrupt(f"chunk declares a {shape} {dtype} chunk of {nbytes} bytes, over this codec's "
                               f"max_decoded_bytes={self.max_decoded_bytes}; the chunk is damaged or crafted "
                               "(if it is genuine, raise max_decoded_bytes in the codec config)")
        decoded = decode_chunk(self.runtime, memoryview(data))
        if out is not None:
            return ndarray_copy(decoded, out)
        # flat, as numcodecs codecs return their buffer: the caller reshapes it in its own
        # order (Zarr v2 arrays in F order reshape with order="F")
        return decoded.reshape(-1)

    def get_config(self) -> dict[str, Any]:
        config = {
            "id": self.codec_id,
            "model": encode_blob_b64(self._blob),
            "model_sha256": blob_digest(self._blob),
            "max_error": self.quality.max_error,
            "ratio": self.quality.ratio,
            "index_search": self.quality.index_search,
        }
        if self.max_decoded_bytes != DEFAULT_MAX_DECODED_BYTES:
            config["max_decoded_bytes"] = self.max_decoded_bytes
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> UniCompress:
        """Build the codec from a config; ``{"id": "unicompress"}`` alone is ``UniCompress()``.
        Unknown keys and values of the wrong type raise ``ConfigInvalid``, a damaged model
        ``ModelCorrupt``."""
        if not isinstance(config, dict):
            raise ModelCorrupt(f"unicompress config must be a JSON object, got {type(config).__name__}")
        check_keys(config)
        config = dict(config)
        config.pop("id", None)
        if "model" not in config and "model_sha256" not in config:
            return cls(**config)
        text, digest = config.pop("model", None), config.pop("model_sha256", None)
        if not isinstance(text, str) or not isinstance(digest, str):
            raise ModelCorrupt("unicompress config needs string fields 'model' (base64) and 'model_sha256' "
                               "(or neither, for the default EM model)")
        blob = decode_blob_b64(text, digest)
        return cls(model=blob, **config)

    def __repr__(self) -> str:
        """``UniCompress(max_error=2, ...)``: evaluates to an equal codec for the default model;
        for another model, ``model=<sha256 prefix>`` names it."""
        q = self.quality
        model = "" if self.model_sha256 == _default_digest() else f"model=<sha256 {self.model_sha256[:12]}...>, "
        cap = ("" if self.max_decoded_bytes == DEFAULT_MAX_DECODED_BYTES
               else f", max_decoded_bytes={self.max_decoded_bytes}")
        return f"UniCompress({model}max_error={q.max_error!r}, ratio={q.ratio!r}, index_search={q.index_search!r}{cap})"

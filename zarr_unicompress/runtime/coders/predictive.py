"""``max_error=E`` (E = 0 lossless included), v0.5 on: closed-loop causal prediction with the
array's codebook of linear predictors (:mod:`..predict`); coder id 1. Streams of the INR + voxel
residual coder (:mod:`.max_error`, coder id 0) still decode.

Sections: ``classes`` holds the side information (payload version, mode: predictive or raw, the
options mask, the first 8 bytes of the predictor model's sha256), ``words`` the payload (or, in
raw mode, the voxels little endian: a chunk never takes more than raw plus the headers),
``tables`` is empty. Payload versions:

* 2 (v0.6 on): per-row prediction and static rANS tables per context
  (:mod:`..predict.fast_codec`, options 0), for chunks whose range hi - lo < 2**27;
* 1 (v0.5): per-voxel prediction and an adaptive binary range coder (:mod:`..predict.codec`),
  still written for chunks of a wider range (32-bit data), and read.
"""

from __future__ import annotations

import struct

import numpy as np

from ...bitstream import ChunkHeader, ChunkSections
from ...errors import ChunkCorrupt, ModelMismatch
from ..inr.model import RuntimeModel
from ..predict.binding import predictors_of
from ..predict.codec import decode_payload, encode_payload, payload_affordable
from ..predict.fast_codec import decode_payload2, encode_payload2, fits
from ..predict.taps import ALL_OPTIONS, DEFAULT_OPTIONS
from ..quality import QualitySettings
from .base import Coder, chunk_header

_SIDE = struct.Struct("<BBB8s")
#: payload versions this build reads; it writes FAST where :func:`..predict.fast_codec.fits`.
LEGACY, FAST = 1, 2
RAW, PREDICTIVE = 0, 1


class PredictiveCoder(Coder):
    """Settings with ``max_error``: every voxel within E of the input."""

    coder_id = 1
    name = "predictive max_error"

    def wants(self, settings: QualitySettings) -> bool:
        return settings.max_error is not None

    def encode(self, chunk: np.ndarray, model: RuntimeModel,
               settings: QualitySettings) -> tuple[ChunkHeader, ChunkSections]:
        predictors = predictors_of(model)
        lo, hi = int(chunk.min()), int(chunk.max())
        raw = np.ascontiguousarray(chunk, dtype=chunk.dtype.newbyteorder("<")).tobytes()
        payload = None
        version, options = (FAST, 0) if fits(lo, hi) else (LEGACY, DEFAULT_OPTIONS)
        if payload_affordable(chunk.shape, chunk.dtype.itemsize, version):  # else raw: see payload_affordable
            e = int(settings.max_error)
            payload = encode_payload2(chunk, e, lo, hi, predictors, len(raw)) if version == FAST else \
                encode_payload(chunk, e, lo, hi, predictors, options, len(raw))
        mode = RAW if payload is None else PREDICTIVE
        side = _SIDE.pack(version, mode, options, bytes.fromhex(predictors.digest[:16]))
        header = chunk_header(self, 0, chunk, model, lo, hi, int(settings.max_error))
        return header, ChunkSections(b"", side, raw if payload is None else payload)

    def decode(self, header: ChunkHeader, sections: ChunkSections, model: RuntimeModel) -> np.ndarray:
        if header.flags or header.tables_len or header.max_error is None or len(sections.classes) != _SIDE.size:
            raise ChunkCorrupt("predictive max_error chunk has unexpected flags, tables, bound or side "
                               "information; the chunk is damaged")
        version, mode, options, prefix = _SIDE.unpack(sections.classes)
        if version not in (LEGACY, FAST) or mode not in (RAW, PREDICTIVE) or not 0 <= options <= ALL_OPTIONS \
                or (version == FAST and options):
            raise ChunkCorrupt(f"predictive chunk side information (version {version}, mode {mode}, options "
                               f"{options}) is not one this build writes; the chunk is damaged or newer")
        if mode == RAW:
            size = int(np.prod(header.shape)) * header.dtype.itemsize
            if len(sections.words) != size:
                raise ChunkCorrupt(f"raw predictive chunk holds {len(sections.words)} bytes, expected {size}")
            out = np.frombuffer(sections.words, header.dtype.newbyteorder("<")).reshape(header.shape)
            if out.min() < header.lo or out.max() > header.hi:
                raise ChunkCorrupt("raw predictive chunk holds voxels outside its header's range")
            return out.astype(header.dtype)
        if not payload_affordable(header.shape, header.dtype.itemsize, version):
            raise ChunkCorrupt(f"predictive chunk declares shape {header.shape}, whose decoder work memory "
                               "exceeds its bounds (such chunks are stored raw); the chunk is damaged")
        predictors = predictors_of(model)
        if bytes.fromhex(predictors.digest[:16]) != prefix:
            raise ModelMismatch("chunk was coded with another predictor model than the array's model holds; "
                                "the chunk belongs to another array or the metadata was replaced")
        if version == FAST:
            vol = decode_payload2(sections.words, header.shape, header.lo, header.hi, header.max_error, predictors,
                                  header.dtype)
        else:
            vol = decode_payload(sections.words, header.shape, header.lo, header.hi, header.max_error, predictors,
                                 options, header.dtype)
        return vol.astype(header.dtype, copy=False)

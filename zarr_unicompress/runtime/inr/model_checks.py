"""Checks of a student model's header against its tensors, before anything is built from it.

A codec config may come from an untrusted store, and its model blob is only as good as its
sha256, which anyone who edits the blob can recompute. So every field of ``arch`` is checked
here for type and range, against the tensors' shapes, and the intensity table the model
implies is bounded, all before :func:`.network.intensity_table` allocates or computes anything
(a crafted ``token_shape`` of (64, 64, 64) would ask for a 10 GiB table).

Limits (each a small multiple of what the default EM model uses, 256 x 256 table entries,
SIREN of 2 x 32 units):

* :data:`MAX_TABLE_ENTRIES`: codebook_size x prod(token_shape) <= 2**18 (4x the default's);
* :data:`MAX_TABLE_ACTIVATIONS`: table entries x the widest SIREN layer (inputs included)
  <= 2**23, 4x the default's: :func:`.network.intensity_table` evaluates all entries at once in
  float64, so each of its arrays stays under 64 MiB;
* :data:`MAX_TABLE_WORK`: table entries x SIREN weights <= 2**31 multiply-adds (about a second);
* :data:`MAX_LAYERS` layers in the SIREN and in the encoder.
* meta.predictors (the max_error coder's predictor model, when present): every field, see
  :func:`..predict.model.decode_meta`.
* meta.ratio_tables (the ratio mode's context tables, when present): every field, see
  :func:`..entropy.context_tables.decode_meta`.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np

from ...errors import ModelCorrupt
from ..predict.model import META_KEY as PREDICTORS_KEY
from ..predict.model import decode_meta
from ..entropy.context_tables import META_KEY as RATIO_TABLES_KEY
from ..entropy.context_tables import decode_meta as decode_ratio_tables
from .weights import WeightsBlob

#: largest intensity table (codebook_size x voxels per token) a model may imply.
MAX_TABLE_ENTRIES = 2**18
#: largest table entries x widest SIREN layer (float64 activations of the table's evaluation).
MAX_TABLE_ACTIVATIONS = 2**23
#: largest cost of computing that table: entries x SIREN weights (multiply-adds).
MAX_TABLE_WORK = 2**31
#: most layers of the SIREN and of the encoder.
MAX_LAYERS = 16
#: largest |w0| of a SIREN layer (the default model uses 15 and 1).
MAX_W0 = 1e4
#: codebook sizes a chunk's index group and class map can hold.
MIN_CODEBOOK, MAX_CODEBOOK = 2, 65536
#: ``arch.kind`` of the models the codec runs (blobs without it are taken as students).
STUDENT_KIND = "unicompress-student"
#: largest token edge in voxels.
MAX_TOKEN_EDGE = 64


def _int_field(arch: dict[str, Any], key: str, lo: int, hi: int) -> int:
    value = arch.get(key)
    if isinstance(value, bool) or not isinstance(value, Integral) or not lo <= int(value) <= hi:
        raise ModelCorrupt(f"model arch.{key} is {value!r}; it must be an integer in {lo}..{hi}. "
                           "The model blob is damaged or was edited; refit or use the default model")
    return int(value)


def _w0_field(arch: dict[str, Any], key: str) -> float:
    value = arch.get(key)
    if isinstance(value, bool) or not isinstance(value, Real) or not (0 < abs(float(value)) <= MAX_W0):
        raise ModelCorrupt(f"model arch.{key} is {value!r}; it must be a finite non-zero number of "
                           f"magnitude <= {MAX_W0:g}. The model blob is damaged or was edited")
    return float(value)


def _tensor(tensors: dict[str, np.ndarray], name: str, shape: tuple[int, ...]) -> None:
    t = tensors.get(name)
    if t is None:
        raise ModelCorrupt(f"model blob lacks tensor {name!r} that its arch implies; it is damaged")
    if t.shape != shape:
        raise ModelCorrupt(f"model tensor {name!r} has shape {t.shape} where its arch implies {shape}; "
                           "the model blob is damaged or was edited")


def _chain(tensors: dict[str, np.ndarray], prefix: str, n_layers: int, width_in: int) -> tuple[int, int]:
    """Check ``prefix.k.weight`` (out_k, in_k) and ``prefix.k.bias`` (out_k,) for k < n_layers,
    each layer's input being the previous one's output; returns (last width, weights count)."""
    width, weights = width_in, 0
    for k in range(n_layers):
        w = tensors.get(f"{prefix}.{k}.weight")
        if w is None or w.ndim != 2 or w.shape[1] != width or w.shape[0] < 1:
            raise ModelCorrupt(f"model tensor {prefix}.{k}.weight has shape "
                               f"{None if w is None else w.shape}, expected (n, {width}); the model blob is damaged")
        width = int(w.shape[0])
        _tensor(tensors, f"{prefix}.{k}.bias", (width,))
        weights += w.size
    return width, weights


def check_student_header(weights: WeightsBlob) -> None:
    """Check every field of a student blob's ``arch`` against its tensors, and bound the table.

    Raises :class:`ModelCorrupt` naming the first field that is wrong. Allocates nothing
    beyond the parsed header (the tensors are views of the blob).
    """
    arch, tensors = weights.arch, weights.tensors
    kind = arch.get("kind", STUDENT_KIND)
    if kind != STUDENT_KIND:
        raise ModelCorrupt(f"model arch.kind is {kind!r}, not {STUDENT_KIND!r}: the codec needs a student model "
                           "(the result of zarr_unicompress.fit, not its teacher)")
    ts = arch.get("token_shape")
    if not (isinstance(ts, list) and len(ts) == 3 and
            all(not isinstance(t, bool) and isinstance(t, Integral) and 1 <= t <= MAX_TOKEN_EDGE for t in ts)):
        raise ModelCorrupt(f"model arch.token_shape {ts!r} must be three integers in 1..{MAX_TOKEN_EDGE}")
    voxels = math.prod(int(t) for t in ts)
    code_dim = _int_field(arch, "code_dim", 1, 4096)
    codebook_size = _int_field(arch, "codebook_size", MIN_CODEBOOK, MAX_CODEBOOK)
    siren_layers = _int_field(arch, "siren_layers", 1, MAX_LAYERS)
    encoder_layers = _int_field(arch, "encoder_layers", 1, MAX_LAYERS)
    _w0_field(arch, "w0_first")
    _w0_field(arch, "w0_hidden")
    if codebook_size * voxels > MAX_TABLE_ENTRIES:
        raise ModelCorrupt(f"model implies an intensity table of {codebook_size} x {voxels} entries, over the "
                           f"{MAX_TABLE_ENTRIES} limit; the model blob is damaged or not a UniCompress model")
    _tensor(tensors, "codebook", (codebook_size, code_dim))
    width, siren_weights = _chain(tensors, "siren", siren_layers, code_dim + 3)
    _tensor(tensors, "siren.out.weight", (1, width))
    _tensor(tensors, "siren.out.bias", (1,))
    siren_weights += width
    if "siren_hidden" in arch:
        _int_field(arch, "siren_hidden", width, width)
    widest = max([code_dim + 3] + [int(tensors[f"siren.{k}.weight"].shape[0]) for k in range(siren_layers)])
    if codebook_size * voxels * widest > MAX_TABLE_ACTIVATIONS:
        raise ModelCorrupt(f"model's intensity table would hold {codebook_size * voxels} x {widest} activations, "
                           f"over the {MAX_TABLE_ACTIVATIONS} limit; the model blob is not a UniCompress model")
    if codebook_size * voxels * siren_weights > MAX_TABLE_WORK:
        raise ModelCorrupt(f"model's intensity table would take {codebook_size * voxels * siren_weights} "
                           f"multiply-adds, over the {MAX_TABLE_WORK} limit; the model blob is not a UniCompress model")
    width, _ = _chain(tensors, "encoder", encoder_layers, voxels)
    if width != code_dim:
        raise ModelCorrupt(f"model encoder ends in {width} features where arch.code_dim is {code_dim}; "
                           "the model blob is damaged")
    if "encoder_hidden" in arch and encoder_layers > 1:
        hidden = int(tensors["encoder.0.weight"].shape[0])
        _int_field(arch, "encoder_hidden", hidden, hidden)
    expected = {"codebook", "siren.out.weight", "siren.out.bias"}
    expected |= {f"siren.{k}.{p}" for k in range(siren_layers) for p in ("weight", "bias")}
    expected |= {f"encoder.{k}.{p}" for k in range(encoder_layers) for p in ("weight", "bias")}
    extra = sorted(set(tensors) - expected)
    if extra:
        raise ModelCorrupt(f"model blob holds tensors {extra[:4]} that its arch does not use; it is damaged "
                           "or is not a UniCompress student")
    digest = weights.meta.get("table_sha256")
    if digest is not None and not isinstance(digest, str):
        raise ModelCorrupt(f"model meta.table_sha256 is {digest!r}; it must be a hex string")
    if PREDICTORS_KEY in weights.meta:  # the max_error coder's predictors: every field checked
        decode_meta(weights.meta[PREDICTORS_KEY])
    if RATIO_TABLES_KEY in weights.meta:  # the ratio mode's context tables: every field checked
        decode_ratio_tables(weights.meta[RATIO_TABLES_KEY])

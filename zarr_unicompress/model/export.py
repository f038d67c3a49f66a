"""Convert trained torch networks to and from the float16 blob format (no pickle)."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ModelCorrupt
from ..runtime.inr.network import intensity_table, table_digest
from ..runtime.inr.weights import pack_weights, unpack_weights
from .networks import StudentConfig, StudentNet, TeacherConfig, TeacherNet, config_dict

STUDENT_KIND = "unicompress-student"
TEACHER_KIND = "unicompress-teacher"


def student_to_blob(student: StudentNet, meta: dict[str, object] | None = None) -> bytes:
    """Serialise the student for the codec: codebook, SIREN, encoder and the table digest."""
    cfg = student.config
    tensors: dict[str, np.ndarray] = {"codebook": _np(student.quantizer.codebook)}
    for k, layer in enumerate(student.siren.layers):
        tensors[f"siren.{k}.weight"] = _np(layer.weight)
        tensors[f"siren.{k}.bias"] = _np(layer.bias)
    tensors["siren.out.weight"] = _np(student.siren.out.weight)
    tensors["siren.out.bias"] = _np(student.siren.out.bias)
    for k, layer in enumerate(student.encoder.layers):
        tensors[f"encoder.{k}.weight"] = _np(layer.weight)
        tensors[f"encoder.{k}.bias"] = _np(layer.bias)
    arch = config_dict(cfg) | {"kind": STUDENT_KIND, "encoder_layers": len(student.encoder.layers)}
    meta = dict(meta or {})
    draft = pack_weights(arch, meta, tensors)
    meta["table_sha256"] = table_digest(intensity_table(unpack_weights(draft)))
    return pack_weights(arch, meta, tensors)


def teacher_to_blob(teacher: TeacherNet, meta: dict[str, object] | None = None) -> bytes:
    """Serialise every teacher parameter (state-dict names) as float16."""
    arch = config_dict(teacher.config) | {"kind": TEACHER_KIND}
    tensors = {name: _np(p) for name, p in teacher.state_dict().items()}
    return pack_weights(arch, dict(meta or {}), tensors)


def teacher_from_blob(blob: bytes) -> TeacherNet:
    """Rebuild a :class:`TeacherNet` from :func:`teacher_to_blob` output."""
    parsed = unpack_weights(blob)
    arch = dict(parsed.arch)
    if arch.pop("kind", None) != TEACHER_KIND:
        raise ModelCorrupt("blob is not a UniCompress teacher (arch.kind differs)")
    arch["token_shape"] = tuple(arch["token_shape"])
    teacher = TeacherNet(TeacherConfig(**arch))
    state = {k: torch.from_numpy(v.astype(np.float32)) for k, v in parsed.tensors.items()}
    missing, unexpected = teacher.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelCorrupt(f"teacher blob does not match its architecture: missing {missing}, unexpected {unexpected}")
    return teacher


def student_from_blob(blob: bytes) -> StudentNet:
    """Rebuild a trainable :class:`StudentNet` from :func:`student_to_blob` output."""
    parsed = unpack_weights(blob)
    keys = {f.name for f in StudentConfig.__dataclass_fields__.values()}
    arch = {k: v for k, v in parsed.arch.items() if k in keys}
    arch["token_shape"] = tuple(arch["token_shape"])
    student = StudentNet(StudentConfig(**arch))
    t = {k: torch.from_numpy(v.astype(np.float32)) for k, v in parsed.tensors.items()}
    with torch.no_grad():
        student.quantizer.codebook.copy_(t["codebook"])
        for k, layer in enumerate(student.siren.layers):
            layer.weight.copy_(t[f"siren.{k}.weight"])
            layer.bias.copy_(t[f"siren.{k}.bias"])
        student.siren.out.weight.copy_(t["siren.out.weight"])
        student.siren.out.bias.copy_(t["siren.out.bias"])
        for k, layer in enumerate(student.encoder.layers):
            layer.weight.copy_(t[f"encoder.{k}.weight"])
            layer.bias.copy_(t[f"encoder.{k}.bias"])
    return student


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()

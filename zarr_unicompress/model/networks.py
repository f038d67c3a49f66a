"""Teacher and student networks.

Teacher: raw, low- and high-frequency priors -> three MLP encoders -> attention fusion ->
projection to ``code_dim`` -> VQ codebook -> conditioned SIREN.
Student (about half the teacher's parameters, what the codec stores): a trainable raw-only
encoder -> the same kind of codebook -> a narrower conditioned SIREN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .layers import AttentionFusion, ConditionedSiren, MLPEncoder, VectorQuantizer


@dataclass(frozen=True)
class TeacherConfig:
    """Teacher architecture. Token shape in voxels (z, y, x); dims are feature widths."""

    token_shape: tuple[int, int, int] = (4, 8, 8)
    codebook_size: int = 256
    code_dim: int = 16
    embed_dim: int = 32
    raw_hidden: int = 64
    high_hidden: int = 64
    siren_hidden: int = 64
    siren_layers: int = 3
    w0_first: float = 15.0
    w0_hidden: float = 1.0

    @property
    def voxels_per_token(self) -> int:
        tz, ty, tx = self.token_shape
        return tz * ty * tx


@dataclass(frozen=True)
class StudentConfig:
    """Student architecture; ``token_shape``, ``codebook_size`` and ``code_dim`` follow the teacher."""

    token_shape: tuple[int, int, int] = (4, 8, 8)
    codebook_size: int = 256
    code_dim: int = 16
    encoder_hidden: int = 96
    siren_hidden: int = 32
    siren_layers: int = 2
    w0_first: float = 15.0
    w0_hidden: float = 1.0

    @classmethod
    def for_teacher(cls, teacher: TeacherConfig, **overrides: object) -> StudentConfig:
        base = dict(token_shape=teacher.token_shape, codebook_size=teacher.codebook_size,
                    code_dim=teacher.code_dim, w0_first=teacher.w0_first, w0_hidden=teacher.w0_hidden)
        base.update(overrides)
        return cls(**base)  # type: ignore[arg-type]


@dataclass
class NetOutput:
    """What a forward pass returns for B tokens of V voxels."""

    recon: torch.Tensor  # (B, V) predicted normalised intensities
    codes: torch.Tensor  # (B, C) quantised codewords (with straight-through gradient)
    logits: torch.Tensor  # (B, K) -squared distances to the codewords
    indices: torch.Tensor  # (B,) codeword indices
    vq_loss: torch.Tensor  # scalar


class TeacherNet(nn.Module):
    def __init__(self, config: TeacherConfig) -> None:
        super().__init__()
        self.config = config
        v, d = config.voxels_per_token, config.embed_dim
        self.raw_encoder = MLPEncoder([v, config.raw_hidden, d])
        self.low_encoder = MLPEncoder([v // 8, d, d])
        self.high_encoder = MLPEncoder([7 * v // 8, config.high_hidden, d])
        self.fusion = AttentionFusion(d)
        self.project = nn.Linear(d, config.code_dim)
        self.quantizer = VectorQuantizer(config.codebook_size, config.code_dim)
        self.siren = ConditionedSiren(config.code_dim, config.siren_hidden, config.siren_layers,
                                      config.w0_first, config.w0_hidden)

    def features(self, raw: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """Pre-quantisation features (B, C) from the priors."""
        fused = self.fusion(self.high_encoder(high), self.low_encoder(low), self.raw_encoder(raw))
        return self.project(fused)

    def forward(self, raw: torch.Tensor, low: torch.Tensor, high: torch.Tensor, coords: torch.Tensor) -> NetOutput:
        codes, logits, idx, vq = self.quantizer(self.features(raw, low, high))
        return NetOutput(self.siren(codes, coords), codes, logits, idx, vq)


class StudentNet(nn.Module):
    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        self.config = config
        v = config.token_shape[0] * config.token_shape[1] * config.token_shape[2]
        self.encoder = MLPEncoder([v, config.encoder_hidden, config.code_dim])
        self.quantizer = VectorQuantizer(config.codebook_size, config.code_dim)
        self.siren = ConditionedSiren(config.code_dim, config.siren_hidden, config.siren_layers,
                                      config.w0_first, config.w0_hidden)

    def forward(self, raw: torch.Tensor, coords: torch.Tensor) -> NetOutput:
        codes, logits, idx, vq = self.quantizer(self.encoder(raw))
        return NetOutput(self.siren(codes, coords), codes, logits, idx, vq)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def config_dict(config: TeacherConfig | StudentConfig) -> dict[str, object]:
    d = asdict(config)
    d["token_shape"] = list(config.token_shape)
    return d

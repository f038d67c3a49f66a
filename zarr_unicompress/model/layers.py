"""Building blocks: MLP encoders, attention fusion, vector quantiser, conditioned SIREN."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class MLPEncoder(nn.Module):
    """Linear -> SiLU -> ... -> Linear. Names ``layers.{k}`` map to ``encoder.{k}`` in the blob."""

    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if k < len(self.layers) - 1:
                x = F.silu(x)
        return x


class AttentionFusion(nn.Module):
    """Fuse high/low/raw embeddings (B, d) each into one vector (B, d).

    The sequence [high, bottleneck_1, low, bottleneck_2, raw] plus learned position
    embeddings goes through layer norm and self-attention; a learned query then
    cross-attends to it (the paper's hybrid hierarchical attention, Eq. 4).
    """

    def __init__(self, dim: int, heads: int = 4) -> None:
        super().__init__()
        self.position = nn.Parameter(torch.randn(5, dim) * 0.02)
        self.bottleneck = nn.Parameter(torch.randn(2, dim) * 0.02)
        self.norm_in = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.query = nn.Parameter(torch.randn(1, dim) * 0.02)
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_out = nn.LayerNorm(dim)

    def forward(self, high: torch.Tensor, low: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        b = high.shape[0]
        neck = self.bottleneck.expand(b, -1, -1)
        seq = torch.stack([high, neck[:, 0], low, neck[:, 1], raw], dim=1) + self.position
        seq = self.norm_in(seq)
        seq = seq + self.self_attn(seq, seq, seq, need_weights=False)[0]
        fused = self.cross_attn(self.query.expand(b, -1, -1), seq, seq, need_weights=False)[0][:, 0]
        return self.norm_out(fused + raw)


class VectorQuantizer(nn.Module):
    """Nearest-codeword quantiser with a learnable codebook (K, C).

    ``forward`` returns the quantised vectors with value ``e[idx]`` whose gradient reaches both
    the codebook (through ``e[idx]``) and the encoder (identity, straight-through), the logits
    ``-||z - e_k||^2`` (B, K) used for distillation, the indices (B,), and the VQ loss
    ``||sg(e[idx]) - z||^2`` of the paper (Eq. 7).
    """

    def __init__(self, codebook_size: int, code_dim: int) -> None:
        super().__init__()
        self.codebook = nn.Parameter(torch.randn(codebook_size, code_dim) * 0.1)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return -((z * z).sum(1, keepdim=True) - 2 * z @ self.codebook.T + (self.codebook**2).sum(1)[None])

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        logits = self.logits(z)
        idx = logits.argmax(1)
        e = self.codebook[idx]
        quantised = e + (z - z.detach())
        vq_loss = F.mse_loss(z, e.detach())
        return quantised, logits, idx, vq_loss

    @torch.no_grad()
    def reset_codewords(self, dead: torch.Tensor, candidates: torch.Tensor) -> None:
        """Replace codewords flagged in ``dead`` (K,) bool by random rows of ``candidates`` (M, C)."""
        n = int(dead.sum())
        if n and len(candidates):
            pick = torch.randint(0, len(candidates), (n,), device=candidates.device)
            self.codebook[dead] = candidates[pick] + 0.01 * torch.randn_like(candidates[pick])


class ConditionedSiren(nn.Module):
    """SIREN f(e, p): codeword e (B, C) and token-local coordinates p (V, 3) -> intensities (B, V).

    Same function as :func:`zarr_unicompress.runtime.inr.network.siren_forward`; layer names
    ``layers.{k}``/``out`` map to ``siren.{k}``/``siren.out`` in the blob.
    """

    def __init__(self, code_dim: int, hidden: int, n_layers: int, w0_first: float, w0_hidden: float) -> None:
        super().__init__()
        self.code_dim, self.w0_first, self.w0_hidden = code_dim, w0_first, w0_hidden
        sizes = [code_dim + 3] + [hidden] * n_layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(hidden, 1)
        with torch.no_grad():
            first = self.layers[0]
            first.weight.uniform_(-1 / first.in_features, 1 / first.in_features)
            for layer in list(self.layers[1:]) + [self.out]:
                bound = math.sqrt(6 / layer.in_features) / w0_hidden
                layer.weight.uniform_(-bound, bound)
            self.out.bias.fill_(0.5)

    def forward(self, codes: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        first = self.layers[0]
        w_code, w_pos = first.weight[:, : self.code_dim], first.weight[:, self.code_dim :]
        pre = (codes @ w_code.T)[:, None, :] + (coords @ w_pos.T + first.bias)[None]
        h = torch.sin(self.w0_first * pre)
        for layer in self.layers[1:]:
            h = torch.sin(self.w0_hidden * layer(h))
        return self.out(h)[..., 0]

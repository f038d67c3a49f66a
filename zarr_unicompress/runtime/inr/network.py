"""NumPy evaluation of the stored student: conditioned SIREN and raw-intensity encoder.

The SIREN predicts a normalised intensity in [0, 1] from a codeword ``e`` (``code_dim``
floats) and a voxel's local coordinates ``p`` in (-1, 1)^3 inside its token::

    h_1 = sin(w0_first  * (W_1 [e, p] + b_1))
    h_k = sin(w0_hidden * (W_k h_{k-1} + b_k))      k = 2 .. n_layers
    y   = W_out h_n + b_out

Because ``e`` takes one of ``codebook_size`` values and ``p`` one of ``prod(token_shape)``
values, the whole network is evaluated once per model into a table of
``codebook_size x prod(token_shape)`` intensities (:func:`intensity_table`); decoding a chunk
is then a gather from that table, the same on every machine.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .tokens import local_coordinates
from .weights import WeightsBlob

#: fixed-point scale of the intensity table: entries are round(y * TABLE_SCALE), y in [0, 1].
TABLE_SCALE = 65535


def siren_forward(blob: WeightsBlob, codes: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Evaluate the SIREN in float64: codes (N, C) and coords (N, 3) -> intensities (N,)."""
    arch, t = blob.arch, blob.tensors
    h = np.concatenate([codes, coords], axis=1).astype(np.float64)
    for k in range(int(arch["siren_layers"])):
        w0 = float(arch["w0_first"] if k == 0 else arch["w0_hidden"])
        w = t[f"siren.{k}.weight"].astype(np.float64)
        b = t[f"siren.{k}.bias"].astype(np.float64)
        h = np.sin(w0 * (h @ w.T + b))
    w = t["siren.out.weight"].astype(np.float64)
    b = t["siren.out.bias"].astype(np.float64)
    return (h @ w.T + b)[:, 0]


def intensity_table(blob: WeightsBlob) -> np.ndarray:
    """Fixed-point table of SIREN outputs: (codebook_size, prod(token_shape)) uint16.

    Entry ``[k, v]`` is ``round(clip(y, 0, 1) * TABLE_SCALE)`` for codeword ``k`` at voxel ``v``
    of a token.
    """
    codebook = blob.tensors["codebook"].astype(np.float64)
    coords = local_coordinates(tuple(blob.arch["token_shape"]))
    k, v = codebook.shape[0], coords.shape[0]
    codes = np.repeat(codebook, v, axis=0)
    pos = np.tile(coords, (k, 1))
    y = siren_forward(blob, codes, pos).reshape(k, v)
    return np.rint(np.clip(y, 0.0, 1.0) * TABLE_SCALE).astype(np.uint16)


def table_digest(table: np.ndarray) -> str:
    """Hex sha256 of a fixed-point intensity table (little-endian uint16 bytes)."""
    return hashlib.sha256(np.ascontiguousarray(table, dtype="<u2").tobytes()).hexdigest()


def encoder_forward(blob: WeightsBlob, tokens: np.ndarray) -> np.ndarray:
    """Student raw-intensity encoder: normalised tokens (N, prod(token_shape)) -> features (N, C), float32."""
    t = blob.tensors
    h = tokens.astype(np.float32)
    n_layers = int(blob.arch["encoder_layers"])
    for k in range(n_layers):
        h = h @ t[f"encoder.{k}.weight"].astype(np.float32).T + t[f"encoder.{k}.bias"].astype(np.float32)
        if k < n_layers - 1:
            h = h / (1.0 + np.exp(-h))  # SiLU
    return h


def nearest_codewords(features: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Index of the nearest codeword (squared Euclidean) for each row of ``features`` (N, C) -> (N,) int64."""
    cb = codebook.astype(np.float32)
    d = (cb * cb).sum(1)[None, :] - 2.0 * features.astype(np.float32) @ cb.T
    return d.argmin(axis=1)

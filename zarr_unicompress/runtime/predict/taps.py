"""The causal neighbourhood of the predictors, the padded work layout and the context sizes.

A chunk (Z, Y, X) is predicted slice by slice in raster order from its reconstructed voxels
held in a padded flat int64 array of shape (Z + 1, Y + 5, X + 4): one slice in front (a copy of
slice 0, for the two-slices-back taps at z = 1), three rows on top (copies of row 0), two at the
bottom (copies of row Y - 1), two columns on each side (left: the voxel above the row's first,
set before the row; right: the row's last voxel, set after it). Every tap of every voxel in
rows y >= 1 then reads a defined value without a test; row 0 of a slice is predicted by its
left neighbour (the first voxel by the one above it in the previous slice, or 0 clipped to the
range).
"""

from __future__ import annotations

import numpy as np

#: (dz, dy, dx) of the taps: 14 in the slice, 13 in the previous slice, 9 two slices back.
TAP_OFFSETS = np.array([
    (0, 0, -1), (0, -1, 0), (0, -1, -1), (0, -1, 1), (0, 0, -2),      # W N NW NE WW
    (0, -2, 0), (0, -2, -1), (0, -2, 1), (0, -1, -2), (0, -1, 2),     # NN NNW NNE NWW NEE
    (0, 0, -3), (0, -3, 0), (0, -2, -2), (0, -2, 2),                  # WWW NNN NNWW NNEE
    (-1, 0, 0), (-1, 0, -1), (-1, 0, 1), (-1, -1, 0), (-1, 1, 0),     # P PW PE PN PS
    (-1, -1, -1), (-1, -1, 1), (-1, 1, -1), (-1, 1, 1),               # PNW PNE PSW PSE
    (-1, 0, -2), (-1, 0, 2), (-1, -2, 0), (-1, 2, 0),                 # PWW PEE PNN PSS
    (-2, 0, 0), (-2, 0, -1), (-2, 0, 1), (-2, -1, 0), (-2, 1, 0),     # PP and its 3 x 3
    (-2, -1, -1), (-2, -1, 1), (-2, 1, -1), (-2, 1, 1),
], dtype=np.int64)
#: the name of this tap set in a model's header.
TAP_SET = "em36v1"
N_TAPS = len(TAP_OFFSETS)
#: taps that lie in the current slice (a "2D" predictor uses only these).
N_TAPS_2D = 14
#: fixed-point shift of the integer coefficients (a coefficient c weighs its tap by c / 2**SHIFT).
SHIFT = 12
#: largest |coefficient| a model may hold (2**20: sums of 36 taps of 32-bit values fit in int64).
MAX_COEF = 1 << 20
#: largest codebook (a power of two: the index is coded as log2(K) binary decisions).
MAX_CLASSES = 32
#: activity buckets and the cap of the magnitude exponent.
N_BUCKETS = 18
MAX_EXP = 40
#: padding of the work layout: (front slices, top rows, bottom rows, left columns, right columns).
PAD_FRONT, PAD_TOP, PAD_BOTTOM, PAD_LEFT, PAD_RIGHT = 1, 3, 2, 2, 2


def padded_shape(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """The work layout's shape (Z + 1, Y + 5, X + 4) of a chunk of ``shape`` (Z, Y, X)."""
    z, y, x = shape
    return z + PAD_FRONT, y + PAD_TOP + PAD_BOTTOM, x + PAD_LEFT + PAD_RIGHT


def flat_offsets(shape: tuple[int, int, int]) -> np.ndarray:
    """Flat offsets (N_TAPS,) int64 of the taps in the work layout of a chunk of ``shape``."""
    _, yp, xp = padded_shape(shape)
    return (TAP_OFFSETS[:, 0] * yp * xp + TAP_OFFSETS[:, 1] * xp + TAP_OFFSETS[:, 2]).astype(np.int64)


#: options of a stream (a bit mask in its header; DEFAULT_OPTIONS by default, the others are ablations).
OPT_BIAS = 1          # per-context bias correction (JPEG-LS style)
OPT_CLASS_CTX = 2     # the zero-residual contexts split by predictor class
OPT_TOKEN_FLAGS = 4   # one flag per token whose residuals are all zero
OPT_ERROR_CTX = 8     # the activity context includes the neighbours' quantised residuals
ALL_OPTIONS = OPT_BIAS | OPT_CLASS_CTX | OPT_TOKEN_FLAGS | OPT_ERROR_CTX
#: what the encoder writes by default: the bias correction made the streams 0.2-0.6 % larger on
#: both volumes (the least-squares predictors are unbiased; benchmarks/RESULTS.md v0.5.0).
DEFAULT_OPTIONS = OPT_CLASS_CTX | OPT_TOKEN_FLAGS | OPT_ERROR_CTX

# context layout of the probability states
OFF_ZERO = 0
OFF_SIGN = OFF_ZERO + MAX_CLASSES * N_BUCKETS
OFF_UNARY = OFF_SIGN + 9
OFF_MANT1 = OFF_UNARY + N_BUCKETS * MAX_EXP
OFF_MANT = OFF_MANT1 + N_BUCKETS * MAX_EXP
OFF_CLASS = OFF_MANT + MAX_EXP * MAX_EXP
OFF_FLAG = OFF_CLASS + MAX_CLASSES * MAX_CLASSES
N_CONTEXTS = OFF_FLAG + 4
#: bias-correction contexts: class x bucket.
N_BIAS = MAX_CLASSES * N_BUCKETS

"""The static rANS frequency tables of payload version 2 (:mod:`.fast_codec`): one per context
(:data:`.row_kernels.N_CTX`: the activity buckets and the tokens' context), from the chunk's
symbol counts, stored in the stream as one byte per symbol (a count rounded to 4 significant
bits, :func:`count_code`), deflated. Both sides rebuild the same integer frequencies from those
bytes with the rANS coder's :func:`..entropy.rans_kernels.normalize_counts` (integers only).

Table bytes before deflation: per context, the number n (0 .. ALPHABET) of its token values
that the table covers, then n count codes (0: the token does not occur)."""

from __future__ import annotations

import zlib

import numpy as np

from ...errors import ChunkCorrupt
from .. import numba_support
from ..entropy import rans_kernels
from .row_kernels import ALPHABET, N_CTX

PRECISION = rans_kernels.PRECISION
_MAX_TABLE = N_CTX * (ALPHABET + 1)


def count_code(counts: np.ndarray) -> np.ndarray:
    """Codes (uint8) of counts (int64, 0 .. 2**31): 8e + (c >> e), e = max(0, bit length - 4)."""
    c = np.asarray(counts, np.int64)
    length = sum(((c >> k) > 0).astype(np.int64) for k in range(40))
    e = np.maximum(0, length - 4)
    return (8 * e + (c >> e)).astype(np.uint8)


def code_count(codes: np.ndarray) -> np.ndarray:
    """The counts (int64) that count codes stand for (0 for code 0; exact below 16)."""
    k = np.asarray(codes, np.int64)
    e = np.maximum(0, (k >> 3) - 1)
    return np.where(k < 16, k, ((k - 8 * e) << e) + ((1 << e) >> 1))


def _frequencies(counts: np.ndarray) -> np.ndarray:
    """rANS frequencies (n,) int64 of ``counts`` (n,) int64, by the rANS loops' normalisation."""
    freq = np.empty(len(counts), np.int64)
    numba_support.loops("entropy.rans_loops").normalize_counts(counts, freq)
    return freq


def _frequencies_of_codes(codes: np.ndarray) -> np.ndarray:
    """Frequencies (N_CTX*ALPHABET,) int64 of count codes (N_CTX, ALPHABET) uint8 (0: absent)."""
    freq = np.zeros(codes.shape, np.int64)
    for ctx in range(N_CTX):
        used = np.flatnonzero(codes[ctx])
        if len(used):
            freq[ctx, used] = _frequencies(code_count(codes[ctx, used]))
    return freq.ravel()


def write_tables(counts: np.ndarray) -> tuple[bytes, np.ndarray]:
    """(table bytes, frequencies (N_CTX*ALPHABET,) int64) of symbol ``counts`` (N_CTX*ALPHABET,)
    int64: the frequencies are those :func:`read_tables` rebuilds from the bytes (0 where a
    token does not occur)."""
    codes = count_code(counts).reshape(N_CTX, ALPHABET)
    parts = []
    for ctx in range(N_CTX):
        used = np.flatnonzero(codes[ctx])
        n = int(used[-1]) + 1 if len(used) else 0
        parts.append(bytes([n]) + codes[ctx, :n].tobytes())
    return zlib.compress(b"".join(parts), 9), _frequencies_of_codes(codes)


def read_tables(data: bytes) -> np.ndarray:
    """The frequencies (N_CTX*ALPHABET,) int64 of table bytes; ChunkCorrupt where malformed."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, _MAX_TABLE)
    except zlib.error:
        raise ChunkCorrupt("predictive chunk's frequency tables do not inflate; the chunk is damaged") from None
    if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
        raise ChunkCorrupt("predictive chunk's frequency tables are truncated or too long; the chunk is damaged")
    codes = np.zeros((N_CTX, ALPHABET), np.uint8)
    at = 0
    for ctx in range(N_CTX):
        if at >= len(raw) or raw[at] > ALPHABET or at + 1 + raw[at] > len(raw):
            raise ChunkCorrupt("predictive chunk's frequency tables are malformed; the chunk is damaged")
        n = raw[at]
        codes[ctx, :n] = np.frombuffer(raw, np.uint8, n, at + 1)
        at += 1 + n
    if at != len(raw):
        raise ChunkCorrupt("predictive chunk's frequency tables hold extra bytes; the chunk is damaged")
    return _frequencies_of_codes(codes)


def encoder_tables(freq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(freq_of_code, start_of_code, inverse_of_code) of :func:`..entropy.rans_kernels.encode_symbols`
    for codes ctx * ALPHABET + token."""
    f = freq.reshape(N_CTX, ALPHABET)
    start = (np.cumsum(f, axis=1) - f).ravel()
    inverse = np.where(freq > 0, rans_kernels.rounded_up_inverse(np.maximum(freq, 1).astype(np.float64)), 0.0)
    return freq, start.astype(np.int64), inverse


#: the decoder finds a slot's token from its bin of 2**BIN_SHIFT slots (the token of the bin's
#: first slot, then a step up while the slot lies past the token's end): small tables (L1 cache).
BIN_SHIFT = 4


def decoder_tables(freq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin_tok (N_CTX << (PRECISION - BIN_SHIFT),) uint8: the token of each bin's first slot,
    freq_t and start_t (N_CTX * (ALPHABET + 1),) int64: each token's frequency and first slot,
    start_t[ALPHABET] = 2**PRECISION) of :func:`.row_kernels.decode_symbol`. A context without
    symbols gets token 0 with every slot (a genuine stream never reads it)."""
    f = freq.reshape(N_CTX, ALPHABET).copy()
    f[f.sum(axis=1) == 0, 0] = 1 << PRECISION
    start = np.zeros((N_CTX, ALPHABET + 1), np.int64)
    start[:, 1:] = np.cumsum(f, axis=1)
    freq_t = np.zeros((N_CTX, ALPHABET + 1), np.int64)
    freq_t[:, :ALPHABET] = f
    firsts = np.arange(0, 1 << PRECISION, 1 << BIN_SHIFT)
    bin_tok = np.empty((N_CTX, len(firsts)), np.uint8)
    for ctx in range(N_CTX):
        bin_tok[ctx] = np.searchsorted(start[ctx], firsts, side="right") - 1
    return bin_tok.ravel(), freq_t.ravel(), start.ravel()

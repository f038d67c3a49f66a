"""The interleaved rANS coder (runtime/rans.py): frequencies, round trips, compiled vs plain
Python loops, the constriction fallback, and damaged word sections."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zarr_unicompress.errors import ChunkCorrupt
from zarr_unicompress.runtime import numba_support, rans
from zarr_unicompress.runtime.entropy import GroupDecoder, encode_groups
from zarr_unicompress.runtime.rans_kernels import LANES, PRECISION, STATE_LOW


def laplace_groups(seed: int) -> list[np.ndarray]:
    """Symbol groups like the codec's: skewed residuals, flags, an empty and a constant group,
    lengths that are and are not multiples of LANES."""
    rng = np.random.default_rng(seed)
    return [rng.laplace(0, 3, 10_001).round().astype(np.int16), (rng.random(4_003) < 0.2).astype(np.uint8),
            np.empty(0, np.int64), np.full(33, 7, np.int8), rng.integers(-2000, 2000, 5_002),
            rng.laplace(0, 0.4, 7).round().astype(np.int32)]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 2**40), min_size=2, max_size=rans.MAX_DISTINCT))
def test_frequencies_are_positive_and_sum_to_the_precision(counts: list[int]) -> None:
    freq = rans.normalized_frequencies(np.array(counts, np.int64))
    assert freq.dtype == np.int64 and int(freq.min()) >= 1 and int(freq.sum()) == 1 << PRECISION
    # each is within one slot of 1 + its share of the slots left after the ones
    share = 1 + np.array(counts, np.float64) * ((1 << PRECISION) - len(counts)) / sum(counts)
    assert np.all(np.abs(freq - share) < 1.0 + 1e-9)


def test_frequencies_keep_the_order_of_the_counts() -> None:
    counts = np.array([5, 1, 900, 1, 37, 5, 20000], np.int64)
    freq = rans.normalized_frequencies(counts)
    assert list(np.argsort(freq, kind="stable")) == list(np.argsort(counts, kind="stable"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_groups_round_trip_and_every_lane_ends_where_it_began(seed: int) -> None:
    groups = laplace_groups(seed)
    coded = encode_groups(groups)
    assert coded.uses_rans
    states = struct.unpack_from(f"<{LANES}I", coded.words)
    assert all(STATE_LOW <= s < 1 << 32 for s in states)
    decoder = GroupDecoder(*coded)
    for group in groups:
        np.testing.assert_array_equal(decoder.next(group.size), group)
    decoder.finish()


def test_size_is_within_a_fraction_of_a_percent_of_constriction() -> None:
    groups = laplace_groups(3)
    rans_bytes = len(encode_groups(groups).words)
    ans_bytes = len(encode_groups(groups, allow_rans=False).words)
    assert abs(rans_bytes / ans_bytes - 1) < 0.01


@pytest.mark.skipif(not numba_support.enabled(), reason="numba is not installed: only the plain loops run")
def test_compiled_and_plain_python_loops_write_and_read_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    groups = laplace_groups(4)
    compiled = encode_groups(groups)
    monkeypatch.setattr(numba_support, "loops", lambda name: None)
    rans._compiled.cache_clear()
    try:
        plain = encode_groups(groups)
        assert plain == compiled
        decoder = GroupDecoder(*compiled)
        for group in groups:
            np.testing.assert_array_equal(decoder.next(group.size), group)
        decoder.finish()
    finally:
        monkeypatch.undo()
        rans._compiled.cache_clear()


def test_groups_with_very_many_distinct_symbols_use_constriction() -> None:
    rng = np.random.default_rng(5)
    groups = [rng.integers(0, 100, 1000), rng.permutation(rans.MAX_DISTINCT + 1)]
    coded = encode_groups(groups)
    assert not coded.uses_rans
    decoder = GroupDecoder(*coded)
    for group in groups:
        np.testing.assert_array_equal(decoder.next(group.size), group)
    decoder.finish()


def _decode_all(coded: tuple[bytes, bytes, bool], groups: list[np.ndarray]) -> None:
    decoder = GroupDecoder(*coded)
    for group in groups:
        decoder.next(group.size)
    decoder.finish()


def test_damaged_word_sections_are_refused() -> None:
    groups = laplace_groups(6)
    tables, words, _ = encode_groups(groups)
    with pytest.raises(ChunkCorrupt, match="ends before"):  # the last words cut off
        _decode_all((tables, words[:-8], True), groups)
    with pytest.raises(ChunkCorrupt, match="data left|does not end"):  # words appended
        _decode_all((tables, words + b"\x01\x00\x02\x00", True), groups)
    with pytest.raises(ChunkCorrupt, match="16-bit words"):
        _decode_all((tables, words + b"\x01", True), groups)
    with pytest.raises(ChunkCorrupt, match="states plus"):
        _decode_all((tables, words[:7], True), groups)
    with pytest.raises(ChunkCorrupt, match="impossible coder state"):
        _decode_all((tables, struct.pack("<I", 5) + words[4:], True), groups)
    # one flipped bit in the words: the coder's own checks (words left over, lanes not back at
    # their start) catch most (287 of 300 here); the others decode to other symbols of the
    # tables, never past an array's end, and a chunk's CRC32 refuses them all (test_reliability)
    rng = np.random.default_rng(7)
    refused = 0
    for position in rng.integers(LANES * 4, len(words), 100):
        damaged = bytearray(words)
        damaged[position] ^= 1 << int(rng.integers(0, 8))
        try:
            _decode_all((tables, bytes(damaged), True), groups)
        except ChunkCorrupt:
            refused += 1
    assert refused >= 80


def test_a_table_with_more_symbols_than_the_coder_allows_is_refused() -> None:
    many = np.arange(rans.MAX_DISTINCT + 1)
    tables, _, _ = encode_groups([many], allow_rans=False)
    words = struct.pack(f"<{LANES}I", *[STATE_LOW] * LANES)
    with pytest.raises(ChunkCorrupt, match="more than"):
        GroupDecoder(tables, words, True).next(many.size)


def test_constriction_words_read_as_rans_words_are_refused_not_crashed() -> None:
    groups = laplace_groups(8)
    tables, words, _ = encode_groups(groups, allow_rans=False)
    with pytest.raises(ChunkCorrupt):
        _decode_all((tables, words, True), groups)

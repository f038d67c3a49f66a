"""The interleaved rANS coder (runtime/rans.py): frequencies, round trips, compiled vs plain
Python loops, the constriction fallback, and damaged word sections."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference import entropy as reference_entropy
from tests.reference import plain_loops
from zarr_unicompress.errors import ChunkCorrupt
from zarr_unicompress.runtime import numba_support
from zarr_unicompress.runtime.entropy import rans
from zarr_unicompress.runtime.entropy.groups import GroupDecoder, encode_groups
from zarr_unicompress.runtime.entropy.rans_kernels import LANES, PRECISION, STATE_LOW


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
def test_compiled_and_plain_python_loops_write_and_read_the_same() -> None:
    groups = [g[:300] for g in laplace_groups(4)]  # plain loops are slow: small groups
    compiled = encode_groups(groups)
    with plain_loops():
        plain = encode_groups(groups)
        assert plain == compiled
        decoder = GroupDecoder(*compiled)
        for group in groups:
            np.testing.assert_array_equal(decoder.next(group.size), group)
        decoder.finish()


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
    with pytest.raises(ChunkCorrupt, match="2 to"):
        GroupDecoder(tables, words, True).next(many.size)


def test_constriction_words_read_as_rans_words_are_refused_not_crashed() -> None:
    groups = laplace_groups(8)
    tables, words, _ = encode_groups(groups, allow_rans=False)
    with pytest.raises(ChunkCorrupt):
        _decode_all((tables, words, True), groups)


def test_skewed_groups_with_many_rare_symbols_use_constriction() -> None:
    """14-bit frequencies give every rare symbol at least 2**-14: where that would cost more
    than MAX_EXCESS over the entropy (here 4.5x), the chunk keeps constriction's coder."""
    rng = np.random.default_rng(9)
    group = np.zeros(1_000_000, np.int32)
    rare = rng.random(group.size) >= 0.999
    group[rare] = rng.integers(1, 4001, int(rare.sum()))
    group[1:4001] = np.arange(1, 4001)
    coded = encode_groups([group])
    assert not coded.uses_rans
    np.testing.assert_array_equal(GroupDecoder(*coded).next(group.size), group)
    counts = [np.array([5000, 3, 1, 1], np.int64), np.array([7], np.int64)]
    frequencies = rans.frequencies_if_affordable(counts)
    assert frequencies is not None and frequencies[1] is None and int(frequencies[0].sum()) == 1 << PRECISION


@pytest.mark.skipif(not numba_support.enabled(), reason="numba is not installed: only the plain loops run")
@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(1, 2**40), min_size=0, max_size=60), min_size=1, max_size=8))
def test_coder_choice_and_frequencies_are_the_same_compiled_plain_and_in_numpy(counts: list[list[int]]) -> None:
    """The sizes that choose the coder add the same float64 terms in the same order in the
    compiled call, the plain loop and the NumPy reference: the same frequencies and the same
    choice."""
    from zarr_unicompress.runtime.entropy import estimate_loops

    groups = [np.array(c, np.int64) for c in counts]
    compiled = rans.frequencies_if_affordable(groups)
    with plain_loops():
        plain = rans.frequencies_if_affordable(groups)
    assert (compiled is None) == (plain is None)
    if compiled is not None:
        assert [None if f is None else f.tolist() for f in compiled] == [None if f is None else f.tolist() for f in plain]
    coded = [g for g in groups if len(g) >= 2]
    if coded:
        all_counts = np.concatenate(coded)
        ends = np.cumsum([len(g) for g in coded])
        freq = np.empty(len(all_counts), np.int64)
        bits = estimate_loops.coder_choice_bits(all_counts, ends, PRECISION, freq)
        *numpy_bits, numpy_freq = reference_entropy.coder_choice_bits(all_counts, ends, PRECISION)
        assert bits == tuple(numpy_bits)  # to the last bit
        np.testing.assert_array_equal(freq, numpy_freq)
        entropy = sum(float((g * np.log2(g.sum() / g)).sum()) for g in coded)
        assert bits[0] == pytest.approx(entropy, rel=1e-12, abs=1e-9)


def test_groups_that_code_nothing_leave_the_word_section_empty() -> None:
    groups = [np.full(10, 3), np.empty(0, np.int64), np.full(5, -1, np.int8)]
    coded = encode_groups(groups)
    assert coded.uses_rans and coded.words == b""
    decoder = GroupDecoder(*coded)
    for group in groups:
        np.testing.assert_array_equal(decoder.next(group.size), group)
    decoder.finish()


def test_big_endian_groups_code_as_their_native_twins() -> None:
    group = np.random.default_rng(10).laplace(0, 9, 3000).round().astype(np.int32)
    assert encode_groups([group.astype(">i4")]) == encode_groups([group])


def test_the_reader_refuses_tables_it_does_not_code() -> None:
    reader = rans.RansReader(b"")
    for counts in (np.empty(0, np.int64), np.array([4], np.int64)):
        with pytest.raises(ChunkCorrupt, match="2 to"):
            reader.decode(counts, np.arange(len(counts)))


def _reference_decode(tables: list, word_bytes: bytes) -> list[np.ndarray]:
    """The format as rans.py's docstring states it, decoded by a slow loop of its own (a slot's
    symbol found by a search, not a table): pins the words to the documented layout."""
    states = list(struct.unpack_from(f"<{LANES}I", word_bytes))
    words = list(struct.unpack_from(f"<{(len(word_bytes) - 4 * LANES) // 2}H", word_bytes, 4 * LANES))
    position, out = 0, []
    for table in tables:
        if len(table.symbols) < 2:
            out.append(np.full(table.total, table.symbols[0] if len(table.symbols) else 0))
            continue
        freq = rans.normalized_frequencies(table.counts).tolist()
        start = np.cumsum([0] + freq[:-1]).tolist()
        values = []
        for i in range(table.total):
            lane = i % LANES
            slot = states[lane] % (1 << PRECISION)
            rank = max(r for r in range(len(freq)) if start[r] <= slot)
            values.append(int(table.symbols[rank]))
            states[lane] = freq[rank] * (states[lane] >> PRECISION) + slot - start[rank]
            if states[lane] < STATE_LOW:
                states[lane] = (states[lane] << 16) | words[position]
                position += 1
        out.append(np.array(values))
    assert position == len(words) and states == [STATE_LOW] * LANES
    return out


def test_words_follow_the_documented_format() -> None:
    from zarr_unicompress.runtime.entropy.groups import _unpack_tables

    rng = np.random.default_rng(11)
    for _ in range(6):
        groups = [rng.laplace(0, rng.uniform(0.2, 5), int(rng.integers(0, 400))).round().astype(np.int64)
                  for _ in range(int(rng.integers(1, 6)))]
        groups.append(rng.integers(-3, 4, 257))
        coded = encode_groups(groups)
        assert coded.uses_rans
        for got, want in zip(_reference_decode(_unpack_tables(coded.tables), coded.words), groups, strict=True):
            np.testing.assert_array_equal(got, want)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 2**40), min_size=2, max_size=300))
def test_frequencies_are_the_same_compiled_and_in_plain_python(counts: list[int]) -> None:
    from zarr_unicompress.runtime.entropy import rans_kernels

    counts_array = np.array(counts, np.int64)
    plain = np.empty(len(counts), np.int64)
    rans_kernels.normalize_counts(counts_array, plain)
    np.testing.assert_array_equal(rans.normalized_frequencies(counts_array), plain)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 2**40), min_size=2, max_size=rans.MAX_DISTINCT))
def test_slot_tables_are_the_same_compiled_and_in_plain_python(counts: list[int]) -> None:
    """The decoder's slot tables: each slot's frequency, offset and rank, from the compiled
    loop (uint64 slot indices) as from the plain one."""
    from zarr_unicompress.runtime.entropy import rans_kernels

    loops = numba_support.loops("entropy.rans_loops")
    if loops is None:
        pytest.skip("numba is not installed or turned off: only the plain loops run")
    freq = rans.normalized_frequencies(np.array(counts, np.int64))
    info, rank = [0] * (1 << PRECISION), [0] * (1 << PRECISION)
    rans_kernels.fill_slots(freq.tolist(), info, rank)
    compiled_info, compiled_rank = np.empty(1 << PRECISION, np.int32), np.empty(1 << PRECISION, np.int16)
    loops.fill_slots(freq, compiled_info, compiled_rank)
    assert compiled_info.tolist() == info and compiled_rank.tolist() == rank
    starts = np.concatenate([[0], np.cumsum(freq)])
    assert info[int(starts[-2])] == int(freq[-1]) << PRECISION and rank[-1] == len(freq) - 1


def test_one_call_group_decode_refuses_tables_that_do_not_normalise() -> None:
    """More distinct symbols than slots cannot all get a frequency >= 1: the compiled one-call
    decode answers NOT_NORMALISED before it fills a slot table (the reader refuses such tables
    earlier still, by their size)."""
    loops = numba_support.loops("entropy.rans_loops")
    if loops is None:
        pytest.skip("numba is not installed or turned off: only the plain loops run")
    k = (1 << PRECISION) + 3
    slot_info, slot_rank = np.full(1 << PRECISION, -7, np.int32), np.full(1 << PRECISION, -7, np.int16)
    states = np.full(LANES, STATE_LOW, np.int64)
    answer = loops.decode_group(np.ones(k, np.int64), np.arange(k, dtype=np.int64), states,
                                np.zeros(8, np.uint16), 0, np.empty(k, np.int64), slot_info, slot_rank,
                                np.empty(16, np.int64))
    assert answer == loops.NOT_NORMALISED
    assert (slot_info == -7).all() and (slot_rank == -7).all() and (states == STATE_LOW).all()


def test_the_rounded_up_inverse_gives_the_exact_quotient_for_every_frequency() -> None:
    """int(x * rounded_up_inverse(f)) == x // f at the states where the float error matters
    most: x = q * f (a product rounded down would lose 1) and x = q * f + f - 1 (one rounded up
    would gain 1), for every frequency, the 64 largest quotients the encoder sees (x < f *
    2**(32 - PRECISION)) and 64 random ones (every quotient: the next test)."""
    from zarr_unicompress.runtime.entropy.rans_kernels import rounded_up_inverse

    freq = np.arange(1, (1 << PRECISION) + 1, dtype=np.int64)[:, None]
    top = 1 << (32 - PRECISION)
    rng = np.random.default_rng(0)
    quotients = np.concatenate([np.arange(top - 64, top), rng.integers(0, top, 64)])[None, :]
    inverse = rounded_up_inverse(freq.astype(np.float64))
    for rest in (np.zeros_like(freq), freq - 1):
        states = quotients * freq + rest
        assert int(states.max()) < 1 << 32
        np.testing.assert_array_equal((states * inverse).astype(np.int64), np.broadcast_to(quotients, states.shape))


@pytest.mark.parametrize(("rare", "occurrences"), [(1, 4), (3, 12), (3, 3000)])
def test_groups_of_one_dominant_symbol_and_rare_ones_round_trip(rare: int, occurrences: int) -> None:
    """Frequencies at both ends (2**PRECISION - rare ... and 1): the largest and smallest
    quotients the encoder divides, and a word pushed by almost every rare symbol."""
    rng = np.random.default_rng(rare)
    group = np.zeros(300_001, np.int32)
    where = rng.choice(group.size, occurrences, replace=False)
    group[where] = rng.integers(1, rare + 1, where.size)
    coded = encode_groups([group, group[:5]])
    assert coded.uses_rans
    decoder = GroupDecoder(*coded)
    np.testing.assert_array_equal(decoder.next(group.size), group)
    np.testing.assert_array_equal(decoder.next(5), group[:5])
    decoder.finish()


@pytest.mark.skipif(not numba_support.enabled(), reason="numba is not installed: the sampled check above runs")
def test_the_rounded_up_inverse_gives_the_exact_quotient_for_every_state_the_encoder_divides() -> None:
    """The check above for every quotient q < 2**(32 - PRECISION) of every frequency (2**33
    states, about 1 s compiled); 1 / f without the rounding up misses 2.8e8 of them."""
    import numba

    from zarr_unicompress.runtime.entropy.rans_kernels import rounded_up_inverse

    @numba.njit(fastmath=False)
    def misses(top: int, bump: float) -> int:
        missed = 0
        for f in range(1, (1 << PRECISION) + 1):
            inverse = (1.0 / f) * (1.0 + bump)
            for q in range(top):
                missed += int(q * f * inverse) != q
                missed += int((q * f + f - 1) * inverse) != q
        return missed

    assert rounded_up_inverse(7.0) == (1.0 / 7.0) * (1.0 + 2.0**-40)
    top = 1 << (32 - PRECISION)
    assert misses(top, 2.0**-40) == 0
    assert misses(1 << 10, 0.0) > 0  # the check can fail

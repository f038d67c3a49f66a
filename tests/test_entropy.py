from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference import plain_loops
from zarr_unicompress.errors import ChunkCorrupt
from zarr_unicompress.runtime.entropy.groups import GroupDecoder, encode_groups


def _round_trip(groups: list[np.ndarray], allow_rans: bool = True) -> list[np.ndarray]:
    coded = encode_groups(groups, allow_rans)
    dec = GroupDecoder(*coded)
    out = [dec.next(len(g)) for g in groups]
    dec.finish()
    return out


@pytest.mark.parametrize("allow_rans", [True, False])
def test_groups_round_trip_including_empty_and_single_symbol(allow_rans: bool) -> None:
    rng = np.random.default_rng(0)
    groups = [rng.integers(0, 256, 5000), np.array([], dtype=np.int64), np.full(77, -3),
              rng.laplace(0, 20, 10000).round().astype(np.int64)]
    assert encode_groups(groups, allow_rans).uses_rans is allow_rans
    for a, b in zip(groups, _round_trip(groups, allow_rans)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("allow_rans", [True, False])
def test_groups_decode_into_slices_of_one_buffer(allow_rans: bool) -> None:
    """``next(..., out=)``: each group straight into its part of a buffer (the max_error
    decoder's residual classes), the same values as new arrays; a mismatched ``out`` is refused."""
    rng = np.random.default_rng(3)
    groups = [rng.integers(-30, 30, 500), np.full(40, 7), np.empty(0, np.int64), rng.integers(-2, 3, 333)]
    coded = encode_groups(groups, allow_rans=allow_rans)
    buffer = np.full(sum(len(g) for g in groups), -99, np.int16)
    decoder = GroupDecoder(coded.tables, coded.words, coded.uses_rans)
    start = 0
    for group in groups:
        part = buffer[start : start + len(group)]
        assert decoder.next(len(group), dtype=np.int16, out=part) is part
        start += len(group)
    decoder.finish()
    np.testing.assert_array_equal(buffer, np.concatenate(groups))
    for wrong in (np.empty(499, np.int16), np.empty(500, np.int32), np.empty(1000, np.int16)[::2]):
        decoder = GroupDecoder(coded.tables, coded.words, coded.uses_rans)
        with pytest.raises(ValueError, match="out must be"):
            decoder.next(500, dtype=np.int16, out=wrong)


def test_entropy_coding_beats_raw_size_on_skewed_data() -> None:
    rng = np.random.default_rng(1)
    values = rng.laplace(0, 2, 100_000).round().astype(np.int64)
    tables, words, _ = encode_groups([values])
    assert len(tables) + len(words) < 0.5 * values.size  # < 4 bits per symbol


def test_wrong_expected_count_is_rejected() -> None:
    coded = encode_groups([np.arange(10)])
    with pytest.raises(ChunkCorrupt, match="expected"):
        GroupDecoder(*coded).next(11)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(-70000, 70000), max_size=300), min_size=1, max_size=5), st.booleans())
def test_property_round_trip(lists: list[list[int]], allow_rans: bool) -> None:
    groups = [np.array(g, dtype=np.int64) for g in lists]
    for a, b in zip(groups, _round_trip(groups, allow_rans)):
        np.testing.assert_array_equal(a, b)


def test_wide_value_spans_take_the_sorting_path() -> None:
    """Values spanning more than the bincount range (here 2**40) still round-trip."""
    rng = np.random.default_rng(2)
    groups = [np.concatenate([rng.integers(-5, 5, 1000), [-(2**40), 2**40]]), rng.integers(0, 3, 500)]
    for a, b in zip(groups, _round_trip(groups)):
        np.testing.assert_array_equal(a, b)


def test_symbols_beyond_the_allowed_magnitude_are_rejected() -> None:
    coded = encode_groups([np.array([0, 1, -200, 5])])
    with pytest.raises(ChunkCorrupt, match="outside"):
        GroupDecoder(*coded).next(4, dtype=np.int32, magnitude_limit=100)
    coded = encode_groups([np.array([0, 2**35])])
    with pytest.raises(ChunkCorrupt, match="outside"):
        GroupDecoder(*coded).next(2, dtype=np.int32)
    np.testing.assert_array_equal(GroupDecoder(*encode_groups([np.array([0, -99])])).next(
        2, dtype=np.int32, magnitude_limit=100), [0, -99])


@pytest.mark.parametrize(("low", "high", "dtype"), [(-100, 100, np.int8), (-128, 127, np.int16), (-127, 127, np.int8),
                                                     (-30000, 30000, np.int16), (0, 40000, np.int32), (-5, 3, np.int8)])
def test_groups_decode_in_the_narrowest_dtype(low: int, high: int, dtype: type) -> None:
    """Contiguous symbol ranges whose ranks exceed the narrow dtype still decode exactly."""
    rng = np.random.default_rng(0)
    symbols = np.r_[low, high, rng.integers(low, high + 1, 5000)]
    symbols = np.r_[symbols, np.arange(low, high + 1)] if high - low < 70000 else symbols
    decoded = GroupDecoder(*encode_groups([symbols])).next_narrow(len(symbols))
    assert decoded.dtype == dtype
    np.testing.assert_array_equal(decoded.astype(np.int64), symbols)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.integers(-(2**40), 2**40), st.integers(1, 2**40), max_size=40), max_size=8))
def test_table_sections_round_trip_the_same_with_and_without_the_compiled_loops(tables: list[dict[int, int]]) -> None:
    from zarr_unicompress.runtime.entropy.groups import (
        FrequencyTable,
        _pack_tables,
        _unpack_tables,
    )

    given_tables = [FrequencyTable(np.array(sorted(t), np.int64), np.array([t[k] for k in sorted(t)], np.int64))
                    for t in tables]
    section = _pack_tables(given_tables)
    with plain_loops():
        assert _pack_tables(given_tables) == section
        plain = _unpack_tables(section)
    for read in (_unpack_tables(section), plain):
        assert len(read) == len(given_tables)
        for got, want in zip(read, given_tables, strict=True):
            np.testing.assert_array_equal(got.symbols, want.symbols)
            np.testing.assert_array_equal(got.counts, want.counts)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64))
def test_damaged_table_sections_are_refused_alike_with_and_without_the_compiled_loops(data: bytes) -> None:
    """Any bytes: a ChunkCorrupt with the same message, or the same tables, on both paths."""
    from zarr_unicompress.runtime.entropy.groups import _unpack_tables

    def outcome() -> object:
        try:
            return [(t.symbols.tolist(), t.counts.tolist()) for t in _unpack_tables(data)]
        except ChunkCorrupt as exc:
            return str(exc)

    compiled = outcome()
    with plain_loops():
        assert outcome() == compiled


def test_table_sections_read_from_any_buffer_and_refuse_values_the_reader_would() -> None:
    from zarr_unicompress.errors import UnsupportedInput
    from zarr_unicompress.runtime.entropy.groups import (
        FrequencyTable,
        _pack_tables,
        _unpack_tables,
    )

    tables = [FrequencyTable(np.array([-5, 0, 9], np.int64), np.array([3, 1, 2], np.int64))]
    section = _pack_tables(tables)
    padded = section + bytes(8 - len(section) % 8)  # a buffer of 8-byte items: counted in bytes all the same
    with pytest.raises(ChunkCorrupt, match="trailing"):
        _unpack_tables(memoryview(np.frombuffer(padded, np.uint64)))
    read = _unpack_tables(memoryview(bytearray(section)))
    np.testing.assert_array_equal(read[0].symbols, tables[0].symbols)
    with pytest.raises(UnsupportedInput, match="2\\*\\*40"):
        _pack_tables([FrequencyTable(np.array([0, 2**41], np.int64), np.array([1, 1], np.int64))])

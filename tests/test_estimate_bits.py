"""The arithmetic of size estimates (runtime/entropy/estimate_loops.py, constants in
estimate_bits.py) against its NumPy reference (tests/reference/estimate.py): the same float64
results bit for bit, compiled and as plain Python."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference import estimate as reference
from tests.reference import plain_loops
from zarr_unicompress.runtime import numba_support
from zarr_unicompress.runtime.entropy import estimate_bits


def _spread_of_values() -> np.ndarray:
    """Positive float64s: small integers (counts), powers of two and their neighbours, random
    magnitudes over 24 decades and mantissas around sqrt(1/2), where the series switches."""
    rng = np.random.default_rng(11)
    powers = 2.0 ** np.arange(-60, 61)
    return np.concatenate([
        np.arange(1, 70_000, dtype=np.float64),
        powers, np.nextafter(powers, 0), np.nextafter(powers, np.inf),
        10.0 ** rng.uniform(-12, 12, 50_000),
        (estimate_bits.SQRT_HALF * 2.0 ** np.arange(-5, 6)[:, None] * (1 + np.linspace(-1e-12, 1e-12, 21))).ravel(),
    ])


def test_log2_is_within_3_ulp_of_the_c_library_and_exact_on_powers_of_two() -> None:
    values = _spread_of_values()
    got = reference.log2(values)
    want = np.array([math.log2(v) for v in values])
    ulp = np.spacing(np.maximum(np.abs(want), 1e-300))
    assert np.all(np.abs(got - want) <= 3 * ulp + 2.0**-53)  # 3 ulp, or 1e-16 near log2 = 0
    exponents = np.arange(-60, 61)
    np.testing.assert_array_equal(reference.log2(2.0**exponents), exponents.astype(np.float64))


def test_table_entry_bits_count_the_leb128_bytes_of_the_count() -> None:
    """A delta byte plus 1 + floor(log2(count) / 7) bytes, counts below 1 as 1, also at each
    byte boundary and just below it."""
    limits = [2**(7 * j) for j in range(1, 7)]
    counts = sorted({0.0, 0.3, 1.0, 2.0, 127.0, 127.999, *map(float, limits), *(v - 1e-9 * v for v in limits)})
    def leb128_bytes(value: float) -> int:
        return 1 + (max(int(value), 1).bit_length() - 1) // 7
    want = [8.0 * (1 + leb128_bytes(c)) for c in counts]
    assert reference.table_entry_bits(np.array(counts)).tolist() == want


def test_sequential_sum_adds_in_index_order() -> None:
    values = np.array([1e16, 1.0, -1e16, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])  # pairwise sums differ
    assert reference.sequential_sum(values) == ((((1e16 + 1.0) - 1e16) + 1.0) + 6.0)
    assert reference.sequential_sum(np.empty(0)) == 0.0


def test_group_bits_is_entropy_times_scale_plus_the_table() -> None:
    counts = np.array([5, 120, 3000, 7])
    n = counts.sum()
    entropy = -(counts * np.log2(counts / n)).sum()
    table = 8 + sum(8 * (1 + 1 + (int(c * 3.5).bit_length() - 1) // 7) for c in counts)
    assert estimate_bits.group_bits(counts, 3.5, 0.25) == pytest.approx(entropy * 3.5 + 0.25 * table, rel=1e-12)
    assert estimate_bits.group_bits(np.zeros(3, np.int64)) == 0.0


def test_loop_log2_and_table_bits_equal_numpy_bit_for_bit() -> None:
    loops = numba_support.loops("entropy.estimate_loops")
    values = _spread_of_values()
    compiled = np.array([loops.log2(v) for v in values])
    assert compiled.tobytes() == reference.log2(values).tobytes()
    with plain_loops() as plain:
        some = values[::50]
        assert np.array([plain["entropy.estimate_loops"].log2(v) for v in some]).tobytes() == compiled[::50].tobytes()
    counts = np.concatenate([values[:2000], 2.0 ** np.arange(0, 63), np.nextafter(2.0 ** np.arange(0, 63), 0)])
    np.testing.assert_array_equal([loops.table_entry_bits(c) for c in counts], reference.table_entry_bits(counts))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=40), st.integers(1, 6),
       st.floats(0.01, 1e4), st.floats(0.0, 2.0))
def test_band_bits_equal_joint_bits(counts: list[int], bands: int, scale: float, weight: float) -> None:
    loops = numba_support.loops("entropy.estimate_loops")
    histogram = np.array([counts[band:] + counts[:band] for band in range(bands)], np.int64)
    scales = scale * (1 + np.arange(bands))
    want = reference.joint_bits(histogram, scales, weight)
    got = np.array([loops.band_bits(histogram[band], scales[band], weight) for band in range(bands)])
    assert got.tobytes() == want.tobytes()
    values = np.repeat(np.arange(len(counts)), counts[:len(counts)]) if sum(counts) <= 10**5 else None
    if values is not None:  # the same histogram as sorted values (the estimate of wide symbol ranges)
        assert loops.sorted_bits(values, scales[0], weight) == want[0]


@pytest.mark.parametrize("level", [1, 2, 3])
def test_magnitude_threshold_equals_the_reference(level: int) -> None:
    from tests.reference.quantize import magnitude_threshold
    from zarr_unicompress.runtime.transform import wavelet_residual
    from zarr_unicompress.runtime.transform.wavelet_residual import DEADZONE_ROUNDING

    loops = numba_support.loops("quantize.quantize_loops")
    rng = np.random.default_rng(level)
    for step in np.concatenate([[0.05, 0.1, 1.0, 3.0, 16320.0], 10.0 ** rng.uniform(-1.3, 4.3, 300)]):
        step32 = np.float32(step)
        want = magnitude_threshold(float(step32), level)
        assert loops.magnitude_threshold(step32, level, np.float32(DEADZONE_ROUNDING)) == want
        assert wavelet_residual.magnitude_threshold(float(step32), level) == want

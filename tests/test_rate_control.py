"""Rate control of the ratio mode: block flags from peaks, size estimates, the step search."""

from __future__ import annotations

import numpy as np
import pytest

from tests.common import em_block
from zarr_unicompress.runtime.entropy import encode_groups
from zarr_unicompress.runtime.rate_control import MIN_STEP, BandUnits, SizeEstimator
from zarr_unicompress.runtime.wavelet_residual import analyze, levels_for, quantize, to_blocks


def em_bands(shape: tuple[int, int, int] = (8, 256, 256)) -> list[np.ndarray]:
    vol = em_block(shape)
    return analyze(vol.astype(np.float32) - np.float32(vol.mean()), levels_for(shape))


@pytest.mark.parametrize("step", [MIN_STEP, 0.7, 3.0, 12.5, 40.0])
def test_coded_blocks_follow_the_rule_computed_from_quantised_blocks(step: float) -> None:
    """A block is coded exactly when one of its quantised coefficients is non-zero, except a
    detail-band block whose non-zero values are at most SPARSE_BLOCK_NONZERO of +-1; also for
    coefficients right at the quantiser's thresholds (0.65 and 1.65 steps)."""
    from zarr_unicompress.runtime.rate_control import SPARSE_BLOCK_NONZERO

    bands = em_bands()
    rng = np.random.default_rng(0)
    s = np.float32(step)
    for band in (bands[-1], bands[1]):
        edge = band.ravel()
        n = min(600, edge.size // 2)
        at = rng.choice(edge.size, n, replace=False)
        thresholds = np.array([np.float32(0.65) * s, np.float32(1.65) * s], np.float32)
        near = np.concatenate([thresholds, np.nextafter(thresholds, np.float32(0)),
                               np.nextafter(thresholds, np.float32(np.inf))])
        edge[at] = np.resize(near, n) * rng.choice([-1, 1], n)
    # three blocks of the finest band: a single +-1 (zeroed), two +-1 and a single +-2 (coded)
    finest = bands[-1]
    finest[0, :4, :12] = 0.0
    finest[0, 1, 2] = -s
    finest[0, 0, 4], finest[0, 3, 7] = s, -s
    finest[0, 2, 9] = 2 * s
    units = BandUnits.of(bands, zero_blocks=True)
    zeroed = 0
    for band_index, band in enumerate(bands):
        q_blocks = to_blocks(quantize(band, step))
        count = np.count_nonzero(q_blocks, axis=1)
        expected = count > 0
        if band_index > 0:
            sparse = (np.abs(q_blocks).max(axis=1) == 1) & (count <= SPARSE_BLOCK_NONZERO)
            zeroed += int(sparse.sum())
            expected &= ~sparse
        flags, values = units.band_groups(band_index, step)
        np.testing.assert_array_equal(flags.view(np.bool_), expected)
        np.testing.assert_array_equal(values, q_blocks[expected].ravel())
    assert zeroed > 0  # the rule is exercised
    flags, _ = units.band_groups(len(bands) - 1, step)
    assert flags[:3].tolist() == [0, 1, 1]


def test_units_without_zero_blocks_are_the_coefficients() -> None:
    bands = em_bands((2, 64, 64))
    units = BandUnits.of(bands, zero_blocks=False)
    for got, band in zip(units.groups(5.0), bands):
        np.testing.assert_array_equal(got, quantize(band, 5.0).ravel())


@pytest.mark.parametrize("zero_blocks", [True, False])
def test_estimate_is_close_to_the_coded_size(zero_blocks: bool) -> None:
    units = BandUnits.of(em_bands(), zero_blocks)
    for step in (2.0, 8.0, 30.0):
        tables, words = encode_groups(units.groups(step))
        coded_bits = 8 * (len(tables) + len(words))
        assert abs(SizeEstimator(units).bits(step) / coded_bits - 1) < 0.05


@pytest.mark.parametrize("guess_factor", [1.0, 1.1, 0.9, 3.0, 0.2])
def test_a_guess_gives_the_step_found_without_one(guess_factor: float) -> None:
    """Near or far, a guess only changes how the search starts, not the step it settles on
    (to within its tolerance)."""
    estimator = SizeEstimator(BandUnits.of(em_bands(), True))
    budget = estimator.bits(6.0)
    plain = estimator.step_for(budget, 255)
    guided = estimator.step_for(budget, 255, guess=plain * guess_factor)
    assert estimator.bits(guided) <= budget and estimator.bits(plain) <= budget
    assert abs(guided / plain - 1) < 0.02


@pytest.mark.parametrize("shape", [(2, 64, 64), (3, 33, 70), (1, 5, 3)])
def test_block_peaks_are_the_largest_magnitude_of_each_block(shape: tuple[int, int, int]) -> None:
    from zarr_unicompress.runtime.wavelet_residual import block_peaks

    band = np.random.default_rng(1).normal(0, 10, shape).astype(np.float32)
    np.testing.assert_array_equal(block_peaks(band), np.abs(to_blocks(band)).max(axis=1))


def test_quantiser_is_the_dead_zone_formula() -> None:
    """quantize() equals sign(c) * floor(|c| / step + 0.35) in float32 for every coefficient,
    also for -0.0, tiny values and values on the rounding thresholds of both signs."""
    from zarr_unicompress.runtime.wavelet_residual import DEADZONE_ROUNDING

    rng = np.random.default_rng(3)
    for step in (MIN_STEP, 0.3, 1.0, 7.25, 300.0):
        s = np.float32(step)
        k = np.arange(-50, 51, dtype=np.float32)
        thresholds = (k + np.float32(1 - DEADZONE_ROUNDING)) * s
        values = np.concatenate([
            rng.normal(0, 40 * step, 100_000).astype(np.float32),
            thresholds, np.nextafter(thresholds, np.float32(np.inf)), np.nextafter(thresholds, np.float32(-np.inf)),
            np.array([0.0, -0.0, 1e-30, -1e-30], np.float32),
        ])
        magnitude = np.abs(values) / s + np.float32(DEADZONE_ROUNDING)
        expected = (np.sign(values) * np.floor(magnitude)).astype(np.int32)
        got = quantize(values, step)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("shape", [(9, 64, 72), (3, 33, 70), (1, 16, 16), (5, 8, 20)])
@pytest.mark.parametrize("zero_blocks", [True, False])
def test_units_cut_per_slab_equal_units_of_whole_bands(shape: tuple[int, int, int], zero_blocks: bool) -> None:
    """Cutting blocks out of each slab's bands inside the transform gives exactly the units and
    peaks of cutting the whole bands afterwards (also for levels = 0 and odd sizes)."""
    signal = np.random.default_rng(2).integers(0, 255, shape).astype(np.uint8)
    levels = levels_for(shape)
    whole = BandUnits.of(analyze(signal, levels, 100.0), zero_blocks)
    cut = BandUnits.of_signal(signal, levels, 100, zero_blocks)
    assert len(whole.units) == len(cut.units)
    for a, b in zip(whole.units + whole.peaks, cut.units + cut.peaks):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("zero_blocks", [True, False])
def test_joint_estimate_equals_the_estimate_band_by_band(zero_blocks: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-histogram estimate is the sum over bands and groups of entropy x scale + table
    bits, as each group alone gives it; also on the band-by-band path for wide symbol ranges."""
    from zarr_unicompress.runtime import rate_control
    from zarr_unicompress.runtime.entropy import estimate_bits
    from zarr_unicompress.runtime.rate_control import table_bits

    units = BandUnits.of(em_bands(), zero_blocks)
    samples = 1 << 14
    stride = max(1, sum(u.size for u in units.units) // samples)
    sample = units.strided(stride)
    scales = [len(u) / len(s) for u, s in zip(units.units, sample.units)]

    def reference(step: float) -> float:
        total = 0.0
        for band, scale in enumerate(scales):
            for group in sample.band_groups(band, step):
                total += estimate_bits(group) * scale + (table_bits(group) if group.size else 0.0)
        return total

    estimator = SizeEstimator(units, samples)
    for step in (MIN_STEP, 0.5, 4.0, 30.0, 500.0):
        assert estimator.bits(step) == pytest.approx(reference(step), rel=1e-9)
    monkeypatch.setattr(rate_control, "_JOINT_HISTOGRAM_BINS", 8)
    for step in (0.5, 30.0):
        assert estimator.bits(step) == pytest.approx(reference(step), rel=1e-9)

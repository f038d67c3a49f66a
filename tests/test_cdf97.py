"""The lifting CDF 9/7 of runtime/cdf97.py against PyWavelets' bior4.4 (periodization)."""

from __future__ import annotations

import numpy as np
import pytest
import pywt

from zarr_unicompress.runtime.transform import cdf97

SHAPES_LEVELS = [((3, 64, 64), 3), ((2, 63, 65), 2), ((5, 125, 17), 1), ((1, 9, 9), 1), ((2, 8, 1), 1),
                 ((3, 500, 333), 5), ((7, 17, 16), 1), ((9, 40, 40), 2)]


def pywt_bands(volume: np.ndarray, levels: int) -> list[np.ndarray]:
    coeffs = pywt.wavedec2(volume, "bior4.4", mode="periodization", level=levels, axes=(1, 2))
    return [coeffs[0]] + [band for detail in coeffs[1:] for band in detail]


def pywt_inverse(bands: list[np.ndarray], levels: int, shape: tuple[int, int, int]) -> np.ndarray:
    coeffs = [bands[0]] + [tuple(bands[1 + 3 * i : 4 + 3 * i]) for i in range(levels)]
    return pywt.waverec2(coeffs, "bior4.4", mode="periodization", axes=(1, 2))[: shape[0], : shape[1], : shape[2]]


def random_volume(shape: tuple[int, int, int]) -> np.ndarray:
    return np.random.default_rng(sum(shape)).normal(0.0, 100.0, shape).astype(np.float32)


@pytest.mark.parametrize(("shape", "levels"), SHAPES_LEVELS)
def test_forward_matches_pywavelets(shape: tuple[int, int, int], levels: int) -> None:
    volume = random_volume(shape)
    expected = pywt_bands(volume.astype(np.float64), levels)
    got = cdf97.analyze(volume, levels)
    assert [b.shape for b in got] == [b.shape for b in expected]
    assert all(b.dtype == np.float32 for b in got)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=0, atol=2e-6 * np.abs(volume).max() * 2**levels)


@pytest.mark.parametrize(("shape", "levels"), SHAPES_LEVELS)
def test_inverse_matches_pywavelets_and_reconstructs(shape: tuple[int, int, int], levels: int) -> None:
    volume = random_volume(shape)
    bands = pywt_bands(volume.astype(np.float64), levels)
    got = cdf97.synthesize([b.astype(np.float32) for b in bands], levels, shape)
    assert got.shape == shape and got.dtype == np.float32
    tolerance = 4e-6 * np.abs(volume).max()
    np.testing.assert_allclose(got, pywt_inverse(bands, levels, shape), rtol=0, atol=tolerance)
    np.testing.assert_allclose(cdf97.synthesize(cdf97.analyze(volume, levels), levels, shape), volume, rtol=0,
                               atol=tolerance)


def test_slabs_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each slice is transformed alone, so how slices are grouped into slabs (cache blocking)
    leaves every coefficient and voxel bit for bit the same."""
    volume = random_volume((9, 96, 80))
    bands = cdf97.analyze(volume, 3)
    recon = cdf97.synthesize(bands, 3, volume.shape)
    for slab in (1, 2, 5, 9):
        monkeypatch.setattr(cdf97, "SLAB_VOXELS", slab * 96 * 80)
        assert cdf97.slab_slices(volume.shape) == slab
        for got, want in zip(cdf97.analyze(volume, 3), bands):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(cdf97.synthesize(bands, 3, volume.shape), recon)


def test_band_sizes_follow_ceil_halving() -> None:
    assert cdf97.band_sizes(125, 3) == [63, 32, 16]
    assert cdf97.band_sizes(512, 5) == [256, 128, 64, 32, 16]

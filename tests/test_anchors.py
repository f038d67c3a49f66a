"""The benchmark anchors (benchmarks/anchors.py and the modules under it): bisection, cache,
error bounds, the PyAV video round trip and the metric helpers. Small synthetic volumes only
(no quality figures are asserted here)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import anchor_cache  # noqa: E402
import anchors  # noqa: E402
import metrics  # noqa: E402
from classical_codecs import KnobCodec, bisect_knob  # noqa: E402
from video_codecs import SVTAV1, X265, AnchorUnsupported, video_decode, video_encode  # noqa: E402


def textured(shape: tuple[int, int, int], dtype=np.uint8, seed: int = 0) -> np.ndarray:
    """A smooth random volume with noise (compressible, not trivial)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.linspace(0, 3, n) for n in shape], indexing="ij")
    base = 120 + 60 * np.sin(x * 2 + z) * np.cos(y * 3) + rng.normal(0, 6, shape)
    scale = 1 if dtype == np.uint8 else 3
    return np.clip(base * scale, 0, np.iinfo(dtype).max).astype(dtype)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("UNICOMPRESS_ANCHOR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


class P:
    def __init__(self, ratio: float, psnr: float) -> None:
        self.ratio, self.psnr = ratio, psnr


def test_bd_rate_of_a_known_shift() -> None:
    # the same curve at 1.25x the ratio everywhere needs 1/1.25 of the bits: BD-rate -20 %
    ref = [P(r, 20 + 6 * np.log2(64 / r)) for r in (4, 8, 16, 32, 64)]
    better = [P(p.ratio * 1.25, p.psnr) for p in ref]
    assert metrics.bd_rate(ref, better) == pytest.approx(-20.0, abs=1e-6)
    assert metrics.bd_rate(better, ref) == pytest.approx(25.0, abs=1e-6)
    assert metrics.bd_rate(ref[:3], better) is None  # fewer than 4 points


def test_pareto_envelope_keeps_only_undominated_points() -> None:
    pts = [P(4, 40), P(8, 35), P(8, 36), P(16, 30), P(5, 34), P(16, 31.5), P(32, 20)]
    front = metrics.pareto_envelope(pts)
    assert [(p.ratio, p.psnr) for p in front] == [(4, 40), (8, 36), (16, 31.5), (32, 20)]


def test_psnr_ssim_and_max_error_helpers() -> None:
    a = textured((3, 32, 32))
    b = a.copy()
    b[0, 0, 0] = a[0, 0, 0] ^ 3
    assert metrics.psnr(a, a) == float("inf")
    assert metrics.max_abs_error(a, b) == abs(int(a[0, 0, 0]) - int(b[0, 0, 0]))
    assert metrics.psnr(a, b, None) == pytest.approx(metrics.psnr(a, b, 255.0))
    assert 0.99 < metrics.mean_slice_ssim(a, b, None) <= 1.0
    assert metrics.data_range_of(a.astype(np.uint16)) == 65535.0


@pytest.mark.parametrize("increasing", [True, False])
def test_bisect_knob_finds_the_smallest_ratio_at_or_above_the_target(increasing: bool) -> None:
    def true_ratio(knob: float) -> float:
        return knob if increasing else 100.0 / knob

    def ratio_of(knob: float) -> float:
        calls.append(knob)
        return true_ratio(knob)

    calls: list[float] = []
    codec = KnobCodec("toy", 1.0, 100.0, increasing, None, None, "k", iterations=30)
    knob = bisect_knob(codec, 10.0, ratio_of)
    assert true_ratio(knob) >= 10.0 and true_ratio(knob) == pytest.approx(10.0, rel=0.02)
    # with the measurements of the first run known, a second run needs at most a few encodes
    known = {k: true_ratio(k) for k in calls}
    calls.clear()
    assert bisect_knob(codec, 10.0, ratio_of, known=known) == knob
    assert len(calls) <= 2
    assert bisect_knob(codec, 1000.0, ratio_of, iterations=8) is None  # out of the knob's reach


@pytest.mark.parametrize("setup", [X265, SVTAV1], ids=["x265", "svtav1"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_pyav_video_round_trip_on_a_tiny_volume(setup, dtype) -> None:
    pytest.importorskip("av")
    volume = textured((5, 33, 46), dtype)  # odd height: padded and cropped
    stream = video_encode(volume, setup, 20)
    out = video_decode(stream, setup, volume.shape, volume.dtype)
    assert out.shape == volume.shape and out.dtype == volume.dtype
    assert metrics.psnr(volume, out, None) > 30
    assert sum(len(s) for s in stream) < volume.nbytes


def test_video_refuses_uint16_beyond_its_bit_depth() -> None:
    pytest.importorskip("av")
    volume = np.full((2, 16, 16), 5000, np.uint16)
    with pytest.raises(AnchorUnsupported, match="bits"):
        video_encode(volume, SVTAV1, 30)


def test_ratio_anchor_reaches_the_target_and_is_cached(private_cache) -> None:
    volume = textured((4, 48, 48))
    first = anchors.ratio_anchor("JPEG-XL", volume, 6.0, iterations=6)
    assert first is not None and first.ratio >= 6.0 and not first.cached
    assert list(private_cache.rglob("*.json"))
    again = anchors.ratio_anchor("JPEG-XL", volume, 6.0, iterations=6)
    assert again.cached and again.ratio == first.ratio and again.psnr == first.psnr
    data = anchors.ratio_anchor("JPEG-XL", volume, 6.0, iterations=6, with_data=True)
    assert data.decoded.shape == volume.shape and sum(map(len, data.stream)) == first.nbytes
    assert anchors.ratio_anchor("JPEG-XL", volume, 1e6, iterations=4) is None


@pytest.mark.parametrize("name", ["JPEG-LS", "SZ3 (3D)", "SPERR (3D)"])
@pytest.mark.parametrize("bound", [0, 2])
def test_error_bounded_anchors_keep_their_bound(name: str, bound: int) -> None:
    volume = textured((4, 40, 40))
    result = anchors.bounded_anchor(name, volume, bound, with_data=True)
    assert result.max_abs_error <= bound and not result.violates
    assert metrics.max_abs_error(volume, result.decoded) == result.max_abs_error
    assert result.ratio > 1.0


def test_lossless_anchors_are_exact_and_only_at_zero() -> None:
    volume = textured((3, 32, 32), np.uint16)
    for name in ("JPEG-XL lossless", "zstd-19", "blosc2"):
        result = anchors.bounded_anchor(name, volume, 0, with_data=True)
        assert np.array_equal(result.decoded, volume)
        assert anchors.bounded_anchor(name, volume, 2) is None
    with pytest.raises(ValueError):
        anchors.bounded_anchor("JPEG-LS", volume, -1)


def test_cache_key_depends_on_the_volume_bytes() -> None:
    a = textured((2, 8, 8))
    b = a.copy()
    b[0, 0, 0] ^= 1
    assert anchor_cache.volume_digest(a) != anchor_cache.volume_digest(b)
    assert anchor_cache.volume_digest(a) != anchor_cache.volume_digest(a.astype(np.uint16))
    anchor_cache.store("X", "s", 1.0, anchor_cache.volume_digest(a), {"v": 1})
    assert anchor_cache.load("X", "s", 1.0, anchor_cache.volume_digest(a)) == {"v": 1}
    assert anchor_cache.load("X", "s", 1.0, anchor_cache.volume_digest(b)) is None
    assert anchor_cache.load("X", "t", 1.0, anchor_cache.volume_digest(a)) is None


def test_cached_only_never_encodes() -> None:
    volume = textured((3, 40, 40))
    with pytest.raises(anchors.NotCached):
        anchors.ratio_anchor("SZ3 (3D)", volume, 4.0, cached_only=True)
    assert anchors.ratio_table(volume, [4.0], ["SZ3 (3D)"], log=lambda s: None, cached_only=True) == []
    measured = anchors.ratio_anchor("SZ3 (3D)", volume, 4.0)
    again = anchors.ratio_anchor("SZ3 (3D)", volume, 4.0, cached_only=True)
    assert again.cached and again.ratio == measured.ratio
    assert anchors.anchor_curve("SZ3 (3D)", volume)  # the search's steps, as a curve


def test_bounded_table_measures_each_bound_and_skips_what_is_not_cached(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("UNICOMPRESS_ANCHOR_CACHE", str(tmp_path))
    volume = textured((2, 24, 24))
    logged: list[str] = []
    assert anchors.bounded_table(volume, [1, 2], ["JPEG-LS"], log=logged.append, cached_only=True) == []
    assert len(logged) == 2 and logged[0].startswith("JPEG-LS E=1")
    found = anchors.bounded_table(volume, [1, 2], ["JPEG-LS"], log=logged.append)
    assert [r.bound for r in found] == [1, 2] and all(r.max_abs_error <= r.bound for r in found)
    assert found[0].ratio < found[1].ratio

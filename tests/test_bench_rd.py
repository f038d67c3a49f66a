"""The benchmark's comparison helpers (benchmarks/bench_rd.py), which the recorded figures rely on."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_rd.py"
_spec = importlib.util.spec_from_file_location("bench_rd", _PATH)
bench_rd = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("bench_rd", bench_rd)  # dataclasses look their module up there
_spec.loader.exec_module(bench_rd)
Point = bench_rd.Point


def curve(*pairs: tuple[float, float]) -> list:
    return [Point("X", "knob", ratio, psnr, 0.0) for ratio, psnr in pairs]


def test_psnr_at_ratio_interpolates_in_log_ratio_between_the_bracketing_points() -> None:
    # a curve measured at targets 16 and 20 (reached 16.01 and 20.01): the value at 20.15 lies
    # beyond 20.01 toward 32, never the point at 16.01 (the old matching took the first point
    # within 20 % of the target, i.e. 16.01 for target 20)
    points = curve((8.0, 28.78), (16.01, 25.09), (20.01, 24.15), (32.0, 22.48))
    expected = 24.15 + (22.48 - 24.15) * (bench_rd.np.log(20.15 / 20.01) / bench_rd.np.log(32.0 / 20.01))
    assert bench_rd.psnr_at_ratio(points, 20.15) == pytest.approx(expected)
    assert bench_rd.psnr_at_ratio(points, 16.01) == pytest.approx(25.09)


def test_psnr_at_ratio_is_none_outside_the_curve_and_ignores_repeated_knob_limits() -> None:
    points = curve((4.0, 34.0), (13.67, 17.84), (13.67, 17.84), (23.3, 15.41))
    assert bench_rd.psnr_at_ratio(points, 3.9) is None
    assert bench_rd.psnr_at_ratio(points, 64.0) is None
    assert bench_rd.psnr_at_ratio(points, 13.67) == pytest.approx(17.84)


def test_bd_rate_of_a_curve_against_itself_is_zero_and_halved_rate_is_minus_half() -> None:
    points = curve((4.0, 34.0), (8.0, 28.5), (16.0, 25.0), (32.0, 22.5), (64.0, 21.0))
    assert bench_rd.bd_rate(points, points) == pytest.approx(0.0, abs=1e-9)
    doubled = [Point("Y", "knob", p.ratio * 2, p.psnr, 0.0) for p in points]
    assert bench_rd.bd_rate(points, doubled) == pytest.approx(-50.0, abs=1e-6)


def test_chunk_slices_tile_the_volume_once() -> None:
    shape = (5, 9, 7)
    cover = bench_rd.np.zeros(shape, int)
    for s in bench_rd.chunk_slices(shape, (2, 4, 7)):
        cover[s] += 1
    assert (cover == 1).all() and len(bench_rd.chunk_slices(shape, (2, 4, 7))) == 3 * 3
    assert bench_rd.chunk_slices(shape, None) == [(slice(0, 5), slice(0, 9), slice(0, 7))]


def test_a_registered_variant_runs_and_is_compared_with_the_anchors() -> None:
    np = bench_rd.np
    volume = (np.arange(4 * 16 * 16) % 251).astype(np.uint8).reshape(4, 16, 16)

    def encode(block, quality):  # a toy variant: drops the low bits, stores raw bytes
        shift = 2 if "ratio" in quality else quality["max_error"].bit_length()
        return [((block >> shift) << shift).tobytes(), bytes(8)]

    def decode(stream, shape, dtype):
        return np.frombuffer(stream[0], dtype).reshape(shape)

    variant = bench_rd.Variant("toy", encode, decode)
    p = bench_rd.run_variant(variant, volume, max_error=1)
    assert p.ratio == pytest.approx(volume.nbytes / (volume.nbytes + 8)) and p.max_abs_error == 1
    anchors = {"JPEG-LS": [Point("JPEG-LS", "near=1", 1.5, 50.0, 1.0, 1, target=1)],
               "SZ3 (3D)": [Point("SZ3 (3D)", "abs=1", 2.0, 50.0, 1.0, 1, target=1)]}
    table = bench_rd.bound_table([1], {"toy": [p]}, anchors)
    assert f"{p.ratio / 2.0:.3f}x" in table  # against the better of JPEG-LS and SZ3
    violated = Point("toy", "max_error=1", 3.0, 40.0, 0.9, 3, target=1)
    assert "3.000!" in bench_rd.bound_table([1], {"toy": [violated]}, anchors)


def test_bd_table_takes_the_worst_case_over_the_best_anchors() -> None:
    test = curve((4.0, 34.0), (8.0, 28.5), (16.0, 25.0), (32.0, 22.5), (64.0, 21.0))
    x265 = [Point("HEVC (x265)", "k", p.ratio * 2, p.psnr, 0.0) for p in test]  # x265 needs half the bits
    jxl = [Point("JPEG-XL", "k", p.ratio / 2, p.psnr, 0.0) for p in test]
    table = bench_rd.bd_table({"X": test}, {"HEVC (x265)": x265, "JPEG-XL": jxl})
    row = table.splitlines()[-1].split("|")
    assert row[2].strip() == "+100.0 %" and row[3].strip() == "-50.0 %"
    assert row[4].strip() == "+100.0 %"  # best of: the anchor X does worst against
    assert row[5].strip() == "+100.0 %"  # the envelope is x265's curve here

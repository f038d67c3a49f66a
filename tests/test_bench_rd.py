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

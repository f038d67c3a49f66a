"""Rate-distortion and speed of UniCompress vs classical codecs on a real EM volume.

Usage::

    python benchmarks/bench_rd.py [--data PATH.npy] [--chunk 30 512 512] [--ratios 4 8 12 16 20 32 64]

For each target ratio, UniCompress runs in ``ratio=`` mode and every classical codec (see
``benchmarks/codecs.py``) is set by bisection on its knob to the smallest ratio >= the target.
PSNR uses data range 255 over the whole block; SSIM is the mean of per-slice 2D SSIM
(scikit-image). Speeds are single-thread MB/s of raw voxels (median of ``--repeats`` runs) at
the ratio nearest 10. Prints Markdown tables (RD, BD-rate, speed, decoder cost) and writes
``rd.png`` into ``--out``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # single-thread comparison; must precede numpy

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from classical_codecs import KnobCodec, find_knob, lossless_codecs, lossy_codecs, size  # noqa: E402


@dataclass
class Point:
    codec: str
    setting: str
    ratio: float
    psnr: float
    ssim: float


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def mean_slice_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    from skimage.metrics import structural_similarity

    return float(np.mean([structural_similarity(x, y, data_range=data_range) for x, y in zip(a, b)]))


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bd_rate(ref: list[Point], test: list[Point]) -> float | None:
    """Bjontegaard delta rate (%) of ``test`` vs ``ref`` over their common PSNR range (cubic fit).

    Negative: ``test`` needs fewer bits for the same PSNR. Rate is bits per voxel = 8 / ratio.
    """
    def fit(points: list[Point]):
        pts = sorted((p for p in points if np.isfinite(p.psnr)), key=lambda p: p.psnr)
        if len(pts) < 4:
            return None
        q = np.array([p.psnr for p in pts])
        r = np.log(np.array([8.0 / p.ratio for p in pts]))
        return q, np.polyfit(q, r, 3)

    a, b = fit(ref), fit(test)
    if a is None or b is None:
        return None
    lo, hi = max(a[0].min(), b[0].min()), min(a[0].max(), b[0].max())
    if lo >= hi:
        return None
    ia, ib = np.polyint(a[1]), np.polyint(b[1])
    avg = ((np.polyval(ib, hi) - np.polyval(ib, lo)) - (np.polyval(ia, hi) - np.polyval(ia, lo))) / (hi - lo)
    return float((np.exp(avg) - 1) * 100)


def psnr_at_ratio(points: list[Point], ratio: float) -> float | None:
    """PSNR of a codec's RD curve at ``ratio``: linear in log(ratio) between the two points
    that bracket it (a point at that ratio itself where there is one); None outside the
    curve's range. Where several points share a ratio (a knob at its limit), the first counts."""
    curve: dict[float, float] = {}
    for p in sorted(points, key=lambda p: p.ratio):
        if np.isfinite(p.psnr):
            curve.setdefault(round(p.ratio, 6), p.psnr)
    ratios = np.array(list(curve))
    if len(ratios) == 0 or not ratios[0] <= ratio <= ratios[-1]:
        return None
    return float(np.interp(np.log(ratio), np.log(ratios), np.array(list(curve.values()))))


def rd_table(points: list[Point]) -> str:
    lines = ["| codec | setting | ratio | PSNR (dB) | SSIM |", "|---|---|---:|---:|---:|"]
    lines += [f"| {p.codec} | {p.setting} | {p.ratio:.2f} | {p.psnr:.2f} | {p.ssim:.4f} |" for p in points]
    return "\n".join(lines)


def plot(points: list[Point], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for codec in dict.fromkeys(p.codec for p in points):
        pts = sorted((p for p in points if p.codec == codec and np.isfinite(p.psnr) and p.ratio > 1.01),
                     key=lambda p: p.ratio)
        if len(pts) < 2:
            continue
        for ax, attr in zip(axes, ("psnr", "ssim")):
            ax.plot([p.ratio for p in pts], [getattr(p, attr) for p in pts], "o-", label=codec)
    for ax, label in zip(axes, ("PSNR (dB)", "mean slice SSIM")):
        ax.set_xscale("log")
        ax.set_xlabel("compression ratio")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


class UniCompressBench:
    """UniCompress as the benchmark sees it: one chunk encoded with a given model and quality."""

    def __init__(self, model, label: str) -> None:
        from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk, encode_chunk

        self.model, self.label = model, label
        self._q, self._enc, self._dec = QualitySettings, encode_chunk, decode_chunk

    def point(self, block: np.ndarray, **quality) -> tuple[Point, bytes]:
        stream = self._enc(self.model, block, self._q(**quality))
        out = self._dec(self.model, stream).reshape(block.shape)
        setting = ", ".join(f"{k}={v}" for k, v in quality.items()) or "indices only"
        return Point(self.label, setting, block.nbytes / len(stream), psnr(block, out),
                     mean_slice_ssim(block, out)), stream

    def speed(self, block: np.ndarray, repeats: int, **quality) -> tuple[float, float]:
        """Encode and decode MB/s (medians of ``repeats``), see :meth:`paired_speed`."""
        return self.paired_speed(block, repeats, **quality)[:2]

    def paired_speed(self, block: np.ndarray, repeats: int, **quality) -> tuple[float, float, float]:
        """Encode MB/s, decode MB/s (medians) and the median of encode / decode throughput over
        ``repeats`` pairs. Each pair times one encode and right after it one decode, so that both
        see the same state of the machine: on this shared VM, timing all encodes and then all
        decodes moved their ratio by up to 20 % between runs."""
        q = self._q(**quality)
        stream = self._enc(self.model, block, q)
        encodes, decodes = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            self._enc(self.model, block, q)
            middle = time.perf_counter()
            self._dec(self.model, stream)
            encodes.append(middle - start)
            decodes.append(time.perf_counter() - middle)
        mb = block.nbytes / 1e6
        pair_ratios = np.array(decodes) / np.array(encodes)
        return mb / float(np.median(encodes)), mb / float(np.median(decodes)), float(np.median(pair_ratios))


def knob_point(codec: KnobCodec, block: np.ndarray, target: float) -> tuple[Point, float] | None:
    found = find_knob(codec, block, target)
    if found is None:
        return None
    knob, stream = found
    out = codec.decode(stream, block.shape)
    return Point(codec.name, f"{codec.knob_name}={knob:.3f}", block.nbytes / size(stream), psnr(block, out),
                 mean_slice_ssim(block, out)), knob


def table_vs_direct(model, block: np.ndarray) -> str:
    """Indices-only reconstruction of ``block`` by the table decoder vs a direct float64 SIREN
    evaluation at every voxel (same indices): PSNR of both and how many voxels differ."""
    from zarr_unicompress.runtime.inr.prediction import scaled_table, select_indices
    from zarr_unicompress.runtime.inr.network import siren_forward
    from zarr_unicompress.runtime.inr.tokens import from_tokens, local_coordinates, to_tokens

    lo, hi = int(block.min()), int(block.max())
    tokens01 = (to_tokens(block, model.token_shape).astype(np.float32) - lo) / (hi - lo)
    indices = select_indices(model, tokens01, "table")
    table = from_tokens(scaled_table(model, lo, hi)[indices], block.shape, model.token_shape)
    coords = local_coordinates(model.token_shape)
    codebook = model.weights.tensors["codebook"].astype(np.float64)
    y = siren_forward(model.weights, np.repeat(codebook[indices], len(coords), axis=0),
                      np.tile(coords, (len(indices), 1))).reshape(len(indices), len(coords))
    direct = from_tokens(np.rint(lo + np.clip(y, 0, 1) * (hi - lo)), block.shape, model.token_shape)
    differ = int(np.count_nonzero(table.astype(np.int64) != direct.astype(np.int64)))
    return (f"indices-only PSNR: table decoder {psnr(block, table):.4f} dB, direct SIREN per voxel "
            f"{psnr(block, direct):.4f} dB; {differ} of {block.size} voxels differ")


def decoder_cost(model) -> str:
    """FLOP per voxel of a direct SIREN evaluation vs the table decoder, and the table build time."""
    from zarr_unicompress.runtime.inr.model import build_runtime_model

    t = model.weights.tensors
    siren = [k for k in t if k.startswith("siren.") and k.endswith(".weight")]
    flop = sum(2 * int(np.prod(t[k].shape)) + 4 * t[k].shape[0] for k in siren)  # matmul + bias + sine
    start = time.perf_counter()
    build_runtime_model(model.blob)
    build = time.perf_counter() - start
    k, v = model.table.shape
    return ("| decoder | FLOP per voxel | one-off cost |\n|---|---:|---|\n"
            f"| direct SIREN (student, {len(siren)} layers) | {flop} | none |\n"
            f"| table decoder (this codec) | 0 network FLOP: 1 table lookup + residual | table of {k} x {v} "
            f"uint16 built in {build * 1000:.0f} ms per process ({k * v * flop / 1e6:.0f} MFLOP) |\n"
            f"| ratio mode: inverse CDF 9/7 by lifting (5 levels) | {lifting_flop_per_voxel(5):.1f} | none |\n"
            f"| same transform as 9/7-tap convolution (PyWavelets) | {convolution_flop_per_voxel(5):.1f} | none |")


def transform_table(block: np.ndarray, repeats: int) -> str:
    """Forward and inverse 5-level CDF 9/7 of the block: PyWavelets' float32 convolution vs
    the codec's float32 lifting (runtime/cdf97.py), time and largest difference."""
    import warnings

    import pywt

    from zarr_unicompress.runtime.transform import cdf97

    signal = block.astype(np.float32) - np.float32(block.mean())
    levels = 5

    def pywt_forward() -> list[np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            coeffs = pywt.wavedec2(signal, "bior4.4", mode="periodization", level=levels, axes=(1, 2))
        return [coeffs[0]] + [band for detail in coeffs[1:] for band in detail]

    def pywt_inverse(bands: list[np.ndarray]) -> np.ndarray:
        coeffs = [bands[0]] + [tuple(bands[1 + 3 * i : 4 + 3 * i]) for i in range(levels)]
        return pywt.waverec2(coeffs, "bior4.4", mode="periodization", axes=(1, 2))

    reference = pywt_forward()
    lifted = cdf97.analyze(signal, levels)
    forward_diff = max(float(np.abs(a - b).max()) for a, b in zip(reference, lifted))
    inverse_diff = float(np.abs(pywt_inverse(reference) - cdf97.synthesize(reference, levels, signal.shape)).max())
    rows = [("forward", median_seconds(pywt_forward, repeats), median_seconds(lambda: cdf97.analyze(signal, levels), repeats),
             forward_diff),
            ("inverse", median_seconds(lambda: pywt_inverse(reference), repeats),
             median_seconds(lambda: cdf97.synthesize(reference, levels, signal.shape), repeats), inverse_diff)]
    lines = ["| direction | PyWavelets ms | lifting ms | speed-up | largest difference (intensity units) |",
             "|---|---:|---:|---:|---:|"]
    for name, conv, lift, diff in rows:
        lines.append(f"| {name} | {conv * 1000:.1f} | {lift * 1000:.1f} | {conv / lift:.2f}x | {diff:.2e} |")
    return "\n".join(lines)


def lifting_flop_per_voxel(levels: int) -> float:
    """Counted FLOP per output voxel of the 2D inverse lifting (runtime/cdf97.py): per axis and
    input sample, 4 lifting steps of (add, multiply, add) on half the samples plus one scaling
    multiply; two axes per level; level l works on 4**-l of the voxels."""
    per_sample_axis = 4 * 3 / 2 + 1
    return 2 * per_sample_axis * sum(4.0**-level for level in range(levels))


def convolution_flop_per_voxel(levels: int) -> float:
    """The same for the 9- and 7-tap synthesis filters applied as convolutions: each output
    sample takes one multiply-add per tap of the filter of its phase (16 taps per two samples)."""
    per_sample_axis = 2 * (9 + 7) / 2
    return 2 * per_sample_axis * sum(4.0**-level for level in range(levels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help=".npy volume (default: ISBI 2012 from the data search path)")
    parser.add_argument("--chunk", type=int, nargs=3, default=(30, 512, 512), help="block (z y x) encoded as one chunk")
    parser.add_argument("--ratios", type=float, nargs="+", default=(4, 8, 12, 16, 20, 32, 64))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="student blob (.ucmw) instead of the default model")
    parser.add_argument("--codecs", nargs="*", default=None, help="subset of classical codecs by name")
    parser.add_argument("--out", default=str(Path(__file__).parent / "plots"))
    args = parser.parse_args()

    from numcodecs_ext.unicompress import model_blob
    from zarr_unicompress.data import load_em_volume
    from zarr_unicompress.runtime.inr.model import load_model

    volume = np.load(args.data, mmap_mode="r") if args.data else load_em_volume("isbi2012")
    block = np.ascontiguousarray(volume[tuple(slice(0, c) for c in args.chunk)])
    model = load_model(Path(args.model).read_bytes() if args.model else model_blob(None))
    uni = UniCompressBench(model, "UniCompress")
    classical = [c for c in lossy_codecs() if args.codecs is None or c.name in args.codecs]
    points: list[Point] = [uni.point(block)[0]]
    knobs: dict[str, dict[float, float]] = {c.name: {} for c in classical}
    for ratio in args.ratios:
        points.append(uni.point(block, ratio=float(ratio))[0])
        for codec in classical:
            found = knob_point(codec, block, ratio)
            if found is None:
                print(f"{codec.name}: ratio {ratio} out of reach of its knob range", file=sys.stderr)
                continue
            points.append(found[0])
            knobs[codec.name][ratio] = found[1]
    for bound in (0, 2, 4):
        points.append(uni.point(block, max_error=bound)[0])
    floor = []
    for name, (enc, dec) in lossless_codecs().items():
        stream = enc(block)
        assert np.array_equal(dec(stream, block.shape), block)
        floor.append(Point(name, "lossless", block.nbytes / size(stream), float("inf"), 1.0))
    points += floor

    speed_ratio = min(args.ratios, key=lambda r: abs(r - 10))
    mb = block.nbytes / 1e6
    speeds = [("UniCompress", f"ratio={speed_ratio}", *uni.speed(block, args.repeats, ratio=float(speed_ratio)))]
    speeds.append(("UniCompress", "max_error=2", *uni.speed(block, args.repeats, max_error=2)))
    for codec in classical:
        knob = knobs[codec.name].get(speed_ratio)
        if knob is None:
            continue
        stream = codec.encode(block, knob)
        speeds.append((codec.name, f"ratio={speed_ratio}", mb / median_seconds(lambda: codec.encode(block, knob), args.repeats),
                       mb / median_seconds(lambda: codec.decode(stream, block.shape), args.repeats)))
    for name, (enc, dec) in lossless_codecs().items():
        stream = enc(block)
        speeds.append((name, "lossless", mb / median_seconds(lambda: enc(block), args.repeats),
                       mb / median_seconds(lambda: dec(stream, block.shape), args.repeats)))

    by_ratio = [(r, *uni.paired_speed(block, args.repeats, ratio=float(r))) for r in args.ratios if r in (4, 8, 16, 32, 64)]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(points, out / "rd.png")
    uni_pts = [p for p in points if p.codec == "UniCompress" and p.setting.startswith("ratio")]
    print(f"block {block.shape} {block.dtype} from {args.data or 'ISBI 2012'}; model sha256 {model.digest[:16]}; "
          f"{platform.machine()}, {os.cpu_count()} cores, 1 thread per codec; "
          f"{time.strftime('%Y-%m-%d')}")
    print("\n### Rate-distortion\n")
    print(rd_table(points))
    print("\n### PSNR difference at UniCompress's ratio (UniCompress minus codec, dB; the codec's PSNR "
          "interpolated in log ratio between its two nearest points)\n")
    print("| target ratio | UniCompress ratio | " + " | ".join(c.name for c in classical) + " |")
    print("|---:|---:|" + "---:|" * len(classical))
    for ratio, up in zip(args.ratios, uni_pts):
        cells = []
        for codec in classical:
            other = psnr_at_ratio([p for p in points if p.codec == codec.name], up.ratio)
            cells.append("n/a" if other is None else f"{up.psnr - other:+.2f}")
        print(f"| {ratio:g} | {up.ratio:.2f} | " + " | ".join(cells) + " |")
    print("\n### BD-rate of UniCompress (ratio mode) vs each codec (negative: UniCompress needs fewer bits)\n")
    print("| reference | BD-rate |\n|---|---:|")
    for codec in classical:
        bd = bd_rate([p for p in points if p.codec == codec.name], uni_pts)
        print(f"| {codec.name} | {'n/a' if bd is None else f'{bd:+.1f} %'} |")
    print(f"\n### Speed (MB/s of raw voxels, 1 thread, median of {args.repeats})\n")
    print("| codec | setting | encode MB/s | decode MB/s |\n|---|---|---:|---:|")
    for name, setting, enc_mbs, dec_mbs in speeds:
        print(f"| {name} | {setting} | {enc_mbs:.1f} | {dec_mbs:.1f} |")
    print(f"\n### UniCompress encode vs decode by ratio (1 thread, {args.repeats} encode-decode pairs)\n")
    print("| ratio | encode MB/s | decode MB/s | encode / decode (median of pairs) |\n|---:|---:|---:|---:|")
    for ratio, enc_mbs, dec_mbs, pair_ratio in by_ratio:
        print(f"| {ratio:g} | {enc_mbs:.1f} | {dec_mbs:.1f} | {pair_ratio:.2f} |")
    print(f"\n### Wavelet transform of the block (5 levels, float32, median of {args.repeats})\n")
    print(transform_table(block, args.repeats))
    print("\n### Decoder cost\n")
    print(decoder_cost(model))
    print("\n" + table_vs_direct(model, block))
    print(f"\nplot: {out / 'rd.png'}")


if __name__ == "__main__":
    main()

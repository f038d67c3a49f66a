"""Rate-distortion and speed of UniCompress vs JPEG-XL on a real EM volume.

Usage::

    python benchmarks/bench_rd.py [--data PATH.npy] [--chunk 30 512 512] [--out benchmarks/plots]

For each target ratio, UniCompress runs in ``ratio=`` mode and JPEG-XL (imagecodecs, per
z-slice) is set by bisection on its ``distance`` to the same ratio. PSNR uses data range 255
over the whole block; SSIM is the mean of per-slice 2D SSIM (scikit-image). Speeds are
single-thread MB/s of raw voxels (median of ``--repeats`` runs). Prints a Markdown table and
writes ``rd.png`` (PSNR and SSIM vs ratio) into ``--out``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # single-thread comparison; must precede numpy

import argparse
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass
class Point:
    codec: str
    setting: str
    ratio: float
    psnr: float
    ssim: float
    encode_mbs: float
    decode_mbs: float


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def mean_slice_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    from skimage.metrics import structural_similarity

    return float(np.mean([structural_similarity(x, y, data_range=data_range) for x, y in zip(a, b)]))


def timed(fn: Callable[[], object], repeats: int) -> tuple[object, float]:
    """Result of ``fn`` and its median wall time in seconds over ``repeats`` runs."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, float(np.median(times))


def measure(name: str, setting: str, block: np.ndarray, encode: Callable[[], object],
            decode: Callable[[object], np.ndarray], size: Callable[[object], int], repeats: int) -> Point:
    stream, t_enc = timed(encode, repeats)
    out, t_dec = timed(lambda: decode(stream), repeats)
    out = np.asarray(out).reshape(block.shape)
    mb = block.nbytes / 1e6
    return Point(name, setting, block.nbytes / size(stream), psnr(block, out), mean_slice_ssim(block, out),
                 mb / t_enc, mb / t_dec)


def unicompress_point(block: np.ndarray, model, label: str, repeats: int, **quality) -> Point:
    from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk, encode_chunk

    q = QualitySettings(**quality)
    setting = ", ".join(f"{k}={v}" for k, v in quality.items()) or "indices only"
    return measure(label, setting, block, lambda: encode_chunk(model, block, q),
                   lambda s: decode_chunk(model, s), len, repeats)


def jpegxl_stream(block: np.ndarray, distance: float) -> list[bytes]:
    import imagecodecs

    return [imagecodecs.jpegxl_encode(s, distance=distance, effort=7, numthreads=1) for s in block]


def jpegxl_point(block: np.ndarray, target_ratio: float, repeats: int) -> Point:
    """JPEG-XL per slice with the distance (bisection) whose ratio is closest to ``target_ratio``."""
    import imagecodecs

    lo, hi = 0.05, 25.0
    for _ in range(14):
        mid = (lo * hi) ** 0.5
        ratio = block.nbytes / sum(map(len, jpegxl_stream(block, mid)))
        lo, hi = (lo, mid) if ratio > target_ratio else (mid, hi)
    distance = (lo * hi) ** 0.5
    return measure("JPEG-XL", f"distance={distance:.3f}", block, lambda: jpegxl_stream(block, distance),
                   lambda s: np.stack([imagecodecs.jpegxl_decode(x, numthreads=1) for x in s]),
                   lambda s: sum(map(len, s)), repeats)


def markdown(points: list[Point]) -> str:
    lines = ["| codec | setting | ratio | PSNR (dB) | SSIM | encode MB/s | decode MB/s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for p in points:
        lines.append(f"| {p.codec} | {p.setting} | {p.ratio:.2f} | {p.psnr:.2f} | {p.ssim:.4f} | "
                     f"{p.encode_mbs:.1f} | {p.decode_mbs:.1f} |")
    return "\n".join(lines)


def plot(points: list[Point], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for codec in dict.fromkeys(p.codec for p in points):
        pts = sorted((p for p in points if p.codec == codec and np.isfinite(p.psnr)), key=lambda p: p.ratio)
        for ax, attr in zip(axes, ("psnr", "ssim")):
            ax.plot([p.ratio for p in pts], [getattr(p, attr) for p in pts], "o-", label=codec)
    for ax, label in zip(axes, ("PSNR (dB)", "mean slice SSIM")):
        ax.set_xscale("log")
        ax.set_xlabel("compression ratio")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help=".npy volume (default: ISBI 2012 from the data search path)")
    parser.add_argument("--chunk", type=int, nargs=3, default=(30, 512, 512), help="block (z y x) encoded as one chunk")
    parser.add_argument("--ratios", type=float, nargs="+", default=(4, 8, 12, 16, 20))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="student blob (.ucmw) to use instead of the default model")
    parser.add_argument("--out", default=str(Path(__file__).parent / "plots"))
    args = parser.parse_args()

    from numcodecs_ext.unicompress import model_blob
    from zarr_unicompress.data import load_em_volume
    from zarr_unicompress.runtime.model import load_model

    volume = np.load(args.data, mmap_mode="r") if args.data else load_em_volume("isbi2012")
    block = np.ascontiguousarray(volume[tuple(slice(0, c) for c in args.chunk)])
    model = load_model(Path(args.model).read_bytes() if args.model else model_blob(None))
    label = "UniCompress" + (f" ({Path(args.model).stem})" if args.model else "")
    points = [unicompress_point(block, model, label, args.repeats)]
    for ratio in args.ratios:
        points.append(unicompress_point(block, model, label, args.repeats, ratio=float(ratio)))
        points.append(jpegxl_point(block, ratio, args.repeats))
    for bound in (0, 2, 4):
        points.append(unicompress_point(block, model, label, args.repeats, max_error=bound))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(points, out / "rd.png")
    print(f"block {block.shape} {block.dtype} from {args.data or 'ISBI 2012'}; model sha256 {model.digest[:16]}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1 thread per codec")
    print(markdown(points))
    print(f"plot: {out / 'rd.png'}")


if __name__ == "__main__":
    main()

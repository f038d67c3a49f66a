"""Rate-distortion of UniCompress (and its variants) vs the classical anchors on real EM volumes.

Usage::

    UNICOMPRESS_DATA=/work/shared/data python benchmarks/bench_rd.py --volume isbi|fib|both \
        [--ratios 4 8 16 32 64] [--bounds 0 1 2 4] [--chunk Z Y X] [--anchors NAME ...] [--variants NAME ...]

Each volume is coded whole: per-slice anchors slice by slice, video anchors as one video,
3D anchors and UniCompress variants in one piece (or on the ``--chunk`` grid, summing the
bytes). Anchors come from benchmarks/anchors.py (knob bisected to the smallest ratio >= each
target, cached). Prints, per volume: RD table, PSNR difference at the variant's ratio,
BD-rate of each variant vs each anchor and vs the best of x265, SVT-AV1, SPERR 3D and JPEG-XL,
ratio at each error bound E vs JPEG-LS / SZ3 / SPERR / JPEG-XL lossless, and seconds of one
run (shared machine: indicative only). Writes ``rd_<volume>.png`` into ``--out``.

Variants are a registry other benchmarks extend::

    import bench_rd
    bench_rd.VARIANTS["my coder"] = lambda volume: bench_rd.Variant("my coder", encode, decode)
    bench_rd.main(["--volume", "fib"])

``encode(volume, quality) -> list[bytes]`` gets ``{"ratio": r}`` or ``{"max_error": E}``;
``decode(stream, shape, dtype) -> volume``. ``modes`` says which of the two it supports.
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
from typing import Any, Callable, Sequence  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchors import VOLUME_LABELS, AnchorResult, anchor_curve, bounded_table, load_volume, ratio_table  # noqa: E402
from classical_codecs import RATIO_ANCHORS, size  # noqa: E402
from error_bounded import BOUNDED_ANCHORS  # noqa: E402
from metrics import bd_rate, max_abs_error, mean_slice_ssim, pareto_envelope, psnr, psnr_at_ratio  # noqa: E402
from video_codecs import Stream  # noqa: E402

#: the anchors issue 21 names as "the best" for volumes
BEST_OF = ("HEVC (x265)", "AV1 (SVT-AV1)", "SPERR (3D)", "JPEG-XL")
#: error-bounded anchors the variants are compared with (ratio of the best of them)
BOUND_REFERENCE = ("JPEG-LS", "SZ3 (3D)")


@dataclass
class Point:
    """One coded version of a volume: ratio (raw / stored bytes), PSNR (dB, dtype peak), mean
    slice SSIM, max |error|, seconds of one encode / decode; ``target``: asked ratio or E."""

    codec: str
    setting: str
    ratio: float
    psnr: float
    ssim: float
    max_abs_error: int = -1
    encode_s: float = float("nan")
    decode_s: float = float("nan")
    target: float | None = None


@dataclass(frozen=True)
class Variant:
    """A codec under test. ``encode(volume, quality) -> Stream`` with quality ``{"ratio": r}``
    or ``{"max_error": E}``; ``decode(stream, shape, dtype) -> volume``."""

    name: str
    encode: Callable[[np.ndarray, dict[str, Any]], Stream]
    decode: Callable[[Stream, tuple[int, ...], np.dtype], np.ndarray]
    modes: tuple[str, ...] = ("ratio", "max_error")
    prepare: Callable[[dict[str, Any]], None] = lambda quality: None  # untimed set-up per quality


def chunk_slices(shape: Sequence[int], chunk: Sequence[int] | None) -> list[tuple[slice, ...]]:
    """The regular chunk grid over ``shape`` (edge chunks smaller), C order; one chunk if None."""
    import itertools

    chunk = tuple(shape) if chunk is None else tuple(min(c, s) for c, s in zip(chunk, shape))
    starts = [range(0, s, c) for s, c in zip(shape, chunk)]
    return [tuple(slice(o, min(o + c, s)) for o, c, s in zip(origin, chunk, shape))
            for origin in itertools.product(*starts)]


def unicompress_variant(model: Any = None, chunk: Sequence[int] | None = None, name: str = "UniCompress") -> Variant:
    """UniCompress as shipped (numcodecs ``UniCompress``, public API only), ``model`` as its
    constructor takes it (None: the default EM model), coded on the ``chunk`` grid."""
    from zarr_unicompress import UniCompress

    codecs: dict[tuple, Any] = {}  # quality -> codec; building one loads the model (untimed)

    def codec_for(quality: dict[str, Any]) -> Any:
        key = tuple(sorted(quality.items()))
        if key not in codecs:
            codecs[key] = UniCompress(model, **quality)
        return codecs[key]

    def encode(volume: np.ndarray, quality: dict[str, Any]) -> Stream:
        codec = codec_for(quality)
        return [codec.encode(np.ascontiguousarray(volume[s])) for s in chunk_slices(volume.shape, chunk)]

    def decode(stream: Stream, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        codec = codec_for({"ratio": 2.0})  # decoding reads the mode from the stream
        out = np.empty(shape, dtype)
        for s, part in zip(chunk_slices(shape, chunk), stream):
            out[s] = np.asarray(codec.decode(part)).reshape(out[s].shape)
        return out

    def prepare(quality: dict[str, Any]) -> None:
        codec_for(quality)
        codec_for({"ratio": 2.0})

    return Variant(name, encode, decode, prepare=prepare)


#: variants under test: name -> factory(volume) (a factory may fit a model on the volume)
VARIANTS: dict[str, Callable[[np.ndarray], Variant]] = {"UniCompress": lambda volume: unicompress_variant()}


def run_variant(variant: Variant, volume: np.ndarray, **quality: Any) -> Point:
    """Encode and decode ``volume`` once with ``variant`` and measure it."""
    variant.prepare(quality)
    start = time.perf_counter()
    stream = variant.encode(volume, quality)
    middle = time.perf_counter()
    out = variant.decode(stream, volume.shape, volume.dtype)
    done = time.perf_counter()
    (mode, value), = quality.items()
    return Point(variant.name, f"{mode}={value:g}", volume.nbytes / size(stream), psnr(volume, out, None),
                 mean_slice_ssim(volume, out, None), max_abs_error(volume, out), middle - start, done - middle,
                 float(value))


def from_anchor(result: AnchorResult) -> Point:
    target = result.target if result.target is not None else result.bound
    return Point(result.codec, result.setting, result.ratio, result.psnr, result.ssim, result.max_abs_error,
                 result.encode_s, result.decode_s, target)


def rd_table(points: Sequence[Point]) -> str:
    lines = ["| codec | target | setting | ratio | PSNR (dB) | SSIM |", "|---|---:|---|---:|---:|---:|"]
    lines += [f"| {p.codec} | {'' if p.target is None else f'{p.target:g}'} | {p.setting} | {p.ratio:.2f} | "
              f"{p.psnr:.2f} | {p.ssim:.4f} |" for p in sorted(points, key=lambda p: (p.target or 0, p.codec))]
    return "\n".join(lines)


def psnr_gap_table(variant: Sequence[Point], anchors: dict[str, list[Point]]) -> str:
    """Variant PSNR minus each anchor's PSNR interpolated (linear in log ratio) at the
    variant's ratio on the anchor's curve ``anchors[name]`` (dB); n/a outside the curve."""
    names = list(anchors)
    lines = ["| target | ratio | PSNR | " + " | ".join(names) + " |", "|---:|---:|---:|" + "---:|" * len(names)]
    for p in variant:
        cells = [psnr_at_ratio(anchors[n], p.ratio) for n in names]
        lines.append(f"| {p.target:g} | {p.ratio:.2f} | {p.psnr:.2f} | "
                     + " | ".join("n/a" if c is None else f"{p.psnr - c:+.2f}" for c in cells) + " |")
    return "\n".join(lines)


def _bd(ref: Sequence[Point], test: Sequence[Point]) -> str:
    bd = bd_rate(ref, test)
    return "n/a" if bd is None else f"{bd:+.1f} %"


def bd_table(variants: dict[str, list[Point]], anchors: dict[str, list[Point]]) -> str:
    """BD-rate of each variant vs each anchor, vs the worst case over BEST_OF (the anchor the
    variant does worst against) and vs the Pareto envelope of the BEST_OF anchors' points."""
    best = [n for n in BEST_OF if n in anchors]
    envelope = pareto_envelope([p for n in best for p in anchors[n]])
    cols = [*anchors, "best of " + ", ".join(best), "envelope of the same"]
    lines = ["| variant | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, pts in variants.items():
        per = {n: bd_rate(anchors[n], pts) for n in anchors}
        worst = [per[n] for n in best if per[n] is not None]
        cells = [_bd(anchors[n], pts) for n in anchors]
        cells.append("n/a" if not worst else f"{max(worst):+.1f} %")
        cells.append(_bd(envelope, pts))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bound_table(bounds: Sequence[int], variants: dict[str, list[Point]], anchors: dict[str, list[Point]]) -> str:
    """Ratio at each E: variants, anchors, and each variant / best of BOUND_REFERENCE (at E=0
    also / JPEG-XL lossless). '!' marks a violated bound."""
    def at(points: list[Point], bound: int) -> Point | None:
        return next((p for p in points if p.target == bound), None)

    def cell(p: Point | None, bound: int) -> str:
        return "" if p is None else f"{p.ratio:.3f}" + ("!" if p.max_abs_error > bound else "")

    cols = [*variants, *anchors] + [f"{v} / best of {', '.join(BOUND_REFERENCE)} (E=0: JPEG-XL lossless)"
                                    for v in variants]
    lines = ["| E | " + " | ".join(cols) + " |", "|---:|" + "---:|" * len(cols)]
    for bound in bounds:
        cells = [cell(at(pts, bound), bound) for pts in (*variants.values(), *anchors.values())]
        refs = ["JPEG-XL lossless"] if bound == 0 else list(BOUND_REFERENCE)
        ref = max((p.ratio for n in refs if n in anchors for p in [at(anchors[n], bound)] if p), default=None)
        for pts in variants.values():
            p = at(pts, bound)
            cells.append("" if p is None or ref is None else f"{p.ratio / ref:.3f}x")
        lines.append(f"| {bound} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seconds_table(points: Sequence[Point], nbytes: int, near: float) -> str:
    """Encode / decode MB/s of raw voxels of each codec at the target ratio nearest ``near``."""
    lines = ["| codec | setting | ratio | encode MB/s | decode MB/s |", "|---|---|---:|---:|---:|"]
    by_codec: dict[str, Point] = {}
    for p in points:
        if p.target and p.setting and not p.setting.startswith("max_error") and np.isfinite(p.encode_s):
            best = by_codec.get(p.codec)
            if best is None or abs(np.log(p.target / near)) < abs(np.log(best.target / near)):
                by_codec[p.codec] = p
    for p in by_codec.values():
        lines.append(f"| {p.codec} | {p.setting} | {p.ratio:.2f} | {nbytes / 1e6 / p.encode_s:.2f} | "
                     f"{nbytes / 1e6 / p.decode_s:.2f} |")
    return "\n".join(lines)


def plot(points: Sequence[Point], title: str, path: Path) -> None:
    """PSNR and SSIM vs ratio (log x) of every codec with >= 2 finite points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    from plotting import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for codec in dict.fromkeys(p.codec for p in points):
        pts = sorted((p for p in points if p.codec == codec and np.isfinite(p.psnr) and p.ratio > 1.01),
                     key=lambda p: p.ratio)
        if len(pts) < 2:
            continue
        style = ".--" if codec in RATIO_ANCHORS else "o-"  # anchors dashed, variants solid
        for ax, attr in zip(axes, ("psnr", "ssim")):
            ax.plot([p.ratio for p in pts], [getattr(p, attr) for p in pts], style, label=codec)
    for ax, label in zip(axes, ("PSNR (dB)", "mean slice SSIM")):
        ax.set_xscale("log")
        ax.set_xticks([2, 4, 8, 16, 32, 64, 128])
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("compression ratio")
        ax.set_ylabel(label)
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(fig, path, dpi=110)


def bench_volume(name: str, args: argparse.Namespace, variants: dict[str, Callable[[np.ndarray], Variant]]) -> None:
    volume = load_volume(name)
    label = VOLUME_LABELS.get(name, name)
    print(f"\n## {label}: {volume.shape} {volume.dtype}, {platform.machine()}, {os.cpu_count()} cores, "
          f"1 thread per codec, {time.strftime('%Y-%m-%d %H:%M')}\n", flush=True)
    ratio_names = [n for n in RATIO_ANCHORS if args.anchors is None or n in args.anchors]
    bound_names = [n for n in BOUNDED_ANCHORS if args.anchors is None or n in args.anchors]
    anchors = {}
    for r in ratio_table(volume, args.ratios, ratio_names, cached_only=args.cached_only):
        anchors.setdefault(r.codec, []).append(from_anchor(r))
    bounded = {}
    for r in bounded_table(volume, args.bounds, bound_names, cached_only=args.cached_only):
        bounded.setdefault(r.codec, []).append(from_anchor(r))
    tested_ratio: dict[str, list[Point]] = {}
    tested_bound: dict[str, list[Point]] = {}
    for vname, factory in variants.items():
        variant = factory(volume)
        if "ratio" in variant.modes:
            tested_ratio[vname] = [run_variant(variant, volume, ratio=float(r)) for r in args.ratios]
        if "max_error" in variant.modes:
            tested_bound[vname] = [run_variant(variant, volume, max_error=int(e)) for e in args.bounds]
        print(f"# {vname} done", file=sys.stderr, flush=True)
    all_ratio = [p for pts in (*tested_ratio.values(), *anchors.values()) for p in pts]
    print(f"### {label}: rate-distortion (ratio reached, PSNR, SSIM)\n\n{rd_table(all_ratio)}\n")
    curves = {n: [from_anchor(r) for r in anchor_curve(n, volume)] for n in anchors}
    for vname, pts in tested_ratio.items():
        print(f"### {label}: {vname} PSNR minus anchor PSNR at {vname}'s ratio (dB; anchor curves: "
              f"every bisection step measured, Pareto front)\n\n{psnr_gap_table(pts, curves)}\n")
    print(f"### {label}: BD-rate (PSNR vs bits; negative: the variant needs fewer bits)\n\n"
          f"{bd_table(tested_ratio, anchors)}\n")
    print(f"### {label}: ratio at max |error| E ('!': bound violated)\n\n"
          f"{bound_table(args.bounds, tested_bound, bounded)}\n")
    print(f"### {label}: speed of one run at the ratio nearest 16 (loaded shared machine: indicative)\n\n"
          f"{seconds_table(all_ratio, volume.nbytes, 16.0)}\n", flush=True)
    plot(all_ratio, f"{label} {volume.shape}", Path(args.out) / f"rd_{Path(name).stem}.png")


def main(argv: Sequence[str] | None = None, variants: dict[str, Callable[[np.ndarray], Variant]] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volume", default="both", help="isbi, fib, both, or a .npy path")
    parser.add_argument("--ratios", type=float, nargs="*", default=[4, 8, 16, 32, 64])
    parser.add_argument("--bounds", type=int, nargs="*", default=[0, 1, 2, 4])
    parser.add_argument("--anchors", nargs="*", default=None, help="subset of anchors by name")
    parser.add_argument("--variants", nargs="*", default=None, help="subset of VARIANTS by name")
    parser.add_argument("--chunk", type=int, nargs=3, default=None, help="UniCompress chunk grid (default: whole)")
    parser.add_argument("--cached-only", action="store_true", help="anchors only from the cache (no encoding)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "plots"))
    args = parser.parse_args(argv)
    chosen = dict(VARIANTS if variants is None else variants)
    if args.chunk and "UniCompress" in chosen and chosen["UniCompress"] is VARIANTS.get("UniCompress"):
        chosen["UniCompress"] = lambda volume: unicompress_variant(chunk=args.chunk)
    chosen = {k: v for k, v in chosen.items() if args.variants is None or k in args.variants}
    for name in (["isbi", "fib"] if args.volume == "both" else [args.volume]):
        bench_volume(name, args, chosen)


if __name__ == "__main__":
    main()

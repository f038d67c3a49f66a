"""Rate-distortion of the ratio mode on the real volumes (issue 21): the learned part (context
coding with the per-array model's tables, coder 3) on and off, and the anchors a volume user
would pick.

Usage::

    UNICOMPRESS_DATA=/work/shared/data PYTHONPATH=$PWD python benchmarks/bench_volume_rd.py \
        [--volumes fib isbi] [--ratios 4 8 16 32 64] [--fib-chunks 32 256 256] [--isbi-chunks 30 512 512]

Our rows (each chunk coded on its own, ratio = whole volume / all streams), all with the same
transform, z-level choice, quantiser and rate control:
- ``v0.5.0 (coder 2)``: the v0.5.0 ratio mode (for reference: its INR-base check can send a
  chunk that z levels code best to the 2D coder);
- ``learned part off (no contexts)``: coder 3 with every band coded as one group with its table
  in the stream, as coder 2 codes it (the ablation: same choices, no learned part);
- ``contexts, stream tables only``: coder 3 with no model tables (every context's table in the
  stream): what the contexts earn without the model;
- ``learned part on (tables fitted on this volume)``: coder 3 with tables fitted by
  :func:`zarr_unicompress.fitting.ratio_tables.fit_ratio_tables` on 8 chunks of the volume, as
  ``fit()`` stores them in the model (the per-array model);
- ``learned part on (tables fitted on the other volume)``: the same with the tables of the other
  volume (the cross-check: nothing tuned to the volume coded);
- ``learned part on (default tables)``: the shipped default (fitted on both volumes), what
  arrays without a fitted model get.
Anchors (benchmarks/anchors.py, whole volume; measured once and cached: point
UNICOMPRESS_ANCHOR_CACHE at a cache, or they are encoded here; ``--cached-only`` skips those not
cached): JPEG-XL and AVIF per slice, x265 and SVT-AV1 (z-slices as frames), SPERR 3D.

Prints per volume: PSNR at each target, BD-rate over ratios 4-64 against the learned part off,
each anchor and the best of x265 / SVT-AV1 / SPERR 3D / JPEG-XL (their Pareto envelope), PSNR
gain over JPEG-XL at 16-64, z levels chosen; single-thread speed (MB/s of raw voxels, the
machine is shared and loaded: indicative only) of our encode and decode (on and off) and of
JPEG-XL's decode at ratio 16. Writes benchmarks/plots/volume_rd_<volume>.png (RD curves) and
volume_ablation_<volume>.png (PSNR of our rows minus the learned part off).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchors import ratio_anchor, load_volume, anchor_curve  # noqa: E402
from metrics import bd_rate, median_seconds, pareto_envelope, psnr, psnr_at_ratio  # noqa: E402

from zarr_unicompress.bitstream import pack_chunk  # noqa: E402
from zarr_unicompress.chunk_census import stream_kind  # noqa: E402
from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk  # noqa: E402
from zarr_unicompress.fitting.ratio_tables import fit_ratio_tables  # noqa: E402
from zarr_unicompress.runtime.coders.ratio3d import Ratio3DCoder  # noqa: E402
from zarr_unicompress.runtime.coders.ratio_ctx import RatioContextCoder  # noqa: E402
from zarr_unicompress.runtime.coders.registry import CONSTANT  # noqa: E402
from zarr_unicompress.runtime.entropy.context_tables import META_KEY, encode_meta  # noqa: E402
from zarr_unicompress.runtime.inr.model import load_model  # noqa: E402
from zarr_unicompress.runtime.inr.weights import pack_weights, unpack_weights  # noqa: E402

ANCHORS = ["JPEG-XL", "AVIF", "HEVC (x265)", "AV1 (SVT-AV1)", "SPERR (3D)"]
BEST_OF = ["JPEG-XL", "HEVC (x265)", "AV1 (SVT-AV1)", "SPERR (3D)"]
OFF = "learned part off (no contexts)"
ON = "learned part on (tables fitted on this volume)"
OTHER = {"fib": "isbi", "isbi": "fib"}


@dataclass
class Point:
    codec: str
    ratio: float
    psnr: float
    kinds: str = ""


def chunk_slices(shape: tuple[int, ...], chunks: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """The chunk grid of ``shape`` (edge chunks cut), in C order."""
    grid = np.ndindex(*(-(-n // c) for n, c in zip(shape, chunks)))
    return [tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(index, chunks, shape)) for index in grid]


def encode_volume(coder, model, vol: np.ndarray, chunks: tuple[int, ...],
                  ratio: float) -> list[tuple[tuple[slice, ...], bytes]]:
    quality = QualitySettings(ratio=ratio)
    out = []
    for sl in chunk_slices(vol.shape, chunks):
        chunk = np.ascontiguousarray(vol[sl])
        use = CONSTANT if chunk.min() == chunk.max() else coder
        out.append((sl, pack_chunk(*use.encode(chunk, model, quality))))
    return out


def decode_volume(model, shape: tuple[int, ...], dtype, streams) -> np.ndarray:
    out = np.empty(shape, dtype)
    for sl, stream in streams:
        out[sl] = decode_chunk(model, stream)
    return out


def with_tables(model, name: str, chunks: tuple[int, ...]):
    """``model`` with ratio tables fitted on volume ``name`` in ``chunks`` (as fit() does), and
    the fitting seconds."""
    vol = load_volume(name)
    start = time.perf_counter()
    tables = fit_ratio_tables(vol, chunks, model)
    seconds = time.perf_counter() - start
    weights = unpack_weights(model.blob)
    return load_model(pack_weights(weights.arch, {**weights.meta, META_KEY: encode_meta(tables)},
                                   weights.tensors)), seconds


def variants(model, name: str, chunk_shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[object, object]]:
    """Our rows: label -> (coder, model)."""
    own, seconds = with_tables(model, name, chunk_shapes[name])
    print(f"  tables fitted on {name} in {seconds:.1f} s", file=sys.stderr, flush=True)
    other, _ = with_tables(model, OTHER[name], chunk_shapes[OTHER[name]])
    return {"v0.5.0 (coder 2)": (Ratio3DCoder(), model),
            OFF: (RatioContextCoder(contexts=False), model),
            "contexts, stream tables only": (RatioContextCoder(model_tables=False), model),
            ON: (RatioContextCoder(), own),
            "learned part on (tables fitted on the other volume)": (RatioContextCoder(), other),
            "learned part on (default tables)": (RatioContextCoder(), model)}


def ours(rows_of: dict[str, tuple[object, object]], vol: np.ndarray, chunks: tuple[int, ...],
         ratios: list[float]) -> dict[str, list[Point]]:
    rows: dict[str, list[Point]] = {}
    for name, (coder, model) in rows_of.items():
        for r in ratios:
            streams = encode_volume(coder, model, vol, chunks, r)
            rec = decode_volume(model, vol.shape, vol.dtype, streams)
            over = sum(len(s) > np.prod([x.stop - x.start for x in sl]) * vol.itemsize / r for sl, s in streams)
            kinds = Counter(stream_kind(s) for _, s in streams)
            label = ", ".join(f"{k.replace('ratio ', '')} x{v}" for k, v in sorted(kinds.items()))
            label += f"; {over} over budget" if over else ""
            rows.setdefault(name, []).append(Point(name, vol.nbytes / sum(len(s) for _, s in streams), psnr(vol, rec),
                                                   label))
            print(f"  {name} R={r:g}: {rows[name][-1].ratio:.2f}, {rows[name][-1].psnr:.2f} dB ({label})",
                  file=sys.stderr, flush=True)
    return rows


@dataclass
class AnchorPoint:
    """An anchor's measurement read from a file of published points (--anchor-points)."""

    codec: str
    target: float
    ratio: float
    psnr: float


def published_points(path: str, name: str, ratios: list[float]) -> tuple[dict[str, list], dict[str, list]]:
    """Anchors of volume ``name`` from a JSON file of published points (benchmarks/anchor_points_v050.json:
    {"volumes": {name: {codec: [[target, ratio, psnr], ...]}}}): the points at ``ratios``, and all
    of them as the curve for BD-rate."""
    table = json.loads(Path(path).read_text())["volumes"].get(name, {})
    curves = {codec: [AnchorPoint(codec, *map(float, p)) for p in pts]
              for codec, pts in table.items() if codec in ANCHORS}
    at = {codec: [p for p in pts if p.target in ratios] for codec, pts in curves.items()}
    return at, curves


def anchor_points(vol: np.ndarray, ratios: list[float],
                  cached_only: bool = False) -> tuple[dict[str, list], dict[str, list]]:
    """Per anchor: its points at the targets, and its dense cached curve (for BD-rate)."""
    at, curves = {}, {}
    for name in ANCHORS:
        found = []
        for r in ratios:
            try:
                result = ratio_anchor(name, vol, r, cached_only=cached_only)
            except Exception as error:  # noqa: BLE001 - an anchor that cannot run is reported, not fatal
                print(f"  {name} R={r:g}: {error}", file=sys.stderr)
                result = None
            if result is not None:
                found.append(result)
        if found:
            at[name] = found
            curves[name] = anchor_curve(name, vol) or found
    return at, curves


def speed(rows_of: dict[str, tuple[object, object]], vol: np.ndarray, chunks: tuple[int, ...],
          repeats: int = 3, full_anchor: bool = True) -> dict[str, float]:
    """Single-thread MB/s at ratio 16: our encode and decode (learned part on and off), JPEG-XL's
    decode (of its stream bisected to ratio 16; 5 bisection steps where not ``full_anchor``)."""
    mb = vol.nbytes / 1e6
    out = {}
    for label, key in (("on", ON), ("off", OFF)):
        coder, model = rows_of[key]
        streams = encode_volume(coder, model, vol, chunks, 16.0)
        out[f"ours ({label}) encode"] = mb / median_seconds(lambda: encode_volume(coder, model, vol, chunks, 16.0),
                                                            repeats)
        out[f"ours ({label}) decode"] = mb / median_seconds(lambda: decode_volume(model, vol.shape, vol.dtype, streams),
                                                            repeats)
    jxl = ratio_anchor("JPEG-XL", vol, 16, with_data=True, iterations=None if full_anchor else 5)
    if jxl is not None and jxl.stream is not None:
        import imagecodecs

        out[f"JPEG-XL decode (its stream at ratio {jxl.ratio:.1f})"] = mb / median_seconds(
            lambda: [imagecodecs.jpegxl_decode(s, numthreads=1) for s in jxl.stream], repeats)
    return out


def report(name: str, vol: np.ndarray, rows: dict[str, list[Point]], at: dict, curves: dict, ratios: list[float],
           speeds: dict[str, float]) -> None:
    print(f"\n### {name} {vol.shape}: PSNR dB (reached ratio) at each target\n")
    print("| codec | " + " | ".join(f"R {r:g}" for r in ratios) + " |")
    print("|---|" + "---:|" * len(ratios))
    for label, pts in rows.items():  # measured at each target (reached ratio just above it)
        print(f"| {label} | " + " | ".join(f"{p.psnr:.2f} ({p.ratio:.2f})" for p in pts) + " |")
    for label, pts in at.items():
        by_target = {p.target: p for p in pts}
        cells = [f"{by_target[r].psnr:.2f} ({by_target[r].ratio:.2f})" if r in by_target else "" for r in ratios]
        print(f"| {label} | " + " | ".join(cells) + " |")
    best = pareto_envelope([p for n in BEST_OF if n in curves for p in curves[n]])
    print("\n| ours | BD vs learned part off | " + " | ".join(f"BD vs {a}" for a in curves) + " | BD vs best of 4 | "
          + " | ".join(f"dB vs JPEG-XL @{r:g}" for r in ratios if r >= 16) + " | z levels chosen |")
    print("|---|" + "---:|" * (len(curves) + 2 + len([r for r in ratios if r >= 16])) + "---|")
    for label, pts in rows.items():
        cells = [bd_rate(rows[OFF], pts) if OFF in rows else None]
        cells += [bd_rate(c, pts) for c in curves.values()] + [bd_rate(best, pts) if best else None]
        text = [f"{v:+.1f} %" if v is not None else "n/a" for v in cells]
        for r in ratios:
            if r >= 16:
                ref = psnr_at_ratio(curves.get("JPEG-XL", []), r) if "JPEG-XL" in curves else None
                mine = psnr_at_ratio(pts, r)
                text.append(f"{mine - ref:+.2f}" if ref is not None and mine is not None else "n/a")
        print(f"| {label} | " + " | ".join(text) + " | " + "; ".join(f"R{r:g}: {p.kinds}" for r, p in
                                                                   zip(ratios, pts)) + " |")
    if speeds:
        print("\nsingle-thread MB/s of raw voxels at ratio 16 (shared, loaded machine): "
              + ", ".join(f"{k} {v:.1f}" for k, v in speeds.items()))
    plot(name.split()[0], rows, at)


def plot(name: str, rows: dict[str, list[Point]], at: dict) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from plotting import save_figure
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(7, 5))
    for label, pts in {**rows, **at}.items():
        pts = sorted(pts, key=lambda p: p.ratio)
        ax.plot([p.ratio for p in pts], [p.psnr for p in pts], "o-" if label in rows else "s--", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("compression ratio")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"ratio mode, learned part on / off, {name}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, Path(__file__).parent / "plots" / f"volume_rd_{name}.png")
    if OFF in rows:  # the ablation: PSNR of each of our rows minus the learned part off, at each target
        fig, ax = plt.subplots(figsize=(7, 4))
        for label, pts in rows.items():
            ax.plot([p.ratio for p in pts], [p.psnr - q.psnr for p, q in zip(pts, rows[OFF])], "o-", label=label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("compression ratio")
        ax.set_ylabel("PSNR - learned part off (dB)")
        ax.set_title(f"ratio mode ablation, {name}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        save_figure(fig, Path(__file__).parent / "plots" / f"volume_ablation_{name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--volumes", nargs="+", default=["fib", "isbi"])
    parser.add_argument("--ratios", nargs="+", type=float, default=[4, 8, 16, 32, 64])
    parser.add_argument("--fib-chunks", nargs=3, type=int, default=[32, 256, 256])
    parser.add_argument("--isbi-chunks", nargs=3, type=int, default=[30, 512, 512])
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--cached-only", action="store_true", help="anchors only from the cache (no encoding)")
    parser.add_argument("--anchor-points", default=None,
                        help="take the anchors from this JSON file of published points instead of measuring them "
                             "(e.g. benchmarks/anchor_points_v050.json); JPEG-XL's decode speed is then measured on "
                             "a stream coded here at a fixed distance")
    args = parser.parse_args()
    from numcodecs_ext import UniCompress

    model = UniCompress(ratio=8.0).runtime
    shapes = {name: tuple(getattr(args, f"{name}_chunks")) for name in OTHER}
    for name in args.volumes:
        vol = load_volume(name)
        chunks = shapes[name]
        print(f"{name}: chunks {chunks}", file=sys.stderr)
        rows_of = variants(model, name, shapes)
        rows = ours(rows_of, vol, chunks, args.ratios)
        if args.anchor_points:
            at, curves = published_points(args.anchor_points, name, args.ratios)
        else:
            at, curves = anchor_points(vol, args.ratios, args.cached_only)
        speeds = {} if args.no_speed else speed(rows_of, vol, chunks, full_anchor=not args.anchor_points)
        report(f"{name} chunks {'x'.join(map(str, chunks))}", vol, rows, at, curves, args.ratios, speeds)


if __name__ == "__main__":
    main()

"""Classical-codec anchors for a 3D volume: ratio anchors bisected to target ratios and
error-bounded anchors at max |error| E, measured once and cached (benchmarks/anchor_cache.py).

Library use (from another benchmark script)::

    import sys; sys.path.insert(0, "benchmarks")
    from anchors import ratio_anchor, bounded_anchor, ratio_table, bounded_table, load_volume
    vol = load_volume("fib")                       # (250, 250, 250) uint8
    r = ratio_anchor("HEVC (x265)", vol, 16)       # AnchorResult: ratio, psnr, ssim, ...
    b = bounded_anchor("JPEG-LS", vol, 2)          # max_abs_error checked against E

Command line (prints Markdown tables)::

    python benchmarks/anchors.py --volume isbi|fib|both|PATH.npy [--ratios 4 8 16 32 64] [--bounds 0 1 2 4]

Per-slice codecs code every z-slice as a 2D image; video codecs code the z-slices as frames;
3D codecs code the whole volume at once. PSNR peak: 255 (uint8) / 65535 (uint16).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Sequence  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import anchor_cache  # noqa: E402
from classical_codecs import RATIO_ANCHORS, Decoder, bisect_knob, size  # noqa: E402
from error_bounded import BOUNDED_ANCHORS  # noqa: E402
from metrics import max_abs_error, mean_slice_ssim, pareto_envelope, psnr  # noqa: E402
from video_codecs import AnchorUnsupported, Stream  # noqa: E402

#: short volume names -> file names in the data folders ($UNICOMPRESS_DATA, ../shared/data)
VOLUME_FILES = {"isbi": "isbi2012_train.npy", "fib": "flyem_fib_train.npy"}
VOLUME_LABELS = {"isbi": "ISBI 2012 ssTEM 30x512x512", "fib": "FlyEM FIB-SEM 250^3"}


class NotCached(LookupError):
    """``cached_only=True`` and this measurement is not in the cache yet."""


@dataclass
class AnchorResult:
    """One anchor measurement on one volume. ``nbytes``: stored bytes; ``ratio``: raw bytes /
    ``nbytes``; ``psnr`` (dB, dtype peak), ``ssim`` (mean per-slice), ``max_abs_error``
    (intensity units); ``encode_s`` / ``decode_s``: wall seconds of one run, 1 thread (from the
    cache: the run that made the entry). ``target`` (ratio mode) or ``bound`` (E) is what was
    asked. ``stream`` / ``decoded`` are set only when asked for (``with_data=True``)."""

    codec: str
    setting: str
    knob: float
    nbytes: int
    ratio: float
    psnr: float
    ssim: float
    max_abs_error: int
    encode_s: float
    decode_s: float
    target: float | None = None
    bound: int | None = None
    cached: bool = False
    stream: Stream | None = field(default=None, repr=False)
    decoded: np.ndarray | None = field(default=None, repr=False)

    @property
    def violates(self) -> bool:
        """True when an error-bounded result exceeds its bound E."""
        return self.bound is not None and self.max_abs_error > self.bound


def load_volume(name: str) -> np.ndarray:
    """``"isbi"``, ``"fib"`` or a path to a .npy file -> the (z, y, x) volume in memory.
    Searched in ``$UNICOMPRESS_DATA`` and the project's data folders."""
    if name not in VOLUME_FILES:
        return np.ascontiguousarray(np.load(name, allow_pickle=False))
    from zarr_unicompress.data import search_dirs

    for folder in search_dirs():
        if (folder / VOLUME_FILES[name]).is_file():
            return np.ascontiguousarray(np.load(folder / VOLUME_FILES[name], allow_pickle=False))
    raise FileNotFoundError(f"{VOLUME_FILES[name]} not found in {[str(d) for d in search_dirs()]}; "
                            "set UNICOMPRESS_DATA to the folder that holds it")


def measure(codec: str, settings: str, knob: float, volume: np.ndarray,
            encode: Callable[[np.ndarray], Stream], decode: Decoder, *, digest: str | None = None,
            with_data: bool = False, use_cache: bool = True, cached_only: bool = False) -> AnchorResult:
    """Encode and decode ``volume`` once with fixed settings and measure everything (or take
    the cached measurement when ``with_data`` is False; ``cached_only``: raise NotCached
    instead of encoding)."""
    digest = digest or anchor_cache.volume_digest(volume)
    hit = anchor_cache.load(codec, settings, knob, digest) if use_cache and not with_data else None
    if hit is not None:
        return AnchorResult(codec, settings, knob, **hit, cached=True)
    if cached_only:
        raise NotCached(f"{codec} ({settings}) at {knob:g} is not cached for this volume")
    start = time.perf_counter()
    stream = encode(volume)
    middle = time.perf_counter()
    decoded = decode(stream, volume.shape, volume.dtype)
    done = time.perf_counter()
    if decoded.shape != volume.shape:
        raise RuntimeError(f"{codec}: decoded shape {decoded.shape} != {volume.shape}")
    value = {"nbytes": size(stream), "ratio": volume.nbytes / size(stream), "psnr": psnr(volume, decoded, None),
             "ssim": mean_slice_ssim(volume, decoded, None), "max_abs_error": max_abs_error(volume, decoded),
             "encode_s": middle - start, "decode_s": done - middle}
    if use_cache:
        anchor_cache.store(codec, settings, knob, digest, value)
    return AnchorResult(codec, settings, knob, **value, stream=stream if with_data else None,
                        decoded=decoded if with_data else None)


def ratio_anchor(name: str, volume: np.ndarray, target: float, *, iterations: int | None = None,
                 with_data: bool = False, use_cache: bool = True, cached_only: bool = False) -> AnchorResult | None:
    """The ratio anchor ``name`` (a key of classical_codecs.RATIO_ANCHORS) at the knob whose
    ratio is the smallest one >= ``target`` in ``iterations`` bisection steps; None if the
    knob cannot reach ``target``. Raises AnchorUnsupported for inputs the codec cannot code,
    NotCached with ``cached_only=True`` when a step of the search would have to encode.

    The bisection is deterministic and every step is cached, so a repeated call replays it
    from the cache without encoding; targets share the first steps (same starting bracket)."""
    codec = RATIO_ANCHORS[name]()
    digest = anchor_cache.volume_digest(volume)

    fresh: set[float] = set()  # knobs measured by this call

    def run(knob: float, data: bool = False) -> AnchorResult:
        result = measure(codec.name, codec.settings, knob, volume, lambda v: codec.encode(v, knob), codec.decode,
                         digest=digest, with_data=data, use_cache=use_cache, cached_only=cached_only)
        if not result.cached:
            fresh.add(knob)
        return result

    knob = bisect_knob(codec, target, lambda k: run(k).ratio, iterations)
    if knob is None:
        return None
    result = run(knob, with_data)
    result.setting, result.target = f"{codec.knob_name}={knob:.4g}", target
    result.cached = knob not in fresh
    return result


def bounded_anchor(name: str, volume: np.ndarray, bound: int, *, with_data: bool = False,
                   use_cache: bool = True, cached_only: bool = False) -> AnchorResult | None:
    """The error-bounded anchor ``name`` (a key of error_bounded.BOUNDED_ANCHORS) at max
    |error| ``bound``; None for a lossless-only codec at ``bound`` > 0. The measured
    ``max_abs_error`` is checked: see :attr:`AnchorResult.violates`."""
    if int(bound) != bound or bound < 0:
        raise ValueError(f"the error bound must be an integer >= 0, got {bound}")
    codec = BOUNDED_ANCHORS[name]()
    if codec.lossless_only and bound != 0:
        return None
    result = measure(codec.name, codec.settings, bound, volume, lambda v: codec.encode(v, int(bound)), codec.decode,
                     with_data=with_data, use_cache=use_cache, cached_only=cached_only)
    result.setting, result.bound = codec.settings.replace("E", str(bound), 1), int(bound)
    if result.violates:
        print(f"WARNING: {name} at E={bound} has max |error| {result.max_abs_error}", file=sys.stderr)
    return result


def anchor_curve(name: str, volume: np.ndarray) -> list[AnchorResult]:
    """Every cached measurement of ratio anchor ``name`` on ``volume`` (all bisection steps of
    all targets so far), reduced to its Pareto front (sorted by ratio): a dense RD curve for
    interpolating the anchor's PSNR at any ratio in its range (no encoding)."""
    codec = RATIO_ANCHORS[name]()
    measured = anchor_cache.known_knobs(codec.name, codec.settings, anchor_cache.volume_digest(volume))
    results = [AnchorResult(codec.name, f"{codec.knob_name}={k:.4g}", k, **v, cached=True) for k, v in measured.items()]
    return pareto_envelope(results)


def ratio_table(volume: np.ndarray, targets: Sequence[float], names: Sequence[str] | None = None,
                log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
                cached_only: bool = False) -> list[AnchorResult]:
    """Every ratio anchor (or those named) at every target; unreachable, unsupported or (with
    ``cached_only``) not yet measured ones are logged and left out."""
    def measure(name: str, target: float) -> AnchorResult | None:
        start = time.perf_counter()
        found = ratio_anchor(name, volume, target, cached_only=cached_only)
        log(f"{name} target {target:g}: " + ("out of reach" if found is None else
            f"ratio {found.ratio:.2f}, {found.psnr:.2f} dB") + f" ({time.perf_counter() - start:.0f} s)")
        return found

    return _anchor_table(names or list(RATIO_ANCHORS), targets, measure, lambda t: f"target {t:g}", log)


def bounded_table(volume: np.ndarray, bounds: Sequence[int], names: Sequence[str] | None = None,
                  log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
                  cached_only: bool = False) -> list[AnchorResult]:
    """Every error-bounded anchor (or those named) at every bound E."""
    return _anchor_table(names or list(BOUNDED_ANCHORS), bounds,
                         lambda name, bound: bounded_anchor(name, volume, bound, cached_only=cached_only),
                         lambda e: f"E={e}", log)


def _anchor_table(names: Sequence[str], points: Sequence[float],
                  measure: Callable[[str, float], AnchorResult | None], label: Callable[[float], str],
                  log: Callable[[str], None]) -> list[AnchorResult]:
    """``measure(name, point)`` for every anchor name and point, skipping points not cached
    and the rest of an anchor that is unsupported here (both logged)."""
    results = []
    for name in names:
        for point in points:
            try:
                found = measure(name, point)
            except NotCached as error:
                log(f"{name} {label(point)}: {error}")
                continue
            except AnchorUnsupported as error:
                log(f"{name}: {error}")
                break
            if found is not None:
                results.append(found)
    return results


def format_ratio_table(results: Sequence[AnchorResult]) -> str:
    """Markdown: one row per (codec, target) with the reached ratio, PSNR, SSIM and seconds."""
    lines = ["| codec | target | setting | ratio | PSNR (dB) | SSIM | enc s | dec s |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.codec} | {r.target:g} | {r.setting} | {r.ratio:.2f} | {r.psnr:.2f} | {r.ssim:.4f} | "
              f"{r.encode_s:.2f} | {r.decode_s:.2f} |" for r in results]
    return "\n".join(lines)


def format_bounded_table(results: Sequence[AnchorResult], bounds: Sequence[int]) -> str:
    """Markdown: ratio per codec (rows) and bound E (columns); '!' marks a violated bound."""
    codecs = list(dict.fromkeys(r.codec for r in results))
    cell = {(r.codec, r.bound): f"{r.ratio:.3f}" + ("!" if r.violates else "") for r in results}
    lines = ["| codec | " + " | ".join(f"E={b}" for b in bounds) + " |", "|---|" + "---:|" * len(bounds)]
    lines += [f"| {c} | " + " | ".join(cell.get((c, b), "") for b in bounds) + " |" for c in codecs]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volume", default="both", help="isbi, fib, both, or a .npy path")
    parser.add_argument("--ratios", type=float, nargs="*", default=[4, 8, 16, 32, 64])
    parser.add_argument("--bounds", type=int, nargs="*", default=[0, 1, 2, 4])
    parser.add_argument("--codecs", nargs="*", default=None, help="subset of anchors by name")
    parser.add_argument("--cached-only", action="store_true", help="only what the cache holds (no encoding)")
    args = parser.parse_args()
    for name in (["isbi", "fib"] if args.volume == "both" else [args.volume]):
        volume = load_volume(name)
        print(f"\n## {VOLUME_LABELS.get(name, name)}: {volume.shape} {volume.dtype}, sha256 "
              f"{anchor_cache.volume_digest(volume)[:16]}\n", flush=True)
        if args.ratios:
            ratio_names = [n for n in RATIO_ANCHORS if args.codecs is None or n in args.codecs]
            print(format_ratio_table(ratio_table(volume, args.ratios, ratio_names, cached_only=args.cached_only)) + "\n", flush=True)
        if args.bounds:
            bounded_names = [n for n in BOUNDED_ANCHORS if args.codecs is None or n in args.codecs]
            print(format_bounded_table(bounded_table(volume, args.bounds, bounded_names, cached_only=args.cached_only),
                                       args.bounds), flush=True)


if __name__ == "__main__":
    main()

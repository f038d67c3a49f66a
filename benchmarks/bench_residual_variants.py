"""Which changes to the ratio mode's wavelet residual coder would raise PSNR at equal size?

Usage::

    python benchmarks/bench_residual_variants.py [--data PATH.npy] [--chunk 30 512 512] [--ratios 8 20]

Takes the flat-base residual of a real EM block (the base the ratio mode picks on ISBI 2012),
codes it with variants of the shipped coder (CDF 9/7 per z-slice, 5 levels, one dead-zone step,
rounding offset 0.35, zeroth-order entropy coding per band with the codec's own
``encode_groups``), bisects each variant's step to the same byte budget and prints PSNR (dB,
data range 255). Variants: the dead-zone rounding offset, a step that shrinks by a factor
``g`` per coarser level, a transform along z as well (1 or 2 levels), other wavelets, 4 or 6
levels. An exploration tool: it changes nothing in the codec.
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pywt


@dataclass(frozen=True)
class Variant:
    """One residual-coder variant; the defaults are the shipped coder."""

    wavelet: str = "bior4.4"
    levels: int = 5
    z_levels: int = 0
    rounding: float = 0.35
    coarse_step_factor: float = 1.0

    def label(self) -> str:
        changed = {k: v for k, v in asdict(self).items() if v != getattr(Variant(), k)}
        return ", ".join(f"{k}={v}" for k, v in changed.items()) or "shipped coder"


VARIANTS = [Variant(), Variant(rounding=0.25), Variant(rounding=0.30), Variant(rounding=0.40),
            Variant(rounding=0.45), Variant(coarse_step_factor=0.95), Variant(coarse_step_factor=0.9),
            Variant(coarse_step_factor=1.1), Variant(z_levels=1), Variant(z_levels=2),
            Variant(wavelet="bior2.2"), Variant(wavelet="sym8"), Variant(wavelet="db4"),
            Variant(levels=4), Variant(levels=6)]


def forward(residual: np.ndarray, v: Variant) -> list[list]:
    """Per z-part (one part without a z transform), the 2D wavedec2 coefficient list."""
    parts = [residual]
    if v.z_levels:
        zc = pywt.wavedecn(residual, v.wavelet, mode="periodization", level=v.z_levels, axes=(0,))
        parts = [zc[0]] + [d["d"] for d in zc[1:]]
    return [pywt.wavedec2(p, v.wavelet, mode="periodization", level=v.levels, axes=(1, 2)) for p in parts]


def inverse(coeffs: list[list], v: Variant) -> np.ndarray:
    parts = [pywt.waverec2(c, v.wavelet, mode="periodization", axes=(1, 2)) for c in coeffs]
    if not v.z_levels:
        return parts[0]
    return pywt.waverecn([parts[0]] + [{"d": p} for p in parts[1:]], v.wavelet, mode="periodization", axes=(0,))


def code(coeffs: list[list], v: Variant, step: float) -> tuple[int, list[list]]:
    """Coded bytes (tables + ANS words) and the dequantised coefficients at ``step``."""
    from zarr_unicompress.runtime.entropy.groups import encode_groups

    groups, dequantised = [], []
    for part in coeffs:
        out = []
        for level, bands in enumerate(part):  # level 0 is the approximation, then coarse to fine
            band_step = step * v.coarse_step_factor ** (v.levels - max(level, 1) + (level == 0))
            is_tuple = isinstance(bands, tuple)
            deq = []
            for band in bands if is_tuple else (bands,):
                q = np.sign(band) * np.floor(np.abs(band) / band_step + v.rounding)
                groups.append(q.astype(np.int64))
                deq.append(q * band_step)
            out.append(tuple(deq) if is_tuple else deq[0])
        dequantised.append(out)
    tables, words, _ = encode_groups(groups)
    return len(tables) + len(words), dequantised


def psnr_at_ratio(block: np.ndarray, v: Variant, ratio: float) -> tuple[float, float]:
    """(PSNR dB, ratio reached) with the largest step whose stream fits ``block.nbytes / ratio``."""
    flat = np.float32(np.rint(block.mean()))
    coeffs = forward(block.astype(np.float32) - flat, v)
    budget = block.nbytes / ratio
    lo, hi = 0.05, 500.0
    for _ in range(20):
        mid = (lo * hi) ** 0.5
        lo, hi = (lo, mid) if code(coeffs, v, mid)[0] <= budget else (mid, hi)
    size, dequantised = code(coeffs, v, hi)
    recon = np.clip(np.rint(inverse(dequantised, v) + flat), 0, 255)
    mse = float(np.mean((recon - block.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse), block.nbytes / size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help=".npy volume (default: ISBI 2012 from the data search path)")
    parser.add_argument("--chunk", type=int, nargs=3, default=(30, 512, 512))
    parser.add_argument("--ratios", type=float, nargs="+", default=(8.0, 20.0))
    args = parser.parse_args()
    from zarr_unicompress.data import load_em_volume

    volume = np.load(args.data, mmap_mode="r") if args.data else load_em_volume("isbi2012")
    block = np.ascontiguousarray(volume[tuple(slice(0, c) for c in args.chunk)])
    source = Path(args.data).name if args.data else "ISBI 2012"
    print(f"block {block.shape} {block.dtype} from {source}; flat base; PSNR (dB) at equal size\n")
    print("| variant | " + " | ".join(f"ratio {r:g}" for r in args.ratios) + " |")
    print("|---|" + "---:|" * len(args.ratios))
    shipped = None
    for v in VARIANTS:
        cells = [psnr_at_ratio(block, v, r) for r in args.ratios]
        if shipped is None:
            shipped = [p for p, _ in cells]
            text = [f"{p:.2f} ({reached:.2f})" for p, reached in cells]
        else:
            text = [f"{p - s:+.2f}" for (p, _), s in zip(cells, shipped)]
        print(f"| {v.label()} | " + " | ".join(text) + " |", flush=True)
    print("\n(first row: PSNR and ratio reached; other rows: PSNR minus the first row's)")


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PyWavelets' boundary-level warning
        main()

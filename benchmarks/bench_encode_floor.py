"""How fast the ratio-mode encoder could be without its rate control, against the decoder.

Usage::

    python benchmarks/bench_encode_floor.py [--data PATH.npy] [--ratios 4 8 16 32 64] [--repeats 9]

On real EM blocks (the (30, 512, 512) ISBI block and a (16, 256, 256) corner, one thread) it
times, per ratio (median of ``--repeats`` rounds that run the three in turn):

* the whole encode (``encode_chunk``);
* its floor: the work no encoder of this format can skip, the forward transform into zero
  blocks (``BandUnits.about_mean``) and one pack of the bands at the step the encoder chose
  (quantiser, frequency tables, rANS; ``coders.ratio.code_bands``), checked to give the
  encoder's stream byte for byte. The difference is the rate control (size estimates, step
  search) and the base choice;
* the decode (``decode_chunk``) of that stream.

Encode throughput can reach the decode's only where the floor does. Prints a table, writes a
PNG of the three throughputs by ratio.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from plotting import save_figure

from zarr_unicompress.data import load_em_volume
from zarr_unicompress.default_model import default_student_blob
from zarr_unicompress.runtime import chunk_codec
from zarr_unicompress.runtime.coders import ratio as ratio_coder
from zarr_unicompress.runtime.inr.model import RuntimeModel, load_model
from zarr_unicompress.runtime.quantize.band_units import BandUnits
from zarr_unicompress.runtime.transform.wavelet_residual import levels_for


def interleaved_ms(functions: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median wall time (ms) of each of ``functions`` over ``repeats`` rounds that call each
    once in turn (after one warm-up round), so that a slow spell of the machine falls on all."""
    for function in functions:
        function()
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(repeats):
        for function, spent in zip(functions, times):
            start = time.perf_counter()
            function()
            spent.append(time.perf_counter() - start)
    return [1e3 * float(np.median(spent)) for spent in times]


def chosen_step(model: RuntimeModel, block: np.ndarray, ratio: float) -> tuple[bytes, np.float32]:
    """The encoder's stream of ``block`` at ``ratio`` and the quantiser step of its last pack
    (intensity units); refuses blocks that take the INR base (the floor here is the flat base's)."""
    seen: dict[str, object] = {}
    pack = ratio_coder.code_bands

    def spy(coder, model, vol, units, indices, flat, step, *rest):
        seen.update(step=step, inr=indices is not None)
        return pack(coder, model, vol, units, indices, flat, step, *rest)

    ratio_coder.code_bands = spy
    try:
        stream = chunk_codec.encode_chunk(model, block, chunk_codec.QualitySettings(ratio=ratio))
    finally:
        ratio_coder.code_bands = pack
    if seen["inr"]:
        raise SystemExit(f"the encoder took the INR base for {block.shape} at ratio {ratio}; this benchmark "
                         "times the flat base's floor only")
    return stream, seen["step"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help=".npy volume (default: ISBI 2012 from the data search path)")
    parser.add_argument("--ratios", type=float, nargs="+", default=(4, 8, 16, 32, 64))
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/plots/encode_floor.png"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    volume = np.load(args.data, mmap_mode="r") if args.data else load_em_volume("isbi2012")
    model = load_model(default_student_blob())
    blocks = {"(30, 512, 512)": np.ascontiguousarray(volume[:30, :512, :512]),
              "(16, 256, 256)": np.ascontiguousarray(volume[:16, :256, :256])}
    print(f"{args.data or 'ISBI 2012'}, 1 thread, median of {args.repeats}; MB/s = 10**6 voxel bytes per second\n")
    print("| chunk | ratio | encode ms | floor ms | rate control + base choice ms | decode ms "
          "| encode MB/s | floor MB/s | decode MB/s | encode / decode | floor / decode |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows: dict[str, list[tuple[float, float, float, float]]] = {}
    for name, block in blocks.items():
        lo, hi = int(block.min()), int(block.max())
        levels = levels_for(block.shape)
        zero_blocks = block.size >= ratio_coder.ZERO_BLOCK_MIN_VOXELS
        for ratio in args.ratios:
            stream, step = chosen_step(model, block, ratio)

            def floor(block=block, lo=lo, hi=hi, levels=levels, zero_blocks=zero_blocks, step=step) -> bytes:
                units, flat = BandUnits.about_mean(block, levels, zero_blocks, lo, hi)
                return ratio_coder.pack_bands(model, block, units, None, flat, step, levels, lo, hi)

            if floor() != stream:
                raise SystemExit(f"the floor's stream differs from the encoder's ({name}, ratio {ratio})")
            quality = chunk_codec.QualitySettings(ratio=ratio)
            encode, least, decode = interleaved_ms(
                [lambda block=block, quality=quality: chunk_codec.encode_chunk(model, block, quality), floor,
                 lambda stream=stream: chunk_codec.decode_chunk(model, stream)], args.repeats)
            mb = block.nbytes / 1e3  # MB/s = bytes / 1e6 per (ms / 1e3)
            rows.setdefault(name, []).append((ratio, mb / encode, mb / least, mb / decode))
            print(f"| {name} | {ratio:g} | {encode:.1f} | {least:.1f} | {encode - least:.1f} | {decode:.1f} "
                  f"| {mb / encode:.1f} | {mb / least:.1f} | {mb / decode:.1f} | {decode / encode:.2f} "
                  f"| {decode / least:.2f} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(5 * len(rows), 4), squeeze=False)
    for ax, (name, series) in zip(axes[0], rows.items()):
        ratios = [r[0] for r in series]
        for column, label, style in ((1, "encode", "o-"), (2, "floor (transform + pack)", "s--"), (3, "decode", "^-")):
            ax.plot(ratios, [r[column] for r in series], style, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("compression ratio")
        ax.set_ylabel("MB/s (1 thread)")
        ax.set_title(f"ratio mode, {name} chunk")
        ax.legend()
    save_figure(fig, args.out)


if __name__ == "__main__":
    main()

"""What distillation buys: teacher vs distilled student vs a student trained without distillation.

Usage::

    python benchmarks/bench_distillation.py [--data PATH.npy] [--student-steps 2000]

Starts from the shipped default teacher, trains a student for ``--student-steps`` steps
without distillation (plain reconstruction + VQ loss, same budget as the shipped student's
distillation), and compares on every (16, 256, 256) chunk of the volume:

* indices-only PSNR of each network's own forward pass (the teacher sees the wavelet priors);
* indices-only PSNR through the codec (table index search) and the codec's ratio at
  ``max_error=2``, for the two students (the codec stores students only);
* parameter counts.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def chunks_of(volume: np.ndarray, shape: tuple[int, int, int]):
    for z in range(0, volume.shape[0], shape[0]):
        for y in range(0, volume.shape[1], shape[1]):
            for x in range(0, volume.shape[2], shape[2]):
                yield np.ascontiguousarray(volume[z : z + shape[0], y : y + shape[1], x : x + shape[2]])


def psnr_of(se: float, n: int) -> float:
    return float(10 * np.log10(255.0**2 * n / se))


@torch.no_grad()
def network_psnr(net, volume: np.ndarray, chunk_shape, teacher: bool) -> float:
    """Indices-only PSNR of a network's own forward pass over all chunks (dB, range 255)."""
    from zarr_unicompress.model.priors import token_priors
    from zarr_unicompress.runtime.inr.tokens import from_tokens, local_coordinates

    net.eval()
    ts = net.config.token_shape
    coords = torch.from_numpy(local_coordinates(ts).astype(np.float32))
    se, n = 0.0, 0
    for chunk in chunks_of(volume, chunk_shape):
        lo, hi = float(chunk.min()), float(chunk.max())
        p = token_priors(chunk, ts)
        raw = torch.from_numpy(p.raw)
        out = net(raw, torch.from_numpy(p.low), torch.from_numpy(p.high), coords) if teacher else net(raw, coords)
        rec = from_tokens(out.recon.numpy().astype(np.float64), chunk.shape, ts) * (hi - lo) + lo
        rec = np.clip(np.rint(rec), 0, 255)
        se += float(((rec - chunk) ** 2).sum())
        n += chunk.size
    return psnr_of(se, n)


def codec_figures(blob: bytes, volume: np.ndarray, chunk_shape) -> tuple[float, float]:
    """(indices-only PSNR in dB, ratio at max_error=2) through the codec over all chunks."""
    from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk, encode_chunk
    from zarr_unicompress.runtime.inr.model import load_model

    model = load_model(blob)
    se, n, raw, stored = 0.0, 0, 0, 0
    for chunk in chunks_of(volume, chunk_shape):
        out = decode_chunk(model, encode_chunk(model, chunk, QualitySettings()))
        se += float(((out.astype(np.float64) - chunk) ** 2).sum())
        n += chunk.size
        raw += chunk.nbytes
        stored += len(encode_chunk(model, chunk, QualitySettings(max_error=2)))
    return psnr_of(se, n), raw / stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--student-steps", type=int, default=2000)
    parser.add_argument("--batch-tokens", type=int, default=256)
    args = parser.parse_args()

    from zarr_unicompress.data import load_em_volume
    from zarr_unicompress.default_model import default_student_blob, default_teacher_blob
    from zarr_unicompress.model.export import student_from_blob, teacher_from_blob
    from zarr_unicompress.model.networks import count_parameters
    from zarr_unicompress.training import fit

    volume = np.asarray(np.load(args.data) if args.data else load_em_volume("isbi2012"))
    chunk_shape = (16, 256, 256)
    start = time.perf_counter()
    plain = fit(volume, chunks=chunk_shape, teacher="default", teacher_steps=0, student_steps=args.student_steps,
                batch_tokens=args.batch_tokens, distill=False, progress=False)
    fit_seconds = time.perf_counter() - start
    teacher = teacher_from_blob(default_teacher_blob())
    rows = [("teacher (wavelet priors + attention fusion)", count_parameters(teacher),
             network_psnr(teacher, volume, chunk_shape, True), None, None)]
    for label, blob in (("student, distilled (shipped default)", default_student_blob()),
                        (f"student, no distillation ({args.student_steps} steps, {fit_seconds:.0f} s)", plain.blob)):
        student = student_from_blob(blob)
        idx_psnr, ratio = codec_figures(blob, volume, chunk_shape)
        rows.append((label, count_parameters(student), network_psnr(student, volume, chunk_shape, False),
                     idx_psnr, ratio))
    print(f"ISBI 2012 {volume.shape}, all {chunk_shape} chunks; {time.strftime('%Y-%m-%d')}\n")
    print("| network | parameters | indices-only PSNR, own forward (dB) | indices-only PSNR, codec (dB) "
          "| codec ratio at max_error=2 |")
    print("|---|---:|---:|---:|---:|")
    for label, params, own, codec_psnr, ratio in rows:
        cells = ["n/a (not stored by the codec)"] * 2 if codec_psnr is None else [f"{codec_psnr:.2f}", f"{ratio:.3f}"]
        print(f"| {label} | {params} | {own:.2f} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()

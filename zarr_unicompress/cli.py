"""Command line: ``unicompress compress | info | decompress``.

Examples::

    unicompress compress vol.n5 vol.zarr --max-error 2 --shards 128 1024 1024 --workers 2
    unicompress info vol.zarr
    unicompress decompress vol.zarr plain.zarr
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from .errors import UniCompressError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="unicompress", description="UniCompress archives of 3D volumes in Zarr")
    sub = parser.add_subparsers(dest="command", required=True)

    comp = sub.add_parser("compress", help="compress a .npy/TIFF/Zarr/N5 volume into a Zarr array")
    comp.add_argument("source")
    comp.add_argument("dest")
    quality = comp.add_mutually_exclusive_group()
    quality.add_argument("--ratio", type=float, help="target compression ratio per chunk")
    quality.add_argument("--max-error", type=int, help="bound on |x - x'| per voxel (intensity units)")
    comp.add_argument("--chunks", type=int, nargs=3, default=(64, 512, 512), metavar=("Z", "Y", "X"))
    comp.add_argument("--shards", type=int, nargs=3, default=None, metavar=("Z", "Y", "X"),
                      help="Zarr v3 shard shape (multiples of --chunks)")
    comp.add_argument("--zarr-format", type=int, choices=(2, 3), default=3)
    comp.add_argument("--model", default="default",
                      help="'default' (shipped EM model), 'fit' (fit on this volume) or a .ucmw file")
    comp.add_argument("--fit-steps", type=int, default=None, help="teacher and student steps when --model fit")
    sched = comp.add_mutually_exclusive_group()
    sched.add_argument("--scheduler", help="address of a running dask.distributed scheduler")
    sched.add_argument("--workers", type=int, help="local workers (threads; processes with --local-cluster)")
    comp.add_argument("--local-cluster", action="store_true", help="run a distributed.LocalCluster of --workers")
    comp.add_argument("--group-chunks", type=int, default=None,
                      help="chunks per task along z without shards (default: from available memory)")
    comp.add_argument("--device", choices=("cuda", "cpu"), default=None,
                      help="device for fitting and the encoder's codeword search (default: cuda when torch sees one)")
    comp.add_argument("--dataset", default=None, help="array path inside a Zarr group or N5 container")
    comp.add_argument("--quiet", action="store_true")

    info = sub.add_parser("info", help="print the codec configuration of a UniCompress array")
    info.add_argument("dest")

    dec = sub.add_parser("decompress", help="write a plain (zstd) Zarr copy of a UniCompress array")
    dec.add_argument("dest")
    dec.add_argument("out")
    dec.add_argument("--decode-device", choices=("cuda", "cpu"), default=None,
                     help="reconstruct ratio-mode chunks with torch on this device (default: NumPy)")

    args = parser.parse_args(argv)
    try:
        if args.command == "compress":
            return _compress(args)
        if args.command == "info":
            print(json.dumps(array_info(args.dest), indent=2))
            return 0
        return _decompress(args.dest, args.out, args.decode_device)
    except UniCompressError as exc:
        print(f"unicompress: error: {exc}", file=sys.stderr)
        return 2


def _compress(args: argparse.Namespace) -> int:
    from .pipeline import compress

    scheduler = args.scheduler or ("local-cluster" if args.local_cluster else None)
    overrides = {} if args.fit_steps is None else {"teacher_steps": args.fit_steps, "student_steps": args.fit_steps}
    summary = compress(args.source, args.dest, chunks=tuple(args.chunks),
                       shards=tuple(args.shards) if args.shards else None, zarr_format=args.zarr_format,
                       max_error=args.max_error, ratio=args.ratio, model=args.model, scheduler=scheduler,
                       workers=args.workers, group_chunks=args.group_chunks, device=args.device,
                       progress=not args.quiet,
                       dataset=args.dataset, fit_overrides=overrides)
    print(summary)
    return 0


def array_info(dest: str) -> dict[str, object]:
    """Summary of a UniCompress array: shape, chunks, quality mode, model digest and size, ratio."""
    import zarr

    from .pipeline import COMPLETE_ATTR, stored_bytes, unicompress_config

    array = zarr.open_array(dest, mode="r")
    config = unicompress_config(array)
    raw = array.nbytes
    stored = stored_bytes(Path(dest))
    mode = ("max_error" if config.get("max_error") is not None else
            "ratio" if config.get("ratio") is not None else "indices only")
    return {
        "shape": list(array.shape), "dtype": str(array.dtype), "chunks": list(array.chunks),
        "shards": list(array.shards) if getattr(array, "shards", None) else None,
        "zarr_format": array.metadata.zarr_format, "quality_mode": mode,
        "max_error": config.get("max_error"), "ratio_target": config.get("ratio"),
        "model_sha256": config["model_sha256"], "model_bytes_base64": len(config["model"]),
        "raw_bytes": raw, "stored_bytes": stored, "ratio": round(raw / max(stored, 1), 3),
        "complete": bool(array.attrs.get(COMPLETE_ATTR, False)),
    }


def _decompress(dest: str, out: str, decode_device: str | None = None) -> int:
    import dask.array as da
    import zarr

    from .runtime.device.decode_device import set_decode_device

    set_decode_device(decode_device)  # dask's threads run in this process
    src = zarr.open_array(dest, mode="r")
    lazy = da.from_zarr(src)
    target = zarr.create_array(out, shape=src.shape, chunks=src.chunks, dtype=src.dtype)
    da.to_zarr(lazy.rechunk(src.chunks), target)
    print(f"wrote {out}: {src.shape} {src.dtype}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

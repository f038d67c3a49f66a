"""Command line: ``unicompress compress | info | decompress``.

Examples::

    unicompress compress vol.n5 vol.zarr --max-error 2 --shards 128 1024 1024 --workers 2
    unicompress info vol.zarr
    unicompress decompress vol.zarr plain.zarr
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Sequence

from .errors import UniCompressError, UnsupportedInput


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="unicompress", description="UniCompress archives of 3D volumes in Zarr")
    sub = parser.add_subparsers(dest="command", required=True)

    comp = sub.add_parser("compress", help="compress a .npy/TIFF/Zarr/N5 volume into a Zarr array")
    comp.add_argument("source")
    comp.add_argument("dest")
    quality = comp.add_mutually_exclusive_group()
    quality.add_argument("--ratio", type=_ratio, help="target compression ratio per chunk (finite, > 1)")
    quality.add_argument("--max-error", type=_natural, help="bound on |x - x'| per voxel (intensity units)")
    comp.add_argument("--chunks", type=_positive, nargs=3, default=(64, 512, 512), metavar=("Z", "Y", "X"))
    comp.add_argument("--shards", type=_positive, nargs=3, default=None, metavar=("Z", "Y", "X"),
                      help="Zarr v3 shard shape (multiples of --chunks)")
    comp.add_argument("--zarr-format", type=int, choices=(2, 3), default=3)
    comp.add_argument("--model", default="default",
                      help="'default' (shipped EM model), 'fit' (fit on this volume) or a .ucmw file")
    comp.add_argument("--fit-steps", type=_positive, default=None, help="teacher and student steps when --model fit")
    sched = comp.add_mutually_exclusive_group()
    sched.add_argument("--scheduler", help="address of a running dask.distributed scheduler")
    sched.add_argument("--workers", type=_positive, help="local workers (threads; processes with --local-cluster)")
    comp.add_argument("--local-cluster", action="store_true", help="run a distributed.LocalCluster of --workers")
    comp.add_argument("--group-chunks", type=_positive, default=None,
                      help="chunks per task along z without shards (default: from available memory)")
    comp.add_argument("--device", choices=("cuda", "cpu"), default=None,
                      help="device for fitting and the encoder's codeword search (default: cuda when torch sees one)")
    comp.add_argument("--dataset", default=None, help="array path inside a Zarr group or N5 container")
    comp.add_argument("--quiet", action="store_true")
    # OME-Zarr 0.5 pyramid and viewer (zarr_unicompress.multiscale, zarr_unicompress.view)
    comp.add_argument("--multiscale", nargs="?", type=int, const=0, default=None, metavar="LEVELS",
                      help="write an OME-Zarr 0.5 multiscale image (LEVELS levels; default: until one chunk)")
    comp.add_argument("--voxel-size", type=float, nargs=3, default=None, metavar=("Z", "Y", "X"),
                      help="voxel size in nm: scale metadata, and z is halved only where voxels are ~isotropic")
    view = sub.add_parser("view", help="serve a UniCompress array or multiscale image to neuroglancer")
    view.add_argument("dest")
    view.add_argument("--bind", default="127.0.0.1", help="address the viewer's server listens on")
    view.add_argument("--port", type=int, default=0, help="port (default: any free one)")

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
        if args.command == "view":
            from .view import serve_forever

            return serve_forever(args.dest, args.bind, args.port)
        if args.command == "info":
            print(json.dumps(array_info(args.dest), indent=2))
            return 0
        return _decompress(args.dest, args.out, args.decode_device)
    except (UniCompressError, OSError) as exc:  # bad input, or a file the system refused: one line
        print(f"unicompress: error: {_one_line(exc)}", file=sys.stderr)
        return 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block): what is wrong and where to read more."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, UniCompressError) else f"{type(exc).__name__}: {text}"


def _integer_at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be an integer >= {minimum}")
        return value

    return parse


_positive = _integer_at_least(1)
_natural = _integer_at_least(0)


def _ratio(text: str) -> float:
    """argparse type: a finite number > 1 (``inf`` and ``nan`` are refused: not valid JSON)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 1:
        raise argparse.ArgumentTypeError(f"{text} must be a finite number > 1 (raw bytes / stored bytes)")
    return value


def _compress(args: argparse.Namespace) -> int:
    from .pipeline import compress

    if args.scheduler:
        from .scheduling import check_scheduler

        check_scheduler(args.scheduler)  # before anything is fitted or written
    scheduler = args.scheduler or ("local-cluster" if args.local_cluster else None)
    overrides = {} if args.fit_steps is None else {"teacher_steps": args.fit_steps, "student_steps": args.fit_steps}
    run, extra = compress, {}
    if args.voxel_size and args.multiscale is None:
        raise UnsupportedInput("--voxel-size describes a multiscale image: add --multiscale")
    if args.multiscale is not None:  # OME-Zarr 0.5 pyramid of UniCompress levels
        from .multiscale import compress_multiscale as run

        extra = {"levels": args.multiscale or None, "voxel_size": args.voxel_size and tuple(args.voxel_size)}
    summary = run(args.source, args.dest, chunks=tuple(args.chunks),
                       shards=tuple(args.shards) if args.shards else None, zarr_format=args.zarr_format,
                       max_error=args.max_error, ratio=args.ratio, model=args.model, scheduler=scheduler,
                       workers=args.workers, group_chunks=args.group_chunks, device=args.device,
                       progress=not args.quiet,
                       dataset=args.dataset, fit_overrides=overrides, **extra)
    print(summary)
    return 0


def array_info(dest: str) -> dict[str, object]:
    """Summary of a UniCompress array: shape, chunks, quality mode, model digest and size, ratio,
    and how many chunks each coder choice wrote (:func:`.chunk_census.census`). For an OME-Zarr
    pyramid written by ``compress --multiscale``: {"multiscale": True, "levels": {path: summary}},
    one summary per level named in its "multiscales" metadata."""
    levels = _pyramid_levels(dest)
    if levels is not None:
        return {"multiscale": True,
                "levels": {level: array_info(str(Path(dest) / level)) for level in levels}}
    from .chunk_census import census, chunks_per_shard
    from .pipeline import COMPLETE_ATTR, stored_bytes, unicompress_config

    array = open_existing_array(dest)
    config = unicompress_config(array)
    from numcodecs_ext.unicompress import UniCompress

    codec = UniCompress.from_config({k: v for k, v in config.items() if k not in ("id", "name")})
    raw = array.nbytes
    stored = stored_bytes(Path(dest))
    mode = ("max_error" if config.get("max_error") is not None else
            "ratio" if config.get("ratio") is not None else "indices only")
    return {
        "shape": list(array.shape), "dtype": str(array.dtype), "chunks": list(array.chunks),
        "shards": list(array.shards) if getattr(array, "shards", None) else None,
        "zarr_format": array.metadata.zarr_format, "quality_mode": mode,
        "max_error": config.get("max_error"), "ratio_target": config.get("ratio"),
        "model_sha256": codec.model_sha256, "model_bytes_base64": len(codec.get_config()["model"]),
        "raw_bytes": raw, "stored_bytes": stored, "ratio": round(raw / max(stored, 1), 3),
        "complete": bool(array.attrs.get(COMPLETE_ATTR, False)),
        "chunks_by_coder": census(dest, chunks_per_shard(array.metadata.to_dict())),
    }


def _pyramid_levels(dest: str) -> list[str] | None:
    """The level paths of the OME-Zarr pyramid at ``dest`` (its group metadata's first
    "multiscales" entry), or None where ``dest`` is no such group. Each path must name a
    folder inside ``dest`` (a crafted "../x" is refused)."""
    meta_path = Path(dest) / "zarr.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("node_type") != "group":
        return None
    attrs = meta.get("attributes")
    ome = attrs.get("ome") if isinstance(attrs, dict) else None
    scales = ome.get("multiscales") if isinstance(ome, dict) else None
    if not isinstance(scales, list) or not scales or not isinstance(scales[0], dict):
        return None
    paths = [d.get("path") for d in scales[0].get("datasets", []) if isinstance(d, dict)]
    if not paths or not all(isinstance(p, str) and p and Path(p).name == p and p not in (".", "..")
                            for p in paths):
        raise UnsupportedInput(f"{dest} is an OME-Zarr group whose multiscales datasets name no level "
                               f"folders inside it; name one level's array (e.g. {dest}/0)")
    return paths


def _decompress(dest: str, out: str, decode_device: str | None = None) -> int:
    import dask.array as da
    import zarr

    from .pipeline import DestinationConflict
    from .runtime.device.decode_device import set_decode_device

    set_decode_device(decode_device)  # dask's threads run in this process
    src = open_existing_array(dest)
    final = Path(out)
    if final.exists() or final.is_symlink():
        raise DestinationConflict(f"{out} exists; decompress never overwrites: choose a new output path")
    # written under a temporary name beside the output, renamed when complete: an interrupted
    # run leaves no half-made output (only that folder, which this command made and removes)
    partial = final.with_name(f".{final.name}.unicompress-partial-{os.getpid()}")
    try:
        lazy = da.from_zarr(src)
        target = zarr.create_array(str(partial), shape=src.shape, chunks=src.chunks, dtype=src.dtype)
        da.to_zarr(lazy.rechunk(src.chunks), target)
        os.rename(partial, final)
    finally:
        if partial.exists():
            shutil.rmtree(partial)
    print(f"wrote {out}: {src.shape} {src.dtype}")
    return 0


def open_existing_array(path: str) -> Any:
    """``zarr.open_array(path, mode="r")`` for a path the user named; one-line errors where it is
    missing or not a Zarr array (a damaged codec config keeps its own error)."""
    import zarr

    if not Path(path).exists():
        raise UnsupportedInput(f"{path} does not exist; name a Zarr array written by unicompress compress")
    try:
        return zarr.open_array(path, mode="r")
    except UniCompressError:
        raise
    except Exception as exc:  # zarr raises many kinds for a path that is not an array
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise UnsupportedInput(f"{path} is not a Zarr array ({reason}); name a Zarr array written by "
                               "unicompress compress") from None


if __name__ == "__main__":
    raise SystemExit(main())

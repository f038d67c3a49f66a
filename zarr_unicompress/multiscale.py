"""OME-Zarr 0.5 multiscale images (Zarr v3) whose every level is a UniCompress array.

Layout of ``DEST``::

    DEST/zarr.json     group; attributes "ome" (version 0.5, "multiscales") once every level is done
    DEST/0, DEST/1 ... the levels, each written by :func:`zarr_unicompress.pipeline.compress`

Level ``k + 1`` is level ``k`` of the *source* averaged over blocks of 2 voxels along y and x, and
along z only where the voxels are about isotropic (see :func:`level_factors`), so a level's lossy
error never feeds the next one. Each level resumes on its own (its progress markers), so a rerun
of the same command finishes a killed job; the "ome" metadata appears only when all levels are
complete, so readers never see a partial pyramid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UnsupportedInput
from .pipeline import COMPLETE_ATTR, CompressSummary, DestinationConflict, compress, unicompress_config
from .sources import open_source

#: group attribute that marks a pyramid this module started (with its settings).
MULTISCALE_ATTR = "unicompress_multiscale"
#: a level spans at least this many voxels in y and x; no more levels than this.
MIN_LEVEL_YX, MAX_LEVELS = 32, 12


class Downsampled:
    """Lazy 2x block mean of a (z, y, x) array-like along the axes where ``factors`` is 2.

    Shape: ceil(base.shape / factors); an odd edge repeats its last voxel. Reading a region reads
    the matching region of ``base`` only; values are rounded means in ``base``'s integer dtype.
    """

    def __init__(self, base: Any, factors: tuple[int, int, int]) -> None:
        self.base, self.factors = base, tuple(int(f) for f in factors)
        self.shape = tuple(-(-int(s) // f) for s, f in zip(base.shape, self.factors))
        self.dtype = np.dtype(base.dtype)
        self.ndim = 3

    def __getitem__(self, sel: tuple[slice, ...]) -> np.ndarray:
        bounds = [s.indices(n)[:2] for s, n in zip(sel, self.shape)]
        base_sel = tuple(slice(a * f, min(b * f, n)) for (a, b), f, n in zip(bounds, self.factors, self.base.shape))
        block = np.asarray(self.base[base_sel])
        pad = [(0, (b - a) * f - m) for (a, b), f, m in zip(bounds, self.factors, block.shape)]
        if any(p[1] for p in pad):
            block = np.pad(block, pad, mode="edge")
        shape = []
        for (a, b), f in zip(bounds, self.factors):
            shape += [b - a, f]
        mean = block.reshape(shape).mean(axis=(1, 3, 5), dtype=np.float64)
        return np.rint(mean).astype(self.dtype)


def level_factors(voxel_size: tuple[float, float, float] | None, levels: int) -> list[tuple[int, int, int]]:
    """Downsampling factors (z, y, x) from each level to the next (``levels - 1`` entries).

    y and x are always halved; z is halved at a level whose z voxel size (nm) is at most 1.5 times
    its y/x size, so isotropic FIB-SEM is halved in all three axes and serial sections (e.g.
    4 x 4 x 50 nm) in x/y until the level is about isotropic. No voxel size: x/y only.
    """
    if voxel_size is None:
        return [(1, 2, 2)] * (levels - 1)
    z, y, x = (float(v) for v in voxel_size)
    factors = []
    for _ in range(levels - 1):
        fz = 2 if z <= 1.5 * min(y, x) else 1
        factors.append((fz, 2, 2))
        z, y, x = z * fz, y * 2, x * 2
    return factors


def auto_levels(shape: tuple[int, ...], chunks: tuple[int, ...]) -> int:
    """Levels until one chunk covers y and x, or y or x would drop under ``MIN_LEVEL_YX`` voxels."""
    levels, y, x = 1, int(shape[1]), int(shape[2])
    while (levels < MAX_LEVELS and (y > chunks[1] or x > chunks[2])
           and -(-y // 2) >= MIN_LEVEL_YX and -(-x // 2) >= MIN_LEVEL_YX):
        y, x, levels = -(-y // 2), -(-x // 2), levels + 1
    return levels


@dataclass
class MultiscaleSummary:
    """Result of :func:`compress_multiscale`: one :class:`CompressSummary` per level."""

    dest: str
    levels: list[CompressSummary]
    scales: list[tuple[float, float, float]]

    def __str__(self) -> str:
        lines = [f"{self.dest}: OME-Zarr 0.5 multiscale image, {len(self.levels)} levels"]
        lines += [f"  level {k} scale {s}: {summary}" for k, (summary, s) in enumerate(zip(self.levels, self.scales))]
        return "\n".join(lines)


def compress_multiscale(source: Any, dest: str | Path, *, voxel_size: tuple[float, float, float] | None = None,
                        levels: int | None = None, chunks: tuple[int, int, int] = (64, 512, 512),
                        shards: tuple[int, int, int] | None = None, source_kind: str | None = None,
                        dataset: str | None = None, model: Any = "default", zarr_format: int = 3,
                        **settings: Any) -> MultiscaleSummary:
    """Write ``source`` as an OME-Zarr 0.5 multiscale image at ``dest`` (Zarr v3, a local directory).

    Args:
        voxel_size: (z, y, x) in nanometres; decides the z factors and the scale transforms
            (None: x/y-only downsampling and scales in voxels, without a unit).
        levels: number of levels including full resolution (None: :func:`auto_levels`).
        chunks, shards: of level 0; smaller levels clip them to their shape.
        model: as :func:`~zarr_unicompress.pipeline.compress`; "fit" fits once (on level 0) and
            every level shares that model.
        settings: the other keyword arguments of :func:`~zarr_unicompress.pipeline.compress`
            (``max_error``, ``ratio``, ``scheduler``, ``workers``, ``device``, ``progress``...).
    """
    import zarr

    dest = Path(dest)
    if zarr_format != 3:
        raise UnsupportedInput("a multiscale image is OME-Zarr 0.5, which is Zarr v3: drop --zarr-format 2")
    base = open_source(source, source_kind, dataset)
    if len(base.shape) != 3:
        raise UnsupportedInput(f"a multiscale image needs a 3D source (z, y, x); got shape {tuple(base.shape)}")
    if voxel_size is not None and (len(voxel_size) != 3 or not all(math.isfinite(v) and v > 0 for v in voxel_size)):
        raise UnsupportedInput(f"--voxel-size must be three positive numbers (z y x, nm); got {voxel_size}")
    chunks = tuple(min(int(c), int(s)) for c, s in zip(chunks, base.shape))
    levels = auto_levels(base.shape, chunks) if levels is None else int(levels)
    if not 1 <= levels <= MAX_LEVELS:
        raise UnsupportedInput(f"levels must be 1..{MAX_LEVELS}; got {levels}")
    factors = level_factors(voxel_size, levels)
    marker = {"levels": levels, "factors": [list(f) for f in factors],
              "voxel_size": None if voxel_size is None else [float(v) for v in voxel_size],
              "max_error": settings.get("max_error"), "ratio": settings.get("ratio")}
    group = _open_group(zarr, dest, marker)
    sources, scales = [base], [tuple(float(v) for v in (voxel_size or (1.0, 1.0, 1.0)))]
    for f in factors:
        sources.append(Downsampled(sources[-1], f))
        scales.append(tuple(s * k for s, k in zip(scales[-1], f)))
    summaries = []
    for k, level_source in enumerate(sources):
        level_chunks = tuple(min(c, int(s)) for c, s in zip(chunks, level_source.shape))
        level_shards = None if shards is None else tuple(
            c * max(1, min(int(s) // c, -(-int(n) // c))) for c, s, n in zip(level_chunks, shards, level_source.shape))
        if k > 0 and isinstance(model, str) and model == "fit":
            model = _SharedModel(dest / "0")
        summaries.append(compress(level_source, dest / str(k), chunks=level_chunks, shards=level_shards,
                                  zarr_format=3, model=model, **settings))
    if all(zarr.open_array(str(dest / str(k)), mode="r").attrs.get(COMPLETE_ATTR) for k in range(levels)):
        group.attrs["ome"] = ome_metadata(scales, voxel_size is not None, dest.name)
    return MultiscaleSummary(str(dest), summaries, scales)


def ome_metadata(scales: list[tuple[float, float, float]], in_nm: bool, name: str) -> dict[str, Any]:
    """The group's "ome" attribute (OME-Zarr 0.5): axes z, y, x and per level a scale, then a
    translation that puts a level's voxel centres at the centre of the voxels it averages."""
    unit = {"unit": "nanometer"} if in_nm else {}
    axes = [{"name": a, "type": "space", **unit} for a in "zyx"]
    datasets = []
    for k, scale in enumerate(scales):
        shift = [(s - s0) / 2 for s, s0 in zip(scale, scales[0])]
        transforms: list[dict[str, Any]] = [{"type": "scale", "scale": list(scale)}]
        if any(shift):
            transforms.append({"type": "translation", "translation": shift})
        datasets.append({"path": str(k), "coordinateTransformations": transforms})
    return {"version": "0.5", "multiscales": [{"name": name, "axes": axes, "datasets": datasets}]}


class _SharedModel:
    """The model of level 0 (a finished or started UniCompress array), for the other levels."""

    def __init__(self, level0: Path) -> None:
        import zarr

        from numcodecs_ext.unicompress import UniCompress

        codec = UniCompress.from_config(unicompress_config(zarr.open_array(str(level0), mode="r")))
        self.blob = codec._blob


def _open_group(zarr: Any, dest: Path, marker: dict[str, Any]) -> Any:
    """The pyramid's root group: new, or one this function started with the same settings."""
    if not dest.exists():
        group = zarr.open_group(str(dest), mode="w-", zarr_format=3)
        group.attrs[MULTISCALE_ATTR] = marker
        return group
    try:
        group = zarr.open_group(str(dest), mode="r+", zarr_format=3)
        stored = group.attrs.get(MULTISCALE_ATTR)
    except Exception:  # noqa: BLE001 - not a Zarr v3 group at all
        stored = None
    if stored is None:
        raise DestinationConflict(f"{dest} exists and is not a multiscale image written by unicompress; "
                                  "choose a new destination")
    if stored != marker:
        raise DestinationConflict(f"{dest} was started with {stored}, now {marker}; rerun with the same "
                                  "--voxel-size, levels and quality settings, or choose a new destination")
    return group

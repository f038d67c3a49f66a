"""Real EM volumes for development, tests and benchmarks, from a local cache.

Search order for a named volume: the environment variable ``UNICOMPRESS_DATA`` (a
directory), the repository's sibling ``shared/data`` directory, ``../shared/data`` relative to
the working directory, and the cache directory
``~/.cache/zarr-unicompress`` (override with ``UNICOMPRESS_CACHE``). Nothing is downloaded here:
:func:`zarr_unicompress.fetch.fetch_isbi2012` downloads ISBI 2012 into the cache, and
:func:`example_volume` picks a local copy, the download or the small real crop shipped with the
package (``assets/isbi2012_crop.npz``, see ``assets/PROVENANCE.md``), in that order.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: known volumes: name -> file name.
VOLUMES = {"isbi2012": "isbi2012_train.npy"}


class DataUnavailable(FileNotFoundError):
    """The requested EM volume is not present in any search location."""


#: the shipped crop: ISBI 2012 ``[0:30, 128:384, 128:384]`` and the sha256 of its raw bytes.
SAMPLE_ASSET = "isbi2012_crop.npz"
SAMPLE_SHA256 = "dcc4236060c29d2401f5ec2505efae3c82ade36829130103717a4d65c27ba6b2"
SAMPLE_BOX = ((0, 30), (128, 384), (128, 384))


def cache_dir() -> Path:
    """Where downloaded volumes are kept: ``$UNICOMPRESS_CACHE`` or ``~/.cache/zarr-unicompress``."""
    return Path(os.environ.get("UNICOMPRESS_CACHE", Path.home() / ".cache" / "zarr-unicompress"))


def search_dirs() -> list[Path]:
    """Directories searched for EM volumes, in order, without duplicates: ``$UNICOMPRESS_DATA``,
    ``shared/data`` beside the repository and beside the working directory, the cache."""
    dirs = []
    if os.environ.get("UNICOMPRESS_DATA"):
        dirs.append(Path(os.environ["UNICOMPRESS_DATA"]))
    repo_shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    dirs.append(repo_shared)
    dirs.append(Path.cwd().parent / "shared" / "data")
    dirs.append(cache_dir())
    return list(dict.fromkeys(d.resolve() for d in dirs))


def em_volume_path(name: str = "isbi2012") -> Path:
    """Path of a known EM volume; raises :class:`DataUnavailable` naming where it looked."""
    if name not in VOLUMES:
        raise KeyError(f"unknown volume {name!r}; known: {sorted(VOLUMES)}")
    for d in search_dirs():
        p = d / VOLUMES[name]
        if p.is_file():
            return p
    raise DataUnavailable(
        f"{VOLUMES[name]} not found in {[str(d) for d in search_dirs()]}; set UNICOMPRESS_DATA to the "
        "directory that holds it"
    )


def load_em_volume(name: str = "isbi2012") -> np.ndarray:
    """Load a known EM volume as a (z, y, x) numpy array (memory-mapped read of a .npy)."""
    return np.load(em_volume_path(name), allow_pickle=False)


def load_sample_crop() -> np.ndarray:
    """The real ISBI 2012 crop shipped with the package: (30, 256, 256) uint8, 4 x 4 x 50 nm
    voxels; checked against :data:`SAMPLE_SHA256`."""
    import hashlib
    from importlib import resources

    with resources.files("zarr_unicompress").joinpath("assets", SAMPLE_ASSET).open("rb") as handle:
        with np.load(handle, allow_pickle=False) as npz:
            volume = np.ascontiguousarray(npz["volume"])
    if hashlib.sha256(volume.tobytes()).hexdigest() != SAMPLE_SHA256:
        raise DataUnavailable(f"the shipped {SAMPLE_ASSET} is damaged (sha256 mismatch); reinstall zarr-unicompress")
    return volume


def example_volume(source: str = "auto", timeout: float = 3.0) -> tuple[np.ndarray, str]:
    """An EM volume for the examples and a line saying where it came from.

    ``source``: "local" (the ISBI 2012 .npy found by :func:`em_volume_path`), "download" (via
    :func:`zarr_unicompress.fetch.fetch_isbi2012`, cached), "sample" (the shipped crop), or
    "auto": the first of these that works. Returns a (z, y, x) uint8 array (memory-mapped for a
    .npy) and the description.
    """
    if source not in ("auto", "local", "download", "sample"):
        raise ValueError(f"source must be auto, local, download or sample; got {source!r}")
    reasons = []
    if source in ("auto", "local"):
        try:
            path = em_volume_path("isbi2012")
            return np.load(path, mmap_mode="r", allow_pickle=False), f"ISBI 2012 (30 x 512 x 512), local copy {path}"
        except DataUnavailable as exc:
            if source == "local":
                raise
            reasons.append("no local copy")
    if source in ("auto", "download"):
        from .fetch import fetch_isbi2012

        try:
            path = fetch_isbi2012(timeout=timeout)
            return (np.load(path, mmap_mode="r", allow_pickle=False),
                    f"ISBI 2012 (30 x 512 x 512), downloaded and checked, cached at {path}")
        except DataUnavailable as exc:
            if source == "download":
                raise
            reasons.append(f"no download: {exc}")
    box = " x ".join(f"{a}:{b}" for a, b in SAMPLE_BOX)
    return load_sample_crop(), (f"the real ISBI 2012 crop [{box}] (30 x 256 x 256) shipped with the package"
                                + (f" ({'; '.join(reasons)})" if reasons else ""))

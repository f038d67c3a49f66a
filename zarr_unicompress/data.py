"""Real EM volumes for development, tests and benchmarks, from a local cache.

Search order for a named volume: the environment variable ``UNICOMPRESS_DATA`` (a
directory), the repository's sibling ``shared/data`` directory, ``../shared/data`` relative to
the working directory, and the cache directory
``~/.cache/zarr-unicompress`` (override with ``UNICOMPRESS_CACHE``). Nothing is downloaded:
place the file there (see ``shared/data/PROVENANCE.md`` for how ISBI 2012 was made).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: known volumes: name -> file name.
VOLUMES = {"isbi2012": "isbi2012_train.npy"}


class DataUnavailable(FileNotFoundError):
    """The requested EM volume is not present in any search location."""


def search_dirs() -> list[Path]:
    """Directories searched for EM volumes, in order, without duplicates: ``$UNICOMPRESS_DATA``,
    ``shared/data`` beside the repository and beside the working directory, the cache."""
    dirs = []
    if os.environ.get("UNICOMPRESS_DATA"):
        dirs.append(Path(os.environ["UNICOMPRESS_DATA"]))
    repo_shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    dirs.append(repo_shared)
    dirs.append(Path.cwd().parent / "shared" / "data")
    dirs.append(Path(os.environ.get("UNICOMPRESS_CACHE", Path.home() / ".cache" / "zarr-unicompress")))
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

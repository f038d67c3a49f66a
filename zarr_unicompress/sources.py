"""Read-only access to the volumes people archive: .npy, TIFF stacks, Zarr v2/v3 and N5.

:func:`open_source` returns a :class:`VolumeSource`, a picklable array-like (``shape``,
``dtype``, ``__getitem__`` returning numpy) that reopens its file lazily in each process, so
Dask tasks on a ``distributed`` cluster can read their own regions. N5 (and Zarr through
``kind="tensorstore"``) is read with tensorstore.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import UnsupportedInput

SOURCE_KINDS = ("npy", "tiff", "zarr", "n5", "tensorstore-zarr")


def detect_kind(path: str | Path) -> str:
    """Guess the source kind of ``path`` from its suffix and contents."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return "npy"
    if suffix in (".tif", ".tiff"):
        return "tiff"
    if suffix == ".n5" or (p / "attributes.json").is_file():
        return "n5"
    if suffix == ".zarr" or any((p / name).is_file() for name in (".zarray", "zarr.json")):
        return "zarr"
    raise UnsupportedInput(
        f"cannot tell the format of {path!s}; use a .npy, .tif/.tiff, .zarr or .n5 path, or pass kind="
    )


class VolumeSource:
    """A 3D volume on disk, opened on first access in each process.

    Args:
        path: file or directory of the volume.
        kind: one of :data:`SOURCE_KINDS`, or None to detect it.
        dataset: inside a Zarr group or N5 container, the path of the array (optional).
    """

    def __init__(self, path: str | Path, kind: str | None = None, dataset: str | None = None) -> None:
        self.path = str(path)
        if not Path(self.path).exists():
            raise UnsupportedInput(f"source {self.path} does not exist")
        self.kind = kind or detect_kind(self.path)
        if self.kind not in SOURCE_KINDS:
            raise UnsupportedInput(f"unknown source kind {self.kind!r}; use one of {SOURCE_KINDS}")
        self.dataset = dataset
        self._handle: Any = None
        handle = self._open()
        self.shape: tuple[int, ...] = tuple(int(s) for s in handle.shape)
        self.dtype = np.dtype(handle.dtype.numpy_dtype if hasattr(handle.dtype, "numpy_dtype") else handle.dtype)
        self.ndim = len(self.shape)

    def _open(self) -> Any:
        if self._handle is None:
            self._handle = _OPENERS[self.kind](self.path, self.dataset)
        return self._handle

    def __getitem__(self, selection: Any) -> np.ndarray:
        handle = self._open()
        if self.kind in ("n5", "tensorstore-zarr"):
            return np.asarray(handle[selection].read().result())
        return np.asarray(handle[selection])

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handle"] = None
        return state

    def __repr__(self) -> str:
        return f"VolumeSource({self.path!r}, kind={self.kind!r}, shape={self.shape}, dtype={self.dtype})"


def open_source(source: Any, kind: str | None = None, dataset: str | None = None) -> Any:
    """An array-like for ``source``: a path (see :class:`VolumeSource`) or an array passed through."""
    if isinstance(source, (str, Path)):
        return VolumeSource(source, kind, dataset)
    if not hasattr(source, "shape") or not hasattr(source, "dtype"):
        raise UnsupportedInput(f"source must be a path or an array-like, got {type(source).__name__}")
    return source


def _open_npy(path: str, dataset: str | None) -> Any:
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _open_tiff(path: str, dataset: str | None) -> Any:
    import tifffile

    try:
        return tifffile.memmap(path, mode="r")
    except ValueError:  # compressed or tiled TIFF: not memory-mappable, read it whole
        return tifffile.imread(path)


def _open_zarr(path: str, dataset: str | None) -> Any:
    import zarr

    return zarr.open_array(path, path=dataset or "", mode="r")


def _open_tensorstore(driver: str, path: str, dataset: str | None) -> Any:
    try:
        import tensorstore as ts
    except ImportError as exc:
        raise UnsupportedInput(
            f"reading {driver} sources needs tensorstore: pip install 'zarr-unicompress[io]'"
        ) from exc
    spec = {"driver": driver, "kvstore": {"driver": "file", "path": str(Path(path) / (dataset or ""))}}
    return ts.open(spec, read=True).result()


_OPENERS = {
    "npy": _open_npy,
    "tiff": _open_tiff,
    "zarr": _open_zarr,
    "n5": lambda p, d: _open_tensorstore("n5", p, d),
    "tensorstore-zarr": lambda p, d: _open_tensorstore("zarr", p, d),
}

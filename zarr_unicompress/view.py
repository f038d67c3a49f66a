"""``unicompress view``: serve a UniCompress array (or OME-Zarr image) to a neuroglancer viewer.

The array is opened with ``dask.array.from_zarr`` and served by the ``neuroglancer`` Python
package's local volume server (the optional extra ``zarr-unicompress[view]``): each chunk the
viewer asks for is decoded on request, nothing is decoded up front. For an OME-Zarr multiscale
image, level 0 is served with its voxel size (neuroglancer downsamples on the fly for overviews).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UniCompressError

VIEW_INSTALL_HINT = "unicompress view needs neuroglancer: pip install 'zarr-unicompress[view]'"


class ViewUnavailable(UniCompressError, ImportError):
    """``view`` was asked for but the ``neuroglancer`` package is not installed."""


class LazyVolume:
    """A (z, y, x) dask array as the array-like neuroglancer's ``LocalVolume`` reads: a region
    read computes (decodes) only the chunks it touches."""

    def __init__(self, lazy: Any) -> None:
        self.lazy, self.shape, self.dtype, self.ndim = lazy, tuple(lazy.shape), np.dtype(lazy.dtype), lazy.ndim

    def __getitem__(self, sel: Any) -> np.ndarray:
        return np.asarray(self.lazy[sel].compute(scheduler="threads"))


@dataclass
class Served:
    """What :func:`start_viewer` started: the viewer, its URL, the volume's server-side key."""

    viewer: Any
    url: str
    volume_key: str
    server_url: str


def open_for_view(dest: str | Path) -> tuple[Any, list[float] | None, str]:
    """(lazy dask array, voxel size z, y, x in nm or None, layer name) of an array or an
    OME-Zarr 0.5 image at ``dest``."""
    import dask.array as da
    import zarr

    node = zarr.open(str(dest), mode="r")
    scale, units_nm, path = None, False, ""
    if isinstance(node, zarr.Group):
        multiscales = (node.attrs.get("ome") or {}).get("multiscales")
        if not multiscales:
            raise UniCompressError(f"{dest} is a Zarr group without OME-Zarr multiscales; pass an array or an image")
        first = multiscales[0]["datasets"][0]
        path = first["path"]
        scale = next((t["scale"] for t in first["coordinateTransformations"] if t["type"] == "scale"), None)
        units_nm = all(a.get("unit") == "nanometer" for a in multiscales[0]["axes"])
        node = node[path]
    if len(node.shape) != 3:
        raise UniCompressError(f"view shows 3D (z, y, x) arrays; {dest} is {len(node.shape)}D")
    return da.from_zarr(node), ([float(s) for s in scale] if scale and units_nm else None), Path(dest).name


def start_viewer(dest: str | Path, bind: str = "127.0.0.1", port: int = 0) -> Served:
    """Start neuroglancer's server on ``bind:port`` (0: a free port) showing ``dest``."""
    try:
        import neuroglancer
    except ImportError as exc:
        raise ViewUnavailable(f"{VIEW_INSTALL_HINT} ({exc})") from exc
    lazy, voxel_nm, name = open_for_view(dest)
    neuroglancer.set_server_bind_address(bind, port)
    dimensions = neuroglancer.CoordinateSpace(names=["z", "y", "x"], units="nm" if voxel_nm else "",
                                              scales=voxel_nm or [1, 1, 1])
    volume = neuroglancer.LocalVolume(data=LazyVolume(lazy), dimensions=dimensions, volume_type="image")
    viewer = neuroglancer.Viewer()
    with viewer.txn() as state:
        state.layers[name] = neuroglancer.ImageLayer(source=volume)
    return Served(viewer, str(viewer.get_viewer_url()), f"{viewer.token}.{volume.token}",
                  neuroglancer.server.get_server_url())


def serve_forever(dest: str | Path, bind: str = "127.0.0.1", port: int = 0) -> int:
    """``unicompress view``: start the viewer, print its URL, serve until Ctrl-C."""
    served = start_viewer(dest, bind, port)
    print(f"neuroglancer viewer of {dest}: {served.url}  (Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0

"""Download the public ISBI 2012 training volume (30 x 512 x 512 uint8) into the local cache.

The volume is the stack of the 30 PNG slices of the public GitHub repository zhixuhao/unet at a
fixed commit (see ``zarr_unicompress/assets/PROVENANCE.md``). Each slice is fetched once with
``pooch`` into ``<cache>/isbi2012_png/``; the stacked array must match :data:`ISBI2012_SHA256` (the
sha256 of its raw C-order bytes) before it is written, atomically, as ``<cache>/isbi2012_train.npy``,
where :func:`zarr_unicompress.data.em_volume_path` finds it from then on.

Offline (or with ``UNICOMPRESS_OFFLINE=1``) this fails fast, with :class:`DataUnavailable`: a
single connection probe with a short timeout comes before any download.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from .data import VOLUMES, DataUnavailable, cache_dir

ISBI2012_COMMIT = "b45af4d458437d8281cc218a07fd4380818ece4a"
#: URL template of slice ``{index}`` (0..29).
ISBI2012_URL = ("https://raw.githubusercontent.com/zhixuhao/unet/" + ISBI2012_COMMIT
                + "/data/membrane/train/image/{index}.png")
ISBI2012_SHAPE = (30, 512, 512)
#: sha256 of the stacked (30, 512, 512) uint8 volume's raw C-order bytes.
ISBI2012_SHA256 = "200da3d452d726e6c9ca1ce04b869d4edb727320d23b516d01cce707dc8c4760"


def fetch_isbi2012(timeout: float = 3.0, url: str | None = None, sha256: str | None = None,
                   shape: tuple[int, int, int] | None = None) -> Path:
    """Download (or take from the cache) the ISBI 2012 volume; return the path of its .npy.

    Args:
        timeout: seconds for the connection probe and for each request.
        url, sha256, shape: the slice URL template, the digest of the stacked raw bytes and the
            (z, y, x) shape; None: the public volume (:data:`ISBI2012_URL` etc.).

    Raises:
        DataUnavailable: offline, ``UNICOMPRESS_OFFLINE`` set, pooch or Pillow missing, a download
            failed, or the stack does not match ``sha256`` (then nothing is written).
    """
    url, sha256, shape = url or ISBI2012_URL, sha256 or ISBI2012_SHA256, shape or ISBI2012_SHAPE
    target = cache_dir() / VOLUMES["isbi2012"]
    if target.is_file():
        return target
    if os.environ.get("UNICOMPRESS_OFFLINE", "") not in ("", "0"):
        raise DataUnavailable("UNICOMPRESS_OFFLINE is set; not downloading ISBI 2012")
    try:
        import pooch
        from PIL import Image
    except ImportError as exc:
        raise DataUnavailable(f"downloading needs pooch and Pillow ({exc}); pip install pooch Pillow") from exc
    _probe(url, timeout)
    pooch.get_logger().setLevel("WARNING")
    downloader = pooch.HTTPDownloader(timeout=timeout, progressbar=False)
    slices = []
    for index in range(shape[0]):
        try:
            png = pooch.retrieve(url.format(index=index), known_hash=None, fname=f"{index}.png",
                                 path=cache_dir() / "isbi2012_png", downloader=downloader)
            with Image.open(png) as image:
                plane = np.asarray(image)
        except Exception as exc:  # network, HTTP or image errors: all mean "not available"
            raise DataUnavailable(f"download of ISBI 2012 slice {index} failed: {exc}") from exc
        if plane.ndim == 3 and all(np.array_equal(plane[..., 0], plane[..., c]) for c in range(plane.shape[2])):
            plane = plane[..., 0]
        slices.append(plane)
    volume = np.ascontiguousarray(np.stack(slices)) if slices else np.zeros((0,), np.uint8)
    import hashlib

    digest = hashlib.sha256(volume.tobytes()).hexdigest()
    if volume.shape != tuple(shape) or volume.dtype != np.uint8 or digest != sha256:
        raise DataUnavailable(f"downloaded ISBI 2012 stack is {volume.shape} {volume.dtype} with sha256 "
                              f"{digest}, expected {tuple(shape)} uint8 with {sha256}; not using it")
    tmp = target.with_name(target.name + ".part")
    with open(tmp, "wb") as handle:
        np.save(handle, volume, allow_pickle=False)
    os.replace(tmp, target)
    return target


def _probe(url: str, timeout: float) -> None:
    """One TCP connection to ``url``'s host, so that an offline machine fails in ``timeout`` s."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        raise DataUnavailable(f"{parsed.hostname} is unreachable ({exc}); offline") from exc

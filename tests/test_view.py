"""`unicompress view`: chunk data requested from neuroglancer's local volume server equals the array."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest

neuroglancer = pytest.importorskip(
    "neuroglancer", reason="neuroglancer is not installed: pip install 'zarr-unicompress[view]' to test `view`")

from zarr_unicompress.data import load_sample_crop  # noqa: E402
from zarr_unicompress.multiscale import compress_multiscale  # noqa: E402
from zarr_unicompress.view import start_viewer  # noqa: E402

ROOT = str(Path(__file__).resolve().parents[1])


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def _chunk(server_url: str, key: str, start: tuple[int, int, int], end: tuple[int, int, int]) -> np.ndarray:
    """A region (z, y, x) as neuroglancer's client asks for it: npz = zlib-compressed .npy."""
    comma = ",".join
    body = _get(f"{server_url}/neuroglancer/npz/{key}/1,1,1/{comma(map(str, start))}/{comma(map(str, end))}")
    return np.load(io.BytesIO(zlib.decompress(body)), allow_pickle=False)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A one-level OME-Zarr image of a real EM block (8, 64, 64), 50 x 4 x 4 nm, and its decoded voxels."""
    import zarr

    dest = tmp_path_factory.mktemp("view") / "em.zarr"
    compress_multiscale(np.ascontiguousarray(load_sample_crop()[:8, :64, :64]), dest, voxel_size=(50, 4, 4),
                        levels=1, chunks=(8, 32, 32), ratio=8, progress=False)
    return dest, zarr.open_array(str(dest / "0"), mode="r")[:]


def test_served_chunks_equal_the_decoded_array(image):
    dest, decoded = image
    infos = []
    try:
        for target in (dest, dest / "0"):  # the OME-Zarr image, and the bare array
            served = start_viewer(target)
            assert served.url.startswith("http://127.0.0.1:")
            info = json.loads(_get(f"{served.server_url}/neuroglancer/info/{served.volume_key}"))
            assert info["shape"] == [8, 64, 64] and info["dataType"] == "uint8"
            np.testing.assert_array_equal(_chunk(served.server_url, served.volume_key, (2, 10, 30), (8, 40, 64)),
                                          decoded[2:8, 10:40, 30:64])
            infos.append(info["coordinateSpace"])
        assert infos[0]["z"] == [5e-08, "m"] and infos[0]["x"] == [4e-09, "m"]  # the image's 50 x 4 x 4 nm
        assert infos[1]["x"] == [1, ""]  # the bare array: no voxel size
    finally:
        neuroglancer.server.stop()


def test_cli_prints_a_url_that_serves_the_viewer(image):
    dest, _ = image
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "zarr_unicompress.cli", "view", str(dest)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "neuroglancer viewer of" in line, proc.stderr.read() if proc.poll() is not None else line
        url = line.split(": ", 1)[1].split()[0]
        assert b"<html" in _get(url).lower()  # the neuroglancer client page
    finally:
        proc.terminate()
        proc.wait(timeout=30)

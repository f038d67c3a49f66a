"""The main job on a fresh machine: the shipped real crop, the checked download, a destination never deleted."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from zarr_unicompress import data, fetch
from zarr_unicompress.data import DataUnavailable, example_volume, load_sample_crop

REPO = Path(__file__).resolve().parents[1]


def _example():
    spec = importlib.util.spec_from_file_location("archive_em", REPO / "examples" / "archive_em.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_crop_is_real_checked_and_small():
    volume = load_sample_crop()
    assert volume.shape == (30, 256, 256) and volume.dtype == np.uint8
    asset = REPO / "zarr_unicompress" / "assets" / data.SAMPLE_ASSET
    assert asset.stat().st_size <= 2_100_000
    provenance = (REPO / "zarr_unicompress" / "assets" / "PROVENANCE.md").read_text()
    assert data.SAMPLE_SHA256 in provenance and fetch.ISBI2012_COMMIT in provenance
    try:
        full = np.asarray(data.load_em_volume("isbi2012"))
    except DataUnavailable:
        return  # the crop's digest was checked on load; the box is checked where the volume is present
    (z0, z1), (y0, y1), (x0, x1) = data.SAMPLE_BOX
    np.testing.assert_array_equal(full[z0:z1, y0:y1, x0:x1], volume)
    assert hashlib.sha256(full.tobytes()).hexdigest() == fetch.ISBI2012_SHA256


def test_auto_falls_back_to_the_crop_fast(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "search_dirs", lambda: [tmp_path])
    monkeypatch.setenv("UNICOMPRESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fetch, "ISBI2012_URL", "http://127.0.0.1:9/{index}.png")  # closed port
    start = time.perf_counter()
    volume, described = example_volume("auto")
    assert time.perf_counter() - start < 10
    assert volume.shape == (30, 256, 256) and "shipped with the package" in described and "no download" in described
    with pytest.raises(DataUnavailable):
        example_volume("local")
    monkeypatch.setenv("UNICOMPRESS_OFFLINE", "1")
    with pytest.raises(DataUnavailable, match="OFFLINE"):
        example_volume("download")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


def _serve(directory: Path):
    handler = lambda *a, **k: _Quiet(*a, directory=str(directory), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_download_checks_the_digest_and_caches(monkeypatch, tmp_path):
    pytest.importorskip("pooch")
    Image = pytest.importorskip("PIL.Image")
    stack = load_sample_crop()[:3, :64, :64]  # real EM slices served as PNGs by a local server
    (tmp_path / "www").mkdir()
    for index, plane in enumerate(stack):
        Image.fromarray(plane).save(tmp_path / "www" / f"{index}.png")
    server = _serve(tmp_path / "www")
    url = f"http://127.0.0.1:{server.server_address[1]}/{{index}}.png"
    monkeypatch.setenv("UNICOMPRESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("UNICOMPRESS_OFFLINE", raising=False)
    try:
        with pytest.raises(DataUnavailable, match="sha256"):
            fetch.fetch_isbi2012(url=url, sha256="0" * 64, shape=stack.shape)
        assert not (tmp_path / "cache" / "isbi2012_train.npy").exists()  # refused: nothing written
        good = hashlib.sha256(stack.tobytes()).hexdigest()
        path = fetch.fetch_isbi2012(url=url, sha256=good, shape=stack.shape)
    finally:
        server.shutdown()
    np.testing.assert_array_equal(np.load(path), stack)
    assert fetch.fetch_isbi2012(url=url, sha256=good, shape=stack.shape) == path  # the cache, server gone


def test_example_never_deletes_what_it_did_not_create(tmp_path, capsys):
    example = _example()
    for dest in (tmp_path / "user_dir", tmp_path / "other.zarr"):
        dest.mkdir()
        (dest / "precious.txt").write_text("keep me")
        assert example.main(["--source", "sample", "--dest", str(dest)]) == 2
        assert (dest / "precious.txt").read_text() == "keep me"
        assert sorted(p.name for p in dest.iterdir()) == ["precious.txt"]
    assert "not written by unicompress" in capsys.readouterr().err


def test_example_runs_on_the_shipped_crop_and_reuses_its_result(tmp_path, capsys):
    example = _example()
    dest = tmp_path / "crop.zarr"
    assert example.main(["--source", "sample", "--dest", str(dest), "--ratio", "20"]) == 0
    first = capsys.readouterr().out
    assert "source: the real ISBI 2012 crop" in first and '"complete": true' in first
    assert example.main(["--source", "sample", "--dest", str(dest), "--ratio", "20"]) == 0  # finished: reused
    assert "0 regions written, 1 resumed" in capsys.readouterr().out
    assert example.main(["--source", "sample", "--dest", str(dest), "--max-error", "2"]) == 2  # other settings
    assert (dest / "zarr.json").is_file()

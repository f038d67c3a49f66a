"""OME-Zarr 0.5 multiscale output: factors, the lazy block mean, validation, dask read-back, resume."""

from __future__ import annotations

import numpy as np
import pytest

from zarr_unicompress import multiscale
from zarr_unicompress.cli import array_info, main
from zarr_unicompress.errors import UnsupportedInput
from zarr_unicompress.data import load_sample_crop
from zarr_unicompress.multiscale import Downsampled, compress_multiscale, level_factors
from zarr_unicompress.pipeline import DestinationConflict


def _reference_mean(block: np.ndarray, factors: tuple[int, int, int]) -> np.ndarray:
    """Slow reference: each output voxel is the rounded mean of its block, edge voxels repeated."""
    out_shape = [-(-n // f) for n, f in zip(block.shape, factors)]
    out = np.empty(out_shape, block.dtype)
    for idx in np.ndindex(*out_shape):
        picks = [np.minimum(np.arange(i * f, i * f + f), n - 1) for i, f, n in zip(idx, factors, block.shape)]
        out[idx] = np.rint(block[np.ix_(*picks)].astype(np.float64).mean())
    return out


def test_level_factors_follow_the_voxel_size():
    assert level_factors((10, 10, 10), 3) == [(2, 2, 2)] * 2  # isotropic FIB-SEM
    assert level_factors(None, 3) == [(1, 2, 2)] * 2
    serial = level_factors((50, 4, 4), 6)  # y/x 4 -> 8 -> 16 -> 32 -> 64 nm: z halved once y/x reach ~z
    assert [f[0] for f in serial] == [1, 1, 1, 1, 2]
    assert all(f[1:] == (2, 2) for f in serial)


@pytest.mark.parametrize("factors", [(1, 2, 2), (2, 2, 2)])
def test_downsampled_regions_match_a_reference(factors):
    block = np.ascontiguousarray(load_sample_crop()[:5, :13, :11])  # odd sizes: repeated edges
    lazy = Downsampled(block, factors)
    full = _reference_mean(block, factors)
    assert lazy.shape == full.shape and lazy.dtype == block.dtype
    np.testing.assert_array_equal(lazy[tuple(slice(0, n) for n in lazy.shape)], full)
    np.testing.assert_array_equal(lazy[1:3, 2:5, 3:6], full[1:3, 2:5, 3:6])


def test_cli_writes_a_valid_ome_zarr_read_back_with_dask(tmp_path):
    v05 = pytest.importorskip("ome_zarr_models.v05.image", reason="ome-zarr-models (the [test] extra) is needed")
    import dask.array as da
    import zarr

    volume = np.ascontiguousarray(load_sample_crop()[:12, :96, :96])
    np.save(tmp_path / "vol.npy", volume)
    dest = tmp_path / "pyramid.zarr"
    args = ["compress", str(tmp_path / "vol.npy"), str(dest), "--multiscale", "--voxel-size", "10", "10", "10",
            "--chunks", "8", "32", "32", "--max-error", "2", "--quiet"]
    assert main(args) == 0
    image = v05.Image.from_zarr(zarr.open_group(str(dest), mode="r"))
    datasets = image.ome_attributes.multiscales[0].datasets
    assert [d.path for d in datasets] == ["0", "1"]  # 96 -> 48 voxels; 24 would be under MIN_LEVEL_YX
    assert datasets[1].coordinateTransformations[0].scale == [20.0, 20.0, 20.0]
    source = volume
    for k in range(2):
        if k:
            source = _reference_mean(source, (2, 2, 2))
        level = da.from_zarr(str(dest / str(k))).compute()
        assert level.shape == source.shape
        assert np.abs(level.astype(int) - source).max() <= 2
    assert main(args) == 0  # a rerun of a finished pyramid writes nothing
    info = array_info(str(dest))
    assert info["multiscale"] is True and list(info["levels"]) == ["0", "1"]
    assert [info["levels"][k]["shape"] for k in ("0", "1")] == [[12, 96, 96], [6, 48, 48]]
    assert info["levels"]["1"]["max_error"] == 2
    with pytest.raises(DestinationConflict):
        compress_multiscale(volume, dest, voxel_size=(50, 4, 4), chunks=(8, 32, 32), max_error=2, progress=False)


def test_resume_is_per_level_and_ome_metadata_comes_last(tmp_path, monkeypatch):
    import zarr

    volume = np.ascontiguousarray(load_sample_crop()[:8, :64, :64])
    dest = tmp_path / "pyramid.zarr"
    real = multiscale.compress
    calls = []

    def dies_at_level_1(source, level_dest, **kwargs):
        calls.append(level_dest.name)
        if level_dest.name == "1":
            raise KeyboardInterrupt  # a killed job
        return real(source, level_dest, **kwargs)

    monkeypatch.setattr(multiscale, "compress", dies_at_level_1)
    settings = dict(levels=2, chunks=(8, 32, 32), max_error=1, progress=False)
    with pytest.raises(KeyboardInterrupt):
        compress_multiscale(volume, dest, **settings)
    assert "ome" not in zarr.open_group(str(dest), mode="r").attrs  # no partial pyramid for readers
    monkeypatch.setattr(multiscale, "compress", real)
    summary = compress_multiscale(volume, dest, **settings)
    level0, level1 = summary.levels
    assert (level0.regions_written, level0.regions_skipped, level1.regions_written) == (0, 4, 1)
    assert "ome" in zarr.open_group(str(dest), mode="r").attrs


def test_refuses_foreign_destinations_and_v2(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    volume = np.zeros((4, 32, 32), np.uint8)
    with pytest.raises(DestinationConflict):
        compress_multiscale(volume, foreign, levels=1, max_error=1, progress=False)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    assert main(["compress", "x.npy", str(tmp_path / "a"), "--multiscale", "--zarr-format", "2"]) == 2
    assert main(["compress", "x.npy", str(tmp_path / "b"), "--voxel-size", "1", "1", "1"]) == 2


@pytest.mark.parametrize("path", ["../elsewhere", "", "a/b", 3])
def test_info_refuses_pyramid_levels_outside_the_group(tmp_path, path):
    import json

    meta = {"zarr_format": 3, "node_type": "group",
            "attributes": {"ome": {"version": "0.5", "multiscales": [{"datasets": [{"path": path}]}]}}}
    (tmp_path / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(UnsupportedInput, match="no level folders inside it"):
        array_info(str(tmp_path))

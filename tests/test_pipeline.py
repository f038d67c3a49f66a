"""The archive pipeline and CLI: threads, LocalCluster, resume after a kill, N5 input, info/decompress."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from tests.common import em_block
from zarr_unicompress.pipeline import PROGRESS_DIR, DestinationConflict, compress

BOUND = 3


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("src") / "vol.npy"
    np.save(path, em_block((12, 96, 80)))
    return path


def _assert_bounded(dest: Path, source: Path) -> np.ndarray:
    decoded = zarr.open_array(str(dest), mode="r")[:]
    original = np.load(source)
    assert decoded.shape == original.shape
    assert np.abs(decoded.astype(int) - original).max() <= BOUND
    return decoded


def test_compress_threads_sharded(tmp_path: Path, source: Path) -> None:
    summary = compress(source, tmp_path / "a.zarr", chunks=(4, 32, 32), shards=(8, 64, 64), max_error=BOUND,
                       progress=False, workers=2)
    assert summary.regions_written == 2 * 2 * 2 and summary.max_abs_error <= BOUND
    assert summary.stored_bytes > 0 and summary.psnr > 35  # tiny volume: the inline model dominates the size
    _assert_bounded(tmp_path / "a.zarr", source)
    again = compress(source, tmp_path / "a.zarr", chunks=(4, 32, 32), shards=(8, 64, 64), max_error=BOUND,
                     progress=False)
    assert again.regions_written == 0 and again.regions_skipped == 8


def test_compress_local_cluster_v2(tmp_path: Path, source: Path) -> None:
    pytest.importorskip("distributed")
    script = f"""
from zarr_unicompress.pipeline import compress
if __name__ == "__main__":
    s = compress({str(source)!r}, {str(tmp_path / 'b.zarr')!r}, chunks=(4, 32, 32), zarr_format=2,
                 max_error={BOUND}, scheduler="local-cluster", workers=2, progress=False)
    print(s.regions_written)
"""
    (tmp_path / "job.py").write_text(script)
    out = subprocess.run([sys.executable, str(tmp_path / "job.py")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == str(3 * 3 * 3)
    _assert_bounded(tmp_path / "b.zarr", source)


def test_conflicting_destination_is_refused(tmp_path: Path, source: Path) -> None:
    zarr.open_array(str(tmp_path / "other.zarr"), mode="w", shape=(2, 2), dtype="uint8")
    with pytest.raises(DestinationConflict):
        compress(source, tmp_path / "other.zarr", chunks=(4, 32, 32), progress=False)
    compress(source, tmp_path / "c.zarr", chunks=(4, 32, 32), max_error=BOUND, progress=False)
    with pytest.raises(DestinationConflict, match="max_error"):
        compress(source, tmp_path / "c.zarr", chunks=(4, 32, 32), max_error=BOUND + 1, progress=False)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "zarr_unicompress.cli", *args]


def test_resume_after_kill_equals_uninterrupted_run(tmp_path: Path) -> None:
    source = tmp_path / "big.npy"
    np.save(source, em_block((24, 256, 256)))
    args = ["compress", str(source), "", "--chunks", "2", "32", "32", "--max-error", str(BOUND),
            "--workers", "1", "--group-chunks", "1", "--quiet"]
    killed = tmp_path / "killed.zarr"
    args[2] = str(killed)
    proc = subprocess.Popen(_cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    markers = killed / PROGRESS_DIR
    deadline = time.time() + 120
    while time.time() < deadline and (not markers.is_dir() or len(list(markers.glob("*.json"))) < 20):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_done = len(list(markers.glob("*.json")))
    total = 12 * 8 * 8
    assert 0 < n_done < total, f"the job was not killed midway ({n_done} of {total} regions done)"
    resumed = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{total - n_done} regions written, {n_done} resumed" in resumed.stdout
    args[2] = str(tmp_path / "clean.zarr")
    clean = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    a = zarr.open_array(str(killed), mode="r")[:]
    b = zarr.open_array(str(tmp_path / "clean.zarr"), mode="r")[:]
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - np.load(source)).max() <= BOUND


def test_n5_source_through_tensorstore(tmp_path: Path) -> None:
    ts = pytest.importorskip("tensorstore")
    block = em_block((8, 64, 64))
    n5 = ts.open({"driver": "n5", "kvstore": {"driver": "file", "path": str(tmp_path / "vol.n5")},
                  "metadata": {"dimensions": list(block.shape), "blockSize": [4, 32, 32], "dataType": "uint8",
                               "compression": {"type": "gzip"}}}, create=True).result()
    n5.write(block).result()
    summary = compress(tmp_path / "vol.n5", tmp_path / "n5.zarr", chunks=(4, 32, 32), max_error=BOUND,
                       progress=False)
    assert summary.shape == block.shape
    decoded = zarr.open_array(str(tmp_path / "n5.zarr"), mode="r")[:]
    assert np.abs(decoded.astype(int) - block).max() <= BOUND


def test_cli_info_and_decompress(tmp_path: Path, source: Path) -> None:
    dest, out = tmp_path / "d.zarr", tmp_path / "plain.zarr"
    run = subprocess.run(_cli("compress", str(source), str(dest), "--chunks", "4", "32", "32", "--ratio", "6",
                              "--quiet"), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    info = json.loads(subprocess.run(_cli("info", str(dest)), capture_output=True, text=True, check=True).stdout)
    assert info["quality_mode"] == "ratio" and info["complete"] and len(info["model_sha256"]) == 64
    shape = np.load(source).shape
    assert sum(info["chunks_by_coder"].values()) == math.prod(-(-n // c) for n, c in zip(shape, (4, 32, 32)))
    assert all(kind in ("ratio 2D", "constant") or kind.startswith("ratio 3D") for kind in info["chunks_by_coder"])
    subprocess.run(_cli("decompress", str(dest), str(out)), capture_output=True, text=True, check=True)
    np.testing.assert_array_equal(zarr.open_array(str(out))[:], zarr.open_array(str(dest))[:])
    on_torch = tmp_path / "plain_torch.zarr"
    subprocess.run(_cli("decompress", str(dest), str(on_torch), "--decode-device", "cpu"), capture_output=True,
                   text=True, check=True)
    np.testing.assert_array_equal(zarr.open_array(str(on_torch))[:], zarr.open_array(str(out))[:])
    bad = subprocess.run(_cli("compress", str(tmp_path / "missing.npy"), str(tmp_path / "x.zarr")),
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_tiff_source_and_unknown_format(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    from zarr_unicompress.errors import UnsupportedInput
    from zarr_unicompress.sources import open_source

    block = em_block((6, 40, 50))
    tifffile.imwrite(tmp_path / "stack.tif", block)
    source = open_source(tmp_path / "stack.tif")
    assert source.shape == block.shape and source.dtype == np.uint8
    np.testing.assert_array_equal(source[1:3, 5:9], block[1:3, 5:9])
    compress(tmp_path / "stack.tif", tmp_path / "t.zarr", chunks=(4, 32, 32), max_error=BOUND, progress=False)
    assert np.abs(zarr.open_array(str(tmp_path / "t.zarr"))[:].astype(int) - block).max() <= BOUND
    (tmp_path / "data.bin").write_bytes(b"x")
    with pytest.raises(UnsupportedInput, match="cannot tell the format"):
        open_source(tmp_path / "data.bin")


def test_auto_group_chunks_follows_memory_and_workers() -> None:
    from zarr_unicompress.scheduling import auto_group_chunks

    chunk = 64 * 512 * 512  # bytes of one uint8 (64, 512, 512) chunk
    assert auto_group_chunks(chunk, 1000, workers=2, available=1 << 30) == 1  # 1 GiB: one chunk per task
    assert auto_group_chunks(chunk, 1000, workers=2, available=8 << 30) == 10  # 2 GiB per task / 192 MiB
    assert auto_group_chunks(chunk, 1000, workers=2, available=256 << 30) == 16  # capped
    assert auto_group_chunks(chunk, 12, workers=2, available=256 << 30) == 3  # two tasks per worker at least
    assert auto_group_chunks(chunk, 1000, workers=8, available=16 << 30) == 5  # 1 GiB per task
    # a GPU running the codeword search bounds the group too: 2 GiB free, 8 B per raw byte
    assert auto_group_chunks(chunk, 1000, workers=1, available=256 << 30, device_available=2 << 30) == 8
    assert auto_group_chunks(chunk, 1000, workers=2, available=8 << 30, device_available=80 << 30) == 10


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [int(info["num_threads"]) for info in threadpool_info() if info["user_api"] == "blas"]


def test_threaded_region_tasks_run_with_one_blas_thread() -> None:
    """Encoding threads each call BLAS (the codeword search): one BLAS thread per call inside
    the threaded scheduler, as distributed's workers do; the process's setting is restored."""
    from threadpoolctl import threadpool_limits

    from zarr_unicompress.scheduling import run_tasks

    with threadpool_limits(limits=2, user_api="blas"):  # a known starting point, also on 1-core machines
        before = _blas_threads()
        if not before:
            pytest.skip("numpy's BLAS is not a library threadpoolctl controls")
        inside = run_tasks(_blas_threads, [()] * 3, [1] * 3, scheduler="threads", workers=2, progress=False)
        assert inside == [[1] * len(before)] * 3
        assert _blas_threads() == before == [2] * len(before)


def test_resumed_job_keeps_its_region_shape(tmp_path: Path, source: Path) -> None:
    dest = tmp_path / "g.zarr"
    first = compress(source, dest, chunks=(4, 32, 32), group_chunks=2, max_error=BOUND, progress=False)
    assert first.regions_written == 2 * 3 * 3  # z: chunks 0-1 and 2
    array = zarr.open_array(str(dest), mode="r+")
    assert array.attrs["unicompress_region"] == [8, 32, 32]
    del array.attrs["unicompress_complete"]
    for marker in list((dest / PROGRESS_DIR).glob("0_*.json"))[:4]:
        marker.unlink()
    resumed = compress(source, dest, chunks=(4, 32, 32), group_chunks=3, max_error=BOUND, progress=False)
    assert (resumed.regions_written, resumed.regions_skipped) == (4, 14)
    _assert_bounded(dest, source)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "uint32", "int64"])
def test_region_errors_equal_the_whole_region_int64_arithmetic(dtype: str) -> None:
    from zarr_unicompress.pipeline import region_errors

    rng = np.random.default_rng(7)
    info = np.iinfo(dtype)
    lo, hi = max(int(info.min), -(2**40)), min(int(info.max), 2**40)
    block = rng.integers(lo, hi, (3, 40, 50), dtype=np.int64, endpoint=True).astype(dtype)
    back = block.copy()
    back.flat[rng.choice(block.size, 500, replace=False)] = rng.integers(lo, hi, 500, dtype=np.int64).astype(dtype)
    error = np.abs(back.astype(np.int64) - block.astype(np.int64))
    largest, squared = region_errors(block, back)
    assert largest == int(error.max()) > 0
    assert squared == pytest.approx(float((error.astype(np.float64) ** 2).sum()), rel=1e-12)
    assert region_errors(block, block) == (0, 0.0)


def test_local_cluster_workers_keep_glibc_adaptive_buffers_and_one_zarr_thread(tmp_path: Path) -> None:
    """distributed starts workers with MALLOC_TRIM_THRESHOLD_=65536, which made every buffer of
    128 KiB and up a fresh mmap (2.4x slower regions); the codec's LocalCluster leaves it out,
    keeps one BLAS thread per process and gives zarr one thread per process."""
    pytest.importorskip("distributed")
    script = """
import json, os
from distributed import Client
from zarr_unicompress.scheduling import local_cluster
def worker_environ():
    import zarr
    return {key: os.environ.get(key) for key in ("MALLOC_TRIM_THRESHOLD_", "OPENBLAS_NUM_THREADS")} | {
        "zarr_threads": zarr.config.get("threading.max_workers")}
if __name__ == "__main__":
    with local_cluster(1) as cluster, Client(cluster) as client:
        print(json.dumps(list(client.run(worker_environ).values())))
"""
    (tmp_path / "job.py").write_text(script)
    out = subprocess.run([sys.executable, str(tmp_path / "job.py")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    import json

    assert json.loads(out.stdout.strip().splitlines()[-1]) == [
        {"MALLOC_TRIM_THRESHOLD_": None, "OPENBLAS_NUM_THREADS": "1", "zarr_threads": 1}]

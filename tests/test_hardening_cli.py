"""The command line's bad-input paths: one line on stderr, a non-zero exit, no half-made destination."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zarr_unicompress import scheduling
from zarr_unicompress.cli import main


@pytest.fixture()
def vol(tmp_path: Path) -> Path:
    path = tmp_path / "vol.npy"
    np.save(path, (np.arange(12 * 40 * 40) % 251).astype("uint8").reshape(12, 40, 40))
    return path


def _fails_in_one_line(capsys: pytest.CaptureFixture, argv: list[str], *words: str) -> str:
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    err = capsys.readouterr().err.strip()
    assert rc not in (0, None), err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


BAD_COMPRESS = [
    (["--chunks", "0", "512", "512"], "--chunks"),
    (["--chunks", "-4", "8", "8"], "--chunks"),
    (["--chunks", "4", "x", "8"], "--chunks"),
    (["--ratio", "inf"], "--ratio"),
    (["--ratio", "nan"], "--ratio"),
    (["--ratio", "1"], "--ratio"),
    (["--max-error", "-1"], "--max-error"),
    (["--max-error", "2", "--model", "missing.ucmw"], "not found"),
    (["--max-error", "2", "--shards", "6", "20", "20", "--chunks", "4", "20", "20"], "multiples"),
    (["--max-error", "2", "--shards", "8", "40", "40", "--zarr-format", "2"], "zarr_format=3"),
    (["--max-error", "2", "--workers", "0"], "--workers"),
]


@pytest.mark.parametrize("extra,word", BAD_COMPRESS, ids=[" ".join(e) for e, _ in BAD_COMPRESS])
def test_bad_compress_arguments(capsys, tmp_path: Path, vol: Path, extra: list[str], word: str) -> None:
    dest = tmp_path / "dest.zarr"
    _fails_in_one_line(capsys, ["compress", str(vol), str(dest), "--quiet", *extra], word)
    assert not dest.exists()


def test_model_that_is_not_a_model_file(capsys, tmp_path: Path, vol: Path) -> None:
    dest = tmp_path / "dest.zarr"
    _fails_in_one_line(capsys, ["compress", str(vol), str(dest), "--max-error", "2", "--model", str(vol)],
                       "not a UniCompress model file")
    assert not dest.exists()


def test_cuda_device_without_cuda(capsys, tmp_path: Path, vol: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    dest = tmp_path / "dest.zarr"
    _fails_in_one_line(capsys, ["compress", str(vol), str(dest), "--max-error", "2", "--device", "cuda"], "CUDA")
    assert not dest.exists()


def test_unreachable_scheduler(capsys, tmp_path: Path, vol: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduling, "SCHEDULER_TIMEOUT_S", 1)
    dest = tmp_path / "dest.zarr"
    _fails_in_one_line(capsys, ["compress", str(vol), str(dest), "--max-error", "2", "--scheduler",
                                "tcp://127.0.0.1:1"], "scheduler", "--scheduler")
    assert not dest.exists()


def test_float_source_leaves_no_destination(capsys, tmp_path: Path) -> None:
    src = tmp_path / "float.npy"
    np.save(src, np.zeros((4, 16, 16), np.float32))
    for fmt in ("2", "3"):
        dest = tmp_path / f"dest{fmt}.zarr"
        _fails_in_one_line(capsys, ["compress", str(src), str(dest), "--max-error", "2", "--zarr-format", fmt,
                                    "--quiet"], "float32")
        assert not dest.exists()


def test_chunks_clipped_to_the_volume_keep_the_users_shards(capsys, tmp_path: Path, vol: Path) -> None:
    """(64, 32, 32) chunks on a 12-slice volume with (128, 64, 64) shards: accepted (the shard
    along z is clipped with the chunk), where the error named a chunk shape never given."""
    dest = tmp_path / "dest.zarr"
    assert main(["compress", str(vol), str(dest), "--max-error", "2", "--chunks", "64", "32", "32",
                 "--shards", "128", "64", "64", "--quiet"]) == 0
    import zarr

    arr = zarr.open_array(str(dest), mode="r")
    assert arr.chunks == (12, 32, 32) and arr.shards == (12, 64, 64)


def test_job_stopped_before_its_array_resumes(capsys, tmp_path: Path, vol: Path) -> None:
    from zarr_unicompress.pipeline import PROGRESS_DIR

    dest = tmp_path / "dest.zarr"
    (dest / PROGRESS_DIR).mkdir(parents=True)  # killed after the progress folder, before the array
    assert main(["compress", str(vol), str(dest), "--max-error", "2", "--quiet"]) == 0


def test_foreign_destination_is_refused_and_kept(capsys, tmp_path: Path, vol: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "mine.txt").write_text("user data")
    _fails_in_one_line(capsys, ["compress", str(vol), str(dest), "--max-error", "2"], "not written by unicompress")
    assert (dest / "mine.txt").read_text() == "user data"


@pytest.mark.parametrize("command", ["info", "decompress"])
def test_info_and_decompress_on_missing_or_foreign_paths(capsys, tmp_path: Path, vol: Path, command: str) -> None:
    extra = [str(tmp_path / "out.zarr")] if command == "decompress" else []
    _fails_in_one_line(capsys, [command, str(tmp_path / "missing.zarr"), *extra], "does not exist")
    _fails_in_one_line(capsys, [command, str(vol), *extra], "not a Zarr array")
    assert not (tmp_path / "out.zarr").exists()


def test_decompress_never_overwrites(capsys, tmp_path: Path, vol: Path) -> None:
    dest = tmp_path / "dest.zarr"
    assert main(["compress", str(vol), str(dest), "--max-error", "2", "--quiet"]) == 0
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    _fails_in_one_line(capsys, ["decompress", str(dest), str(out)], "exists")
    assert (out / "keep.txt").read_text() == "x"
    assert main(["decompress", str(dest), str(tmp_path / "plain.zarr")]) == 0
    assert not list(tmp_path.glob(".*partial*"))


def test_failed_creation_removes_only_what_it_made(tmp_path: Path, vol: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zarr

    from zarr_unicompress.pipeline import compress

    def broken(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(zarr, "create_array", broken)
    dest = tmp_path / "dest.zarr"
    with pytest.raises(OSError, match="no space"):
        compress(str(vol), dest, max_error=2, progress=False)
    assert not dest.exists()  # made by that call, half made: removed; a rerun starts clean

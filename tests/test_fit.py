"""Training: architecture sizes, losses going down, blobs that the runtime loads, teacher reuse."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.common import em_block  # noqa: E402
from zarr_unicompress.model.export import student_from_blob, teacher_from_blob  # noqa: E402
from zarr_unicompress.model.networks import (  # noqa: E402
    StudentConfig, StudentNet, TeacherConfig, TeacherNet, count_parameters)
from zarr_unicompress.runtime.inr.model import load_model  # noqa: E402
from zarr_unicompress.training import fit  # noqa: E402


def test_student_has_about_half_the_teacher_parameters() -> None:
    teacher = TeacherNet(TeacherConfig())
    student = StudentNet(StudentConfig.for_teacher(teacher.config))
    ratio = count_parameters(student) / count_parameters(teacher)
    assert 0.4 <= ratio <= 0.6, ratio


def test_tiny_fit_learns_and_exports(tiny_fitted) -> None:
    hist = tiny_fitted.history
    assert np.mean(hist["teacher_mse"][-5:]) < np.mean(hist["teacher_mse"][:5])
    assert np.isfinite(hist["student_mse"]).all()
    runtime = load_model(tiny_fitted.blob)
    assert runtime.digest == tiny_fitted.digest and runtime.codebook_size == 256
    student = student_from_blob(tiny_fitted.blob)
    teacher = teacher_from_blob(tiny_fitted.teacher_blob)
    assert count_parameters(student) < count_parameters(teacher)


def test_fit_from_default_teacher_and_zarr_input(tmp_path) -> None:
    import zarr

    block = em_block((8, 64, 64))
    z = zarr.open(str(tmp_path / "src.zarr"), mode="w", shape=block.shape, chunks=(8, 32, 32), dtype="uint8")
    z[:] = block
    model = fit(z, chunks=(8, 32, 32), teacher="default", teacher_steps=5, student_steps=5, batch_tokens=64,
                progress=False)
    assert load_model(model.blob).digest == model.digest


def test_fit_refuses_bad_input() -> None:
    from zarr_unicompress.errors import UnsupportedInput

    with pytest.raises(UnsupportedInput):
        fit(np.zeros((4, 16, 16), np.float32), chunks=(4, 16, 16), teacher_steps=1, student_steps=1,
            progress=False)
    with pytest.raises(TypeError, match="unknown fit settings"):
        fit(em_block((4, 16, 16)), chunks=(4, 16, 16), no_such_setting=1)


def _record_threads(monkeypatch, error: Exception | None = None) -> list[int]:
    """Replace the training loop by a probe of torch's thread count; returns what it saw."""
    import zarr_unicompress.training as training

    seen: list[int] = []

    def probe(*args, **kwargs):
        seen.append(torch.get_num_threads())
        if error is not None:
            raise error
        return "fitted"

    monkeypatch.setattr(training, "_fit", probe)
    return seen


def test_fit_uses_the_cores_it_may_run_on_and_restores_threads(monkeypatch) -> None:
    import zarr_unicompress.training as training

    before = torch.get_num_threads()
    seen = _record_threads(monkeypatch)
    monkeypatch.setattr(training.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    monkeypatch.setattr(training.os, "getloadavg", lambda: (0.4, 0.0, 0.0))  # idle
    monkeypatch.setattr(training.Path, "read_text", lambda self: "max 100000")  # no cgroup quota
    assert training.usable_cores() == 3
    assert fit(np.zeros((1, 1, 1), np.uint8)) == "fitted"
    assert fit(np.zeros((1, 1, 1), np.uint8), threads=1) == "fitted"
    monkeypatch.setattr(training.os, "getloadavg", lambda: (1.7, 0.0, 0.0))  # one core kept busy elsewhere
    assert fit(np.zeros((1, 1, 1), np.uint8)) == "fitted"
    monkeypatch.setattr(training.os, "getloadavg", lambda: (13.0, 0.0, 0.0))
    assert fit(np.zeros((1, 1, 1), np.uint8)) == "fitted"
    monkeypatch.setattr(training.Path, "read_text", lambda self: "150000 100000")  # 1.5 CPUs
    assert training.usable_cores() == 2
    assert seen == [3, 1, 2, 1] and torch.get_num_threads() == before


def test_fit_restores_threads_when_it_fails(monkeypatch) -> None:
    before = torch.get_num_threads()
    seen = _record_threads(monkeypatch, error=RuntimeError("boom"))
    with pytest.raises(RuntimeError):
        fit(np.zeros((1, 1, 1), np.uint8), threads=before + 1)
    assert seen == [before + 1] and torch.get_num_threads() == before

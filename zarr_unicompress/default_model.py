"""The default EM model shipped with the package (trained on ISBI 2012, see README)."""

from __future__ import annotations

from importlib import resources

STUDENT_ASSET = "default_em_student.ucmw"
TEACHER_ASSET = "default_em_teacher.ucmw"


def _read(name: str) -> bytes:
    path = resources.files("zarr_unicompress") / "assets" / name
    if not path.is_file():
        raise FileNotFoundError(
            f"the default model asset {name} is missing from the installed package; reinstall "
            "zarr-unicompress or pass model=fit(...) explicitly"
        )
    return path.read_bytes()


def default_student_blob() -> bytes:
    """Blob of the default EM student (what ``UniCompress()`` stores in the array metadata)."""
    return _read(STUDENT_ASSET)


def default_teacher_blob() -> bytes:
    """Blob of the default EM teacher (the starting point of ``fit(..., teacher="default")``)."""
    return _read(TEACHER_ASSET)

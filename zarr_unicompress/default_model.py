"""The default EM model shipped with the package (trained on ISBI 2012, see README)."""

from __future__ import annotations

from importlib import resources

STUDENT_ASSET = "default_em_student.ucmw"
TEACHER_ASSET = "default_em_teacher.ucmw"
#: the error-bounded coder's default predictor model (examples/train_default_predictors.py,
#: fitted on both ISBI 2012 and the FlyEM FIB-SEM volume).
PREDICTORS_ASSET = "default_em_predictors.ucpm"


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


def default_predictors_blob() -> bytes:
    """Bytes of the default predictor model (:class:`~.runtime.predict.model.PredictorModel`)
    of the error-bounded coder, for arrays whose model has none of its own."""
    return _read(PREDICTORS_ASSET)


#: the ratio mode's default context tables (examples/train_default_ratio_tables.py, fitted on
#: both ISBI 2012 and the FlyEM FIB-SEM volume).
RATIO_TABLES_ASSET = "default_em_ratio_tables.ucrt"


def default_ratio_tables_blob() -> bytes:
    """Bytes of the default ratio-mode context tables
    (:class:`~.runtime.entropy.context_tables.ContextTables`), for arrays whose model has none."""
    return _read(RATIO_TABLES_ASSET)

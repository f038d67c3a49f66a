from __future__ import annotations

import pytest

from numcodecs_ext.unicompress import model_blob
from zarr_unicompress.runtime.inr.model import RuntimeModel, load_model


@pytest.fixture(scope="session")
def default_model() -> RuntimeModel:
    """The default EM student shipped with the package."""
    return load_model(model_blob(None))


@pytest.fixture(scope="session")
def tiny_fitted():
    """A model fitted for a few steps on a small real EM block (a FittedModel)."""
    from tests.common import em_block
    from zarr_unicompress.training import fit

    block = em_block((8, 64, 64))
    return fit(block, chunks=(8, 32, 32), teacher_steps=30, student_steps=30, batch_tokens=128,
               progress=False)


@pytest.fixture(scope="session")
def tiny_model(tiny_fitted) -> RuntimeModel:
    return load_model(tiny_fitted.blob)

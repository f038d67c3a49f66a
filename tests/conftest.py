from __future__ import annotations

import pytest

from numcodecs_ext.unicompress import model_blob
from zarr_unicompress.runtime.model import RuntimeModel, load_model


@pytest.fixture(scope="session")
def default_model() -> RuntimeModel:
    """The default EM student shipped with the package."""
    return load_model(model_blob(None))

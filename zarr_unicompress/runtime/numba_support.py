"""Whether the runtime's compiled loops (:mod:`.lifting_loops`, :mod:`.block_loops`,
:mod:`.quantize_loops`, :mod:`.table_loops`, :mod:`.voxel_loops`, :mod:`.rans_loops`) run.

numba is a dependency, but the runtime also works without it: where numba is installed the
wavelet transform, the cut into zero blocks, the quantiser's coded blocks and size estimates,
the frequency tables, the voxel reconstruction of indices-only and ``max_error`` chunks and
the rANS entropy coder run as compiled loops with the same results as their NumPy code (the
rANS loops: as plain Python, about 100x slower); without it (or with the environment variable
``UNICOMPRESS_NUMBA=0``, read once per process) the NumPy and Python code runs. Nothing else
changes: the same streams, the same decoded voxels, only the time.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
import warnings
from types import ModuleType

#: environment variable that turns the compiled loops off when set to "0".
ENV_SWITCH = "UNICOMPRESS_NUMBA"


@functools.lru_cache(maxsize=1)
def enabled() -> bool:
    """Whether numba is installed and not turned off by ``UNICOMPRESS_NUMBA=0``."""
    return os.environ.get(ENV_SWITCH, "1").strip() != "0" and importlib.util.find_spec("numba") is not None


@functools.cache
def loops(name: str) -> ModuleType | None:
    """The runtime module of compiled loops ``name`` (e.g. ``"lifting_loops"``), imported on
    first use, or None where the loops are not :func:`enabled` or the module does not import
    (a warning says so once and the NumPy code runs).

    numba compiles each loop on its first call in a process that finds no cached copy (about 5
    s for all of them) and keeps it in its on-disk cache (next to the module, else in the
    user's cache directory): later processes load them in about 0.5 s. Where numba finds no
    writable cache directory (it then refuses ``cache=True``: read-only installs without a
    writable home), the loops are compiled into a temporary directory of this process instead
    (compiled again in each such process) rather than left to the NumPy code, whose rANS
    coder is about 100x slower; set ``NUMBA_CACHE_DIR`` to keep them. The answer is kept per
    process (a module that failed is not imported again)."""
    if not enabled():
        return None
    module = f"{__package__}.{name}"
    try:
        return importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any failure to set numba up means: run the NumPy code
        failure = exc
    # numba: "cannot cache function ...: no locator available for file ..."
    if "no locator available" in str(failure) and _use_a_private_cache_directory():
        try:
            return importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001
            failure = exc
    _warn(name, failure)
    return None


@functools.cache
def _use_a_private_cache_directory() -> bool:
    """Point numba's cache at a new temporary directory of this process (once; also over a
    ``NUMBA_CACHE_DIR`` that did not work); False where numba does not import."""
    try:
        from numba.core import config
    except Exception:  # noqa: BLE001
        return False
    config.CACHE_DIR = tempfile.mkdtemp(prefix="zarr-unicompress-numba-")
    return True


def _warn(name: str, exc: Exception) -> None:
    warnings.warn(f"zarr_unicompress runs its NumPy code instead of the compiled loops {name!r}: {exc!r} "
                  f"(much slower, the rANS entropy coder most; {ENV_SWITCH}=0 silences this)",
                  RuntimeWarning, stacklevel=4)

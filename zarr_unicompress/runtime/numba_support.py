"""Whether the runtime's compiled loops (:mod:`.transform.lifting_loops`,
:mod:`.transform.block_loops`, :mod:`.transform.synthesis_loops`, :mod:`.quantize.quantize_loops`,
:mod:`.quantize.voxel_loops`, :mod:`.entropy.estimate_loops`, :mod:`.entropy.table_loops`,
:mod:`.entropy.rans_loops`) run; :func:`loops` takes their names relative to the runtime
(``"transform.lifting_loops"``).

numba is a dependency, but the runtime also works without it: where numba is installed the
wavelet transform, the cut into zero blocks, the quantiser's coded blocks and size estimates,
the frequency tables, the voxel reconstruction of indices-only and ``max_error`` chunks, the
reconstruction of ratio-mode chunks and the rANS entropy coder run as compiled loops with the
same results as their NumPy code (the rANS loops: as plain Python, about 100x slower);
without it (or with the environment variable ``UNICOMPRESS_NUMBA=0``, read once per process)
the NumPy and Python code runs. Nothing else changes: the same streams, the same decoded
voxels, only the time.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import stat
import tempfile
import threading
import warnings
from collections.abc import Callable
from types import FunctionType, ModuleType
from typing import Any

#: environment variable that turns the compiled loops off when set to "0".
ENV_SWITCH = "UNICOMPRESS_NUMBA"


@functools.lru_cache(maxsize=1)
def enabled() -> bool:
    """Whether numba is installed and not turned off by ``UNICOMPRESS_NUMBA=0``."""
    return os.environ.get(ENV_SWITCH, "1").strip() != "0" and importlib.util.find_spec("numba") is not None


@functools.cache
def loops(name: str) -> ModuleType | None:
    """The runtime module of compiled loops ``name`` (e.g. ``"transform.lifting_loops"``), imported on
    first use, or None where the loops are not :func:`enabled` or the module does not import
    (a warning says so once and the NumPy code runs).

    numba compiles each loop on its first call in a process that finds no cached copy (about 5
    s for all of them) and keeps it in its on-disk cache (next to the module, else in the
    user's cache directory): later processes load them in about 0.5 s. Where numba finds no
    writable cache directory (it then refuses ``cache=True``: read-only installs without a
    writable home), the loops are cached in a directory of this user under the system's
    temporary directory (created 0700; not used where someone else owns it or may write to it,
    since numba loads code from there) rather than left to the NumPy code, whose rANS coder is
    about 100x slower; numba's own cache setting is restored after that import. The answer
    is kept per process (a module that failed is not imported again)."""
    if not enabled():
        return None
    module = f"{__package__}.{name}"
    try:
        return importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any failure to set numba up means: run the NumPy code
        failure = exc
    # numba: "cannot cache function ...: no locator available for file ..."
    if "no locator available" in str(failure) and (directory := _private_cache_directory()) is not None:
        from numba.core import config
        with _private_cache_lock:
            saved = config.CACHE_DIR
            config.CACHE_DIR = directory  # numba picks a function's cache locator when it is decorated
            try:
                return importlib.import_module(module)
            except Exception as exc:  # noqa: BLE001
                failure = exc
            finally:
                config.CACHE_DIR = saved  # other code's cache=True functions keep their own locations
    _warn(name, failure)
    return None


def compiled_copy(jit: Callable[[FunctionType], Any], function: FunctionType, **names: object) -> Any:
    """``function`` compiled by ``jit`` as a copy whose globals ``names`` replace those of its
    module (a compiled helper for a plain one, numpy.uint64 for int): the plain module stays
    plain Python. numba's cache is keyed to the function's source file, not to these globals:
    a change to them alone must also touch that file (or clear the cache), else the old build
    is loaded."""
    return jit(FunctionType(function.__code__, {**function.__globals__, **names}, function.__name__,
                            function.__defaults__))


#: one private-cache import at a time (config.CACHE_DIR is process-global)
_private_cache_lock = threading.Lock()


@functools.cache
def _private_cache_directory() -> str | None:
    """A cache directory of this user that persists across processes (0700, owned by us), or
    None where numba does not import or no such directory can be had."""
    try:
        import numba.core.config  # noqa: F401
    except Exception:  # noqa: BLE001
        return None
    if not hasattr(os, "getuid"):  # no owner to check (Windows): a directory of this process
        return tempfile.mkdtemp(prefix="zarr-unicompress-numba-")
    path = os.path.join(tempfile.gettempdir(), f"zarr-unicompress-numba-{os.getuid()}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None  # someone else's directory: its cached code must not be loaded
    return path


def _warn(name: str, exc: Exception) -> None:
    warnings.warn(f"zarr_unicompress runs its NumPy code instead of the compiled loops {name!r}: {exc!r} "
                  f"(much slower, the rANS entropy coder most; {ENV_SWITCH}=0 silences this)",
                  RuntimeWarning, stacklevel=4)

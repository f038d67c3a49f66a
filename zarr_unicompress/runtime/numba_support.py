"""The runtime's loops (:mod:`.transform.lifting_loops`, :mod:`.transform.block_loops`,
:mod:`.transform.synthesis_loops`, :mod:`.transform.zlift_loops`, :mod:`.quantize.quantize_loops`,
:mod:`.quantize.voxel_loops`, :mod:`.entropy.estimate_loops`, :mod:`.entropy.table_loops`,
:mod:`.entropy.rans_loops`, :mod:`.predict.loops`), compiled by numba or run as plain Python;
:func:`loops` takes their names relative to the runtime (``"transform.lifting_loops"``).

Each kernel has one implementation, its loop. numba is a dependency and compiles them. Where
numba is not installed, fails to set a module up, or is turned off by the environment variable
``UNICOMPRESS_NUMBA=0`` (read once per process), :func:`jit` leaves each loop a plain Python
function and the same loops run uncompiled: the same streams and decoded voxels, 100-300x
slower (a (30, 512, 512) chunk then takes minutes to decode and over half an hour to encode at
a ratio; docs/performance.md has the figures). That mode is for debugging and for platforms
without numba, not for production use. The tests compare the loops with slow, obvious NumPy
references kept under ``tests/reference/``.
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


def jit(**options: Any) -> Callable[[FunctionType], Any]:
    """The decorator of the loops: ``numba.njit(**options)`` where they compile (:func:`enabled`,
    and not while :func:`loops` imports a module again after numba failed on it), else one
    that returns the function itself (plain Python). A loop module imported directly is
    decided the same way."""
    def decorate(function: FunctionType) -> Any:
        if not compiling():
            return function
        import numba
        return numba.njit(**options)(function)
    return decorate


def compiling() -> bool:
    """Whether :func:`jit` compiles (in this thread, now)."""
    return enabled() and not _plain_import.active


def compiled_copy(jit: Callable[[FunctionType], Any], function: FunctionType, **names: object) -> Any:
    """``function`` compiled by ``jit`` as a copy whose globals ``names`` replace those of its
    module (a compiled helper for a plain one, numpy.uint64 for int): the plain module stays
    plain Python. Where the loops run plain (:func:`compiling` is False), ``function`` itself.
    numba's cache is keyed to the function's source file, not to these globals: a change to
    them alone must also touch that file (or clear the cache), else the old build is loaded."""
    if not compiling():
        return function
    return jit(FunctionType(function.__code__, {**function.__globals__, **names}, function.__name__,
                            function.__defaults__))


@functools.cache
def loops(name: str) -> ModuleType:
    """The runtime module of loops ``name`` (e.g. ``"transform.lifting_loops"``), imported on
    first use: compiled where :func:`enabled`, else plain Python (see the module docstring).
    Where numba fails to set the module up, a warning says so once and the module is imported
    again with its loops plain (sibling loop modules that did compile stay compiled: numba's
    functions are called from Python as they are).

    numba compiles each loop on its first call in a process that finds no cached copy (about 5
    s for all of them) and keeps it in its on-disk cache (next to the module, else in the
    user's cache directory): later processes load them in about 0.5 s. Where numba finds no
    writable cache directory (it then refuses ``cache=True``: read-only installs without a
    writable home), the loops are cached in a directory of this user under the system's
    temporary directory (created 0700; not used where someone else owns it or may write to it,
    since numba loads code from there) rather than left to plain Python; numba's own cache
    setting is restored after that import. The answer is kept per process."""
    module = f"{__package__}.{name}"
    if not enabled():
        return importlib.import_module(module)
    try:
        return importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any failure to set numba up means: run the loops plain
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
    _plain_import.active = True
    try:
        return importlib.import_module(module)
    finally:
        _plain_import.active = False


class _PlainImport(threading.local):
    """Whether this thread imports a loop module plain after numba failed on it."""

    active = False


_plain_import = _PlainImport()

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
    warnings.warn(f"zarr_unicompress runs its loops {name!r} as plain Python instead of compiled: {exc!r} "
                  f"(100-300x slower; {ENV_SWITCH}=0 silences this)",
                  RuntimeWarning, stacklevel=4)

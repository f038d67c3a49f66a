"""Slow, obvious NumPy references of the runtime's compiled loops (``runtime/*/*_loops.py``):
the package holds one implementation of each kernel, its loop; the tests compare the loops
(compiled, and on tiny inputs as plain Python) with these. Not imported by the package."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from zarr_unicompress.runtime import numba_support

#: the runtime's loop modules, relative to the runtime (as :func:`.numba_support.loops` takes them).
LOOP_MODULES = ("transform.block_loops", "transform.lifting_loops", "transform.synthesis_loops",
                "transform.zlift_loops", "quantize.quantize_loops", "quantize.voxel_loops", "entropy.rans_loops",
                "entropy.table_loops", "entropy.estimate_loops", "entropy.context_loops", "predict.loops",
                "predict.fast_loops")


@contextmanager
def plain_loops() -> Iterator[dict[str, object]]:
    """Within the block, the runtime runs its loops as plain Python, as it does with
    ``UNICOMPRESS_NUMBA=0`` or without numba: each loop module is imported once more with
    :func:`.numba_support.jit` leaving its functions plain (the compiled modules are put back
    in ``sys.modules`` afterwards). Yields the plain modules by name. Plain loops are slow:
    tiny inputs only."""
    plain = _plain_modules()
    original = numba_support.loops
    numba_support.loops = plain.__getitem__  # type: ignore[assignment]
    try:
        yield plain
    finally:
        numba_support.loops = original  # type: ignore[assignment]


_plain: dict[str, object] = {}


def _plain_modules() -> dict[str, object]:
    """The loop modules imported plain (once per process)."""
    if not _plain:
        runtime = "zarr_unicompress.runtime."
        names = [runtime + name for name in LOOP_MODULES]
        saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
        numba_support._plain_import.active = True
        try:
            _plain.update({name: importlib.import_module(runtime + name) for name in LOOP_MODULES})
        finally:
            numba_support._plain_import.active = False
            for name in names:
                sys.modules.pop(name, None)
            sys.modules.update(saved)
    return _plain

"""zarr-unicompress: a lossy neural codec (UniCompress) for chunked EM volumes in Zarr.

``UniCompress`` is the numcodecs codec (Zarr v2 ``compressor=``); ``UniCompressCodec`` the
Zarr v3 array-to-bytes codec (``serializer=``); ``fit`` trains the shared model of an array
(imports torch lazily: torch is the optional extra ``zarr-unicompress[fit]``; without it
``fit`` raises :class:`FitUnavailable`, and everything else works).
"""

from __future__ import annotations

from typing import Any

from .errors import ChunkCorrupt, FitUnavailable, ModelCorrupt, ModelMismatch, UniCompressError, UnsupportedInput

__all__ = ["UniCompress", "UniCompressCodec", "fit", "FitSettings", "FittedModel", "UniCompressError",
           "ChunkCorrupt", "ModelCorrupt", "ModelMismatch", "UnsupportedInput", "FitUnavailable"]
__version__ = "0.6.0"


def __getattr__(name: str) -> Any:
    # Lazy: numcodecs_ext imports zarr_unicompress submodules, so an eager import here would
    # be circular; torch is only imported when fit() is asked for.
    if name == "UniCompress":
        from numcodecs_ext.unicompress import UniCompress

        return UniCompress
    if name in ("fit", "FitSettings", "FittedModel"):
        from . import training as fit_module

        return getattr(fit_module, name)
    if name == "UniCompressCodec":
        from .zarr3 import UniCompressCodec

        return UniCompressCodec
    raise AttributeError(name)

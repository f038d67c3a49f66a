"""Exceptions raised by zarr-unicompress.

Every error a user can trigger with bad input is a ``ValueError`` subclass whose
message says what was wrong and what to do about it.
"""

from __future__ import annotations


class UniCompressError(ValueError):
    """Base class of every error raised for bad input or bad data."""


class ChunkCorrupt(UniCompressError):
    """A compressed chunk is truncated, damaged or not a UniCompress stream."""


class ModelMismatch(UniCompressError):
    """A chunk was encoded with another model than the one in the array's codec config."""


class ModelCorrupt(UniCompressError):
    """The model blob in a codec config is malformed, oversized or fails its digest."""


class UnsupportedInput(UniCompressError):
    """The array handed to the codec has a dtype, shape or values the codec cannot encode."""


#: what to install for fitting (the CPU wheel avoids the multi-GB CUDA build on Linux).
FIT_INSTALL_HINT = ("fitting a model needs torch: pip install 'zarr-unicompress[fit]' (on Linux without a "
                    "GPU, first: pip install torch --index-url https://download.pytorch.org/whl/cpu); "
                    "encoding and decoding with a given model (--model default or a .ucmw file) need no torch")


class FitUnavailable(UniCompressError, ImportError):
    """``fit()`` (or ``--model fit``) was asked for but torch is not installed; says what to install.

    Also an ``ImportError``, so ``except ImportError`` around an optional fit keeps working."""


class ConfigInvalid(UnsupportedInput):
    """A codec configuration has an unknown key or a value of the wrong type or range."""

"""Type and range checks of the ``unicompress`` codec's parameters and config keys.

A config may come from an untrusted store: each value is checked for its type (a bool is not
an integer here) and range at construction, and an unknown key is refused, each with a
:class:`~zarr_unicompress.errors.ConfigInvalid` that names the key and what it must be.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

from zarr_unicompress.errors import ConfigInvalid

#: default cap on the bytes one chunk may decode to (numcodecs / Zarr v2 path): 1 GiB, 64 times
#: a (64, 512, 512) uint8 EM chunk. A chunk that declares more is refused before anything is
#: allocated. Decoding takes a few times the chunk's bytes at its peak (int32 work arrays,
#: float32 for ratio-mode chunks).
DEFAULT_MAX_DECODED_BYTES = 2**30
#: the largest cap accepted: 2**31 voxels of int16 (the largest chunk the format can declare).
MAX_DECODED_BYTES_LIMIT = 2**32
#: the keys a ``unicompress`` config may hold.
CONFIG_KEYS = ("id", "model", "model_sha256", "max_error", "ratio", "index_search", "max_decoded_bytes")
INDEX_SEARCH_MODES = ("table", "encoder")


def check_keys(config: dict[str, Any]) -> None:
    """Refuse keys a ``unicompress`` config does not have."""
    unknown = sorted(str(k) for k in config if k not in CONFIG_KEYS)
    if unknown:
        raise ConfigInvalid(f"unicompress config has unknown keys {unknown}; the keys are {list(CONFIG_KEYS)} "
                            "(a newer zarr-unicompress may have written it: upgrade, or fix the metadata)")


def check_max_error(value: Any) -> int | None:
    """``max_error``: None or an integer in 0..2**31-1 (intensity units); not a bool."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= int(value) < 2**31:
        raise ConfigInvalid(f"max_error must be None or an integer in 0..2**31-1 (intensity units), got {value!r}")
    return int(value)


def check_ratio(value: Any) -> float | None:
    """``ratio``: None or a finite number > 1; not a bool."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real) or not (math.isfinite(value) and value > 1):
        raise ConfigInvalid(f"ratio must be None or a finite number > 1 (raw bytes / stored bytes), got {value!r}")
    return float(value) if not isinstance(value, Integral) else int(value)


def check_index_search(value: Any) -> str:
    if not isinstance(value, str) or value not in INDEX_SEARCH_MODES:
        raise ConfigInvalid(f"index_search must be one of {INDEX_SEARCH_MODES}, got {value!r}")
    return value


def check_max_decoded_bytes(value: Any) -> int:
    """``max_decoded_bytes``: an integer in 1..2**32 (bytes); not a bool."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not 1 <= int(value) <= MAX_DECODED_BYTES_LIMIT:
        raise ConfigInvalid(f"max_decoded_bytes must be an integer in 1..{MAX_DECODED_BYTES_LIMIT} (bytes), "
                            f"got {value!r}")
    return int(value)

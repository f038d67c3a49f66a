"""Where ratio-mode chunks are reconstructed: on the CPU by the runtime's loops (default) or on
a torch device.

Zarr calls the codec without extra arguments, so the choice is process-wide:
:func:`set_decode_device` in the process that decodes (dask's threads run there), or the
environment variable ``UNICOMPRESS_DECODE_DEVICE`` for processes started elsewhere (dask
workers), read once at the first decode. This module imports torch only to check a device.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from ...errors import UnsupportedInput
from .torch_devices import checked_torch_device

if TYPE_CHECKING:
    import torch

#: environment variable that names the decode device of a process from its start.
DECODE_DEVICE_ENV = "UNICOMPRESS_DECODE_DEVICE"

_device: str | None = None
_env_read = False
_lock = threading.Lock()


def set_decode_device(device: str | None) -> None:
    """Reconstruct the ratio-mode chunks that :func:`.chunk_codec.decode_chunk` decodes (so also
    the codec's ``decode``) on the torch ``device`` ("cuda", "cuda:N", "cpu"), or in NumPy for
    None (the default). A CUDA device must not be used in a process forked after it was
    (CUDA's rule): start worker processes with "spawn" or a fresh interpreter.

    Raises :class:`UnsupportedInput` where torch is missing or does not know the device.
    """
    global _device, _env_read
    parsed = None if device is None else str(torch_device(device))
    with _lock:
        _device, _env_read = parsed, True


def decode_device() -> str | None:
    """The device set by :func:`set_decode_device`, else the one that ``UNICOMPRESS_DECODE_DEVICE``
    names (read once per process; empty or unset: None, i.e. NumPy).

    Raises :class:`UnsupportedInput` where that variable names a device that cannot be used."""
    global _device, _env_read
    if not _env_read:
        with _lock:
            if not _env_read:
                name = os.environ.get(DECODE_DEVICE_ENV, "").strip()
                try:
                    _device = str(torch_device(name)) if name else None
                except UnsupportedInput as exc:
                    raise UnsupportedInput(f"{DECODE_DEVICE_ENV}={name!r}: {exc}") from None
                _env_read = True
    return _device


def torch_device(device: str) -> torch.device:
    """The checked torch device of a decode device name (:func:`.torch_devices.checked_torch_device`)."""
    return checked_torch_device(device, "decode device")

"""Checking a torch device named by the user (for the codeword search and the decode device)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import UnsupportedInput

if TYPE_CHECKING:
    import torch


def checked_torch_device(device: str, purpose: str) -> torch.device:
    """``torch.device(device)`` for ``purpose`` (e.g. "decode device", named in errors), checked:
    torch installed, the type "cpu" or "cuda", and the CUDA device present where asked for.

    Raises :class:`UnsupportedInput` otherwise."""
    try:
        import torch
    except ImportError:
        raise UnsupportedInput(f"{purpose} {device!r} needs torch; install it or leave the device unset "
                               "(NumPy)") from None
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise UnsupportedInput(f"unknown {purpose} {device!r}: {exc}") from None
    if parsed.type not in ("cpu", "cuda"):
        raise UnsupportedInput(f"{purpose} {device!r} is neither 'cpu' nor a CUDA device")
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise UnsupportedInput(f"{purpose} {device!r} asked for, but torch sees no CUDA device; "
                               "use 'cpu' or leave the device unset")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise UnsupportedInput(f"{purpose} {device!r} asked for, but torch sees "
                               f"{torch.cuda.device_count()} CUDA device(s)")
    return parsed

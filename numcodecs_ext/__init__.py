"""numcodecs integration of zarr-unicompress: the ``unicompress`` codec."""

from .unicompress import UniCompress

__all__ = ["UniCompress"]

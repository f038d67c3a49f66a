"""numcodecs integration of zarr-unicompress: the ``unicompress`` codec."""

from .unicompress import IndicesOnlyWarning, UniCompress

__all__ = ["IndicesOnlyWarning", "UniCompress"]

"""The quality settings of an encode: which mode (indices only, ``max_error`` or ``ratio``) and
how codewords are searched. In: the user's numbers; out: a checked, frozen :class:`QualitySettings`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedInput

INDEX_SEARCH_MODES = ("table", "encoder")


@dataclass(frozen=True)
class QualitySettings:
    """How much error the codec may introduce; see :mod:`.chunk_codec` for the modes.

    Attributes:
        max_error: bound on |x - x'| in intensity units, or None.
        ratio: target compression ratio (raw bytes / stored bytes), or None.
        index_search: "table" picks, per token, the codeword whose SIREN output is closest to
            the token (least squares); "encoder" uses the student encoder and the nearest
            codeword, as in the paper.
    """

    max_error: int | None = None
    ratio: float | None = None
    index_search: str = "table"

    def __post_init__(self) -> None:
        if self.max_error is not None and self.ratio is not None:
            raise UnsupportedInput("give either max_error or ratio, not both")
        if self.max_error is not None and (isinstance(self.max_error, bool) or
                                           not isinstance(self.max_error, (int, np.integer)) or
                                           not 0 <= self.max_error < 2**31):
            raise UnsupportedInput(f"max_error must be an integer >= 0 (intensity units), got {self.max_error!r}")
        if self.ratio is not None and (isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float))
                                       or not 1 < self.ratio < math.inf):
            raise UnsupportedInput(f"ratio must be a number > 1, got {self.ratio!r}")
        if self.index_search not in INDEX_SEARCH_MODES:
            raise UnsupportedInput(f"index_search must be one of {INDEX_SEARCH_MODES}, got {self.index_search!r}")

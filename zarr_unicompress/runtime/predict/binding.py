"""Which predictor model an array uses: the one in its model blob (the student's JSON metadata,
key ``"predictors"``: the base64 of :meth:`.model.PredictorModel.to_bytes`, covered by the
blob's sha256 like everything in the blob), else the shipped default
(:func:`zarr_unicompress.default_model.default_predictors_blob`, never changed once released:
a new default gets a new asset name, and each chunk names its predictor model's digest, so a
stream never decodes with the wrong one)."""

from __future__ import annotations

import base64
import binascii
import functools

from ...errors import ModelCorrupt
from ..inr.model import RuntimeModel
from .model import PredictorModel

#: the key of the predictor model in a student blob's metadata.
META_KEY = "predictors"
#: largest base64 text accepted there (a model of 32 predictors is about 4.7 kB of bytes).
MAX_TEXT = 16384


def encode_meta(model: PredictorModel) -> str:
    """The text to store under META_KEY in a blob's metadata."""
    return base64.b64encode(model.to_bytes()).decode("ascii")


def decode_meta(text: object) -> PredictorModel:
    """The model stored under META_KEY; ModelCorrupt where it is not a valid one."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT:
        raise ModelCorrupt(f"model metadata {META_KEY!r} must be base64 text of at most {MAX_TEXT} characters")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ModelCorrupt(f"model metadata {META_KEY!r} is not valid base64; the model is damaged") from None
    return PredictorModel.from_bytes(data)


@functools.cache
def default_predictors() -> PredictorModel:
    """The shipped default predictor model (parsed once)."""
    from ...default_model import default_predictors_blob

    return PredictorModel.from_bytes(default_predictors_blob())


_by_digest: dict[str, PredictorModel] = {}


def predictors_of(model: RuntimeModel) -> PredictorModel:
    """The predictor model of ``model`` (its own, else the default), parsed once per blob."""
    found = _by_digest.get(model.digest)
    if found is None:
        text = model.weights.meta.get(META_KEY)
        found = default_predictors() if text is None else decode_meta(text)
        _by_digest[model.digest] = found
    return found

"""Which predictor model an array uses: the one in its model blob (the student's JSON metadata,
key ``"predictors"``: the base64 of :meth:`.model.PredictorModel.to_bytes`, covered by the
blob's sha256 like everything in the blob), else the shipped default
(:func:`zarr_unicompress.default_model.default_predictors_blob`, never changed once released:
a new default gets a new asset name, and each chunk names its predictor model's digest, so a
stream never decodes with the wrong one)."""

from __future__ import annotations

import functools

from .. import side_blob
from ..inr.model import RuntimeModel
from .model import META_KEY, PredictorModel, decode_meta

__all__ = ["META_KEY", "decode_meta", "default_predictors", "encode_meta", "predictors_of"]

def encode_meta(model: PredictorModel) -> str:
    """The text to store under META_KEY in a blob's metadata."""
    return side_blob.to_meta_text(model.to_bytes())


@functools.cache
def default_predictors() -> PredictorModel:
    """The shipped default predictor model (parsed once)."""
    from ...default_model import default_predictors_blob

    return PredictorModel.from_bytes(default_predictors_blob())


_by_digest: dict[str, PredictorModel] = {}


def predictors_of(model: RuntimeModel) -> PredictorModel:
    """The predictor model of ``model`` (its own, else the default), parsed once per blob."""
    return side_blob.part_of(model, META_KEY, decode_meta, default_predictors, _by_digest)

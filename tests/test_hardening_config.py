"""Codec config values of the wrong type or an unknown key are refused at construction."""

from __future__ import annotations

import json
import math

import numcodecs
import numpy as np
import pytest

from numcodecs_ext import UniCompress
from tests.crafted import config_of, edited_blob
from zarr_unicompress.errors import ConfigInvalid, ModelCorrupt, UniCompressError, UnsupportedInput

BAD_VALUES = [
    ("max_error", True), ("max_error", False), ("max_error", 1.0), ("max_error", "2"), ("max_error", -1),
    ("max_error", 2**31), ("max_error", [2]),
    ("ratio", True), ("ratio", math.inf), ("ratio", math.nan), ("ratio", 1), ("ratio", 0.5), ("ratio", "10"),
    ("index_search", "nearest"), ("index_search", None), ("index_search", 1),
    ("max_decoded_bytes", True), ("max_decoded_bytes", 0), ("max_decoded_bytes", 2.0**20),
    ("max_decoded_bytes", 2**40), ("max_decoded_bytes", None),
]


@pytest.mark.parametrize("key,value", BAD_VALUES, ids=[f"{k}={v!r}" for k, v in BAD_VALUES])
def test_wrong_value_is_refused_at_construction(key: str, value: object) -> None:
    with pytest.raises(ConfigInvalid, match=key):
        UniCompress(**{key: value})
    with pytest.raises(ConfigInvalid, match=key):
        numcodecs.get_codec({"id": "unicompress", key: value})
    assert issubclass(ConfigInvalid, UnsupportedInput) and issubclass(ConfigInvalid, ValueError)


@pytest.mark.parametrize("key", ["maxerror", "model_sha", "level", "shape"])
def test_unknown_key_is_refused(key: str) -> None:
    config = UniCompress(max_error=2).get_config() | {key: 1}
    with pytest.raises(ConfigInvalid, match="unknown keys"):
        numcodecs.get_codec(config)


@pytest.mark.parametrize("arch", [{"siren_layers": [3]}, {"w0_first": None}, {"codebook_size": "abc"}])
def test_wrong_arch_types_are_model_corrupt(arch: dict) -> None:
    with pytest.raises(ModelCorrupt, match="arch"):
        numcodecs.get_codec(config_of(edited_blob(arch)))


def test_numpy_scalars_are_accepted() -> None:
    codec = UniCompress(max_error=np.int64(2), ratio=None)
    assert codec.get_config()["max_error"] == 2 and type(codec.get_config()["max_error"]) is int
    assert json.loads(json.dumps(UniCompress(ratio=np.float32(8)).get_config()))["ratio"] == 8


def test_id_alone_gives_the_default_codec() -> None:
    """numcodecs convention: a codec's id alone builds its defaults (issue 24, item 3)."""
    assert numcodecs.get_codec({"id": "unicompress"}).get_config() == UniCompress().get_config()
    assert numcodecs.get_codec({"id": "unicompress", "max_error": 3}) == UniCompress(max_error=3)
    for half in ({"model_sha256": UniCompress().model_sha256}, {"model": UniCompress().get_config()["model"]}):
        with pytest.raises(ModelCorrupt, match="model"):
            numcodecs.get_codec({"id": "unicompress"} | half)


def test_non_dict_config_is_refused() -> None:
    with pytest.raises(UniCompressError):
        UniCompress.from_config(["unicompress"])  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"max_error": True}, {"ratio": math.inf}, {"ratio": True}])
def test_quality_settings_refuse_bools_and_inf(kwargs: dict) -> None:
    from zarr_unicompress.runtime.chunk_codec import QualitySettings

    with pytest.raises(UnsupportedInput):
        QualitySettings(**kwargs)


def test_teacher_blob_is_not_a_codec_model() -> None:
    from zarr_unicompress.default_model import default_teacher_blob

    with pytest.raises(ModelCorrupt):
        UniCompress(model=default_teacher_blob())
    with pytest.raises(ModelCorrupt, match="kind"):
        numcodecs.get_codec(config_of(edited_blob({"kind": "unicompress-teacher"})))

"""The numcodecs codec: registration, config round trip, inline model checks."""

from __future__ import annotations

import json
import warnings

import numcodecs
import numpy as np
import pytest

from numcodecs_ext import UniCompress
from tests.common import em_block
from zarr_unicompress.errors import ModelCorrupt, UniCompressError
from zarr_unicompress.runtime.inr.weights import blob_digest, encode_blob_b64


def test_registered_through_entry_point() -> None:
    codec = UniCompress(max_error=2)
    again = numcodecs.get_codec(json.loads(json.dumps(codec.get_config())))
    assert isinstance(again, UniCompress)
    assert again.get_config() == codec.get_config()
    assert again.runtime is codec.runtime  # parsed once per process, cached by digest


def test_config_is_compact_and_plain_json() -> None:
    config = UniCompress().get_config()
    text = json.dumps(config)
    assert len(text) < 200_000
    assert config["id"] == "unicompress" and len(config["model_sha256"]) == 64


def test_codec_round_trip() -> None:
    chunk = em_block((4, 40, 40))
    codec = UniCompress(max_error=1)
    out = codec.decode(codec.encode(chunk))
    assert np.abs(out.reshape(chunk.shape).astype(int) - chunk).max() <= 1
    dest = np.empty_like(chunk)
    codec.decode(codec.encode(chunk), out=dest)
    assert np.abs(dest.astype(int) - chunk).max() <= 1


def test_indices_only_encoding_warns_that_it_is_a_preview() -> None:
    from numcodecs_ext.unicompress import IndicesOnlyWarning

    chunk = em_block((4, 40, 40))
    with pytest.warns(IndicesOnlyWarning, match="max_error"):
        UniCompress().encode(chunk)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IndicesOnlyWarning)
        UniCompress(ratio=4).encode(chunk)


def test_wrong_digest_is_refused() -> None:
    config = UniCompress().get_config()
    config["model_sha256"] = "0" * 64
    with pytest.raises(ModelCorrupt, match="digest"):
        numcodecs.get_codec(config)


def test_malformed_model_fields_are_refused() -> None:
    good = UniCompress().get_config()
    junk = b"UCMW" + b"\xff" * 40
    bad_configs = [
        {**good, "model": None},
        {**good, "model": "!!not base64!!"},
        {**good, "model": encode_blob_b64(junk), "model_sha256": blob_digest(junk)},
    ]
    for config in bad_configs:
        with pytest.raises(UniCompressError):
            UniCompress.from_config(config)
    with pytest.raises(UniCompressError):
        UniCompress(model=12)
    assert issubclass(UniCompressError, ValueError)


def test_fitted_model_is_accepted(tiny_fitted) -> None:
    codec = UniCompress(model=tiny_fitted, max_error=3)
    assert codec.model_sha256 == tiny_fitted.digest
    chunk = em_block((8, 32, 32))
    out = codec.decode(codec.encode(chunk))
    assert np.abs(out.reshape(chunk.shape).astype(int) - chunk).max() <= 3


def test_decode_path_imports_no_training_code(tmp_path) -> None:
    from tests.common import run_fresh_python

    out = run_fresh_python("""
        import json, sys
        import numcodecs, numpy as np
        from numcodecs_ext import UniCompress
        codec = numcodecs.get_codec(json.loads(json.dumps(UniCompress(ratio=5).get_config())))
        chunk = (np.arange(4 * 16 * 16) % 251).astype(np.uint8).reshape(4, 16, 16)
        codec.decode(codec.encode(chunk))
        import zarr_unicompress.zarr3
        print(sorted(m for m in sys.modules if m == "torch" or m.startswith(("zarr_unicompress.model",
                                                                              "zarr_unicompress.training"))))
    """)
    assert out.strip() == "[]"

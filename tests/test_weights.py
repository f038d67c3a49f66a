from __future__ import annotations

import numpy as np
import pytest

from zarr_unicompress.errors import ModelCorrupt
from zarr_unicompress.runtime.inr.weights import (
    blob_digest, decode_blob_b64, encode_blob_b64, pack_weights, unpack_weights)


def test_pack_unpack_float16() -> None:
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3) / 7, "b": np.ones(4)}
    blob = pack_weights({"x": 1}, {"m": "y"}, tensors)
    parsed = unpack_weights(blob)
    assert parsed.arch == {"x": 1} and parsed.meta == {"m": "y"}
    np.testing.assert_array_equal(parsed.tensors["a"], tensors["a"].astype(np.float16))
    assert parsed.tensors["b"].dtype == np.float16


def test_b64_digest_checked() -> None:
    blob = pack_weights({}, {}, {"a": np.zeros(3)})
    text = encode_blob_b64(blob)
    assert decode_blob_b64(text, blob_digest(blob)) == blob
    with pytest.raises(ModelCorrupt, match="digest mismatch"):
        decode_blob_b64(text, "0" * 64)
    with pytest.raises(ModelCorrupt, match="base64"):
        decode_blob_b64("!!not base64!!", blob_digest(blob))


@pytest.mark.parametrize("damage", ["truncate", "oversized_shape", "bad_json", "pickle"])
def test_malformed_blobs_rejected(damage: str) -> None:
    blob = pack_weights({}, {}, {"a": np.zeros((4, 4))})
    if damage == "truncate":
        bad = blob[:-3]
    elif damage == "oversized_shape":
        bad = blob.replace(b"[4,4]", b"[9999999,9999999]")
    elif damage == "bad_json":
        bad = blob.replace(b'"format"', b'"form\xffat"')
    else:
        import pickle

        bad = pickle.dumps({"a": np.zeros(3)})
    with pytest.raises(ModelCorrupt):
        unpack_weights(bad)


def test_non_finite_weights_rejected() -> None:
    with pytest.raises(ModelCorrupt, match="non-finite"):
        pack_weights({}, {}, {"a": np.array([1e6])})  # overflows float16

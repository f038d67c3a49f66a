"""Crafted model headers (digest recomputed) are refused at get_codec, before any table is built."""

from __future__ import annotations

import numcodecs
import numpy as np
import pytest

from tests.crafted import config_of, edited_blob, indices_chunk, run_isolated
from zarr_unicompress.errors import ChunkCorrupt, ModelCorrupt
from zarr_unicompress.runtime.inr.model_checks import MAX_TABLE_ACTIVATIONS, MAX_TABLE_ENTRIES

BAD_ARCH = [
    {"codebook_size": 1024},
    {"codebook_size": 2},
    {"codebook_size": 2**24},
    {"codebook_size": "abc"},
    {"codebook_size": True},
    {"codebook_size": 256.0},
    {"code_dim": 15},
    {"siren_layers": [3]},
    {"siren_layers": 3},
    {"siren_layers": 1},
    {"siren_layers": 0},
    {"siren_hidden": 31},
    {"encoder_layers": 1},
    {"encoder_layers": -1},
    {"encoder_hidden": 95},
    {"w0_first": None},
    {"w0_first": 0},
    {"w0_first": "15"},
    {"w0_hidden": 1e300},
    {"w0_hidden": False},
    {"token_shape": [64, 64, 64]},
    {"token_shape": [16, 32, 32]},
    {"token_shape": [4, 8, 8, 1]},
    {"token_shape": [4, 8, True]},
    {"token_shape": [0, 8, 8]},
    {"token_shape": "4x8x8"},
    {"token_shape": [4, 8, 4]},  # the encoder's input width no longer fits
]


def test_wide_siren_is_refused_before_its_table() -> None:
    """A SIREN of 1024 units over the default table: 2**26 float64 activations, refused."""
    wide = {"siren.0.weight": np.zeros((1024, 19), np.float16), "siren.0.bias": np.zeros(1024, np.float16),
            "siren.1.weight": np.zeros((32, 1024), np.float16)}
    with pytest.raises(ModelCorrupt, match="activations"):
        numcodecs.get_codec(config_of(edited_blob({"siren_hidden": 32}, tensors=wide)))


@pytest.mark.parametrize("arch", BAD_ARCH, ids=[repr(a) for a in BAD_ARCH])
def test_crafted_arch_is_refused(arch: dict) -> None:
    with pytest.raises(ModelCorrupt, match="arch|tensor|table|encoder"):
        numcodecs.get_codec(config_of(edited_blob(arch)))


BAD_TENSORS = [
    ({"codebook": np.zeros((256, 17), np.float16)}, ()),
    ({"codebook": np.zeros((300, 16), np.float16)}, ()),
    ({"siren.1.weight": np.zeros((32, 31), np.float16)}, ()),
    ({"siren.out.weight": np.zeros((2, 32), np.float16)}, ()),
    ({"siren.0.bias": np.zeros((33,), np.float16)}, ()),
    ({"encoder.1.weight": np.zeros((16, 95), np.float16)}, ()),
    ({"extra": np.zeros((2,), np.float16)}, ()),
    ({}, ("siren.out.bias",)),
    ({}, ("encoder.0.weight",)),
]


@pytest.mark.parametrize("tensors,drop", BAD_TENSORS, ids=[f"{sorted(t)}-{d}" for t, d in BAD_TENSORS])
def test_tensors_that_do_not_fit_the_arch_are_refused(tensors: dict, drop: tuple) -> None:
    with pytest.raises(ModelCorrupt):
        numcodecs.get_codec(config_of(edited_blob(tensors=tensors, drop=drop)))


def test_table_bound_is_above_the_default_model() -> None:
    assert 256 * 4 * 8 * 8 * 4 <= MAX_TABLE_ENTRIES  # room for 4x the default model's table
    assert 256 * 4 * 8 * 8 * 32 * 4 <= MAX_TABLE_ACTIVATIONS
    codec = numcodecs.get_codec(config_of(edited_blob()))
    assert codec.runtime.table.shape == (256, 256)


def test_out_of_table_index_is_refused(default_model) -> None:
    shape = (4, 8, 8 * 3)
    for bad in (256, 1000, 16777215, -1):
        stream = indices_chunk(default_model.digest, np.array([0, bad, 1]), shape)
        with pytest.raises(ChunkCorrupt, match="indices|symbols"):
            numcodecs.get_codec(config_of(edited_blob())).decode(stream)


def test_crafted_codebook_size_cannot_crash_a_fresh_process() -> None:
    """The reviewer's attack: codebook_size edited, digest recomputed, a chunk holding index
    16777215 decoded through the numcodecs codec and through zarr v2 (a crash stays in the child)."""
    proc = run_isolated("""
        import json, tempfile, numpy as np, numcodecs, zarr
        from tests.crafted import config_of, edited_blob, indices_chunk
        from zarr_unicompress.errors import UniCompressError
        from zarr_unicompress.runtime.inr.weights import blob_digest
        for size in (2**24, 1024, 2):
            blob = edited_blob({"codebook_size": size})
            try:
                numcodecs.get_codec(config_of(blob))
                print("ACCEPTED", size)
            except UniCompressError as exc:
                print("refused", size, type(exc).__name__)
        codec = numcodecs.get_codec(config_of(edited_blob()))
        stream = indices_chunk(codec.model_sha256, np.array([16777215, 3]), (4, 8, 16))
        try:
            codec.decode(stream)
            print("DECODED")
        except UniCompressError as exc:
            print("refused chunk", type(exc).__name__)
        d = tempfile.mkdtemp()
        arr = zarr.create_array(d, shape=(4, 8, 16), chunks=(4, 8, 16), dtype="uint8", zarr_format=2,
                                compressors=codec, filters=None)
        arr.store_path.store  # the chunk written as an attacker would: bytes at key '0.0.0'
        import pathlib; pathlib.Path(d, "0.0.0").write_bytes(stream)
        try:
            zarr.open_array(d, mode="r")[:]
            print("DECODED")
        except UniCompressError as exc:
            print("refused zarr", type(exc).__name__)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ACCEPTED" not in proc.stdout and "DECODED" not in proc.stdout, proc.stdout
    assert proc.stdout.count("refused") == 5, proc.stdout

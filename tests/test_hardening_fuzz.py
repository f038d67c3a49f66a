"""Hypothesis fuzz of model-header fields and chunk headers, in bounded time.

Every crafted input must either decode or raise a ``UniCompressError`` (a ValueError), never
crash, hang or allocate far beyond its declared, capped size. The chunk fuzz runs in a fresh
interpreter, so that a crash in compiled code fails the test instead of killing the run.
"""

from __future__ import annotations

import ast

import numcodecs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.crafted import config_of, edited_blob, run_isolated
from zarr_unicompress.errors import UniCompressError

_ARCH_KEYS = ("token_shape", "code_dim", "codebook_size", "siren_layers", "siren_hidden", "encoder_layers",
              "encoder_hidden", "w0_first", "w0_hidden", "kind")
_values = st.one_of(
    st.integers(-2**40, 2**40), st.integers(0, 300), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.none(), st.text(max_size=8),
    st.lists(st.integers(-4, 80), min_size=0, max_size=5),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@pytest.mark.filterwarnings("ignore::zarr_unicompress.runtime.inr.model.TableMismatchWarning")
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.dictionaries(st.sampled_from(_ARCH_KEYS), _values, min_size=1, max_size=3))
def test_fuzz_model_header_fields(arch: dict) -> None:
    try:
        codec = numcodecs.get_codec(config_of(edited_blob(arch)))
    except UniCompressError:
        return
    table = codec.runtime.table  # accepted: its table matches its codebook and stays bounded
    assert table.shape[0] == codec.runtime.codebook_size == codec.runtime.weights.tensors["codebook"].shape[0]
    assert table.size <= 2**18


_CHUNK_FUZZ = r'''
import sys, warnings
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
from numcodecs_ext import UniCompress
from tests.common import em_block
from tests.crafted import restamp
from zarr_unicompress.bitstream import HEADER_SIZE
from zarr_unicompress.errors import UniCompressError
from zarr_unicompress.runtime.chunk_codec import decode_chunk

warnings.simplefilter("ignore")
CAP = 2**22
chunk = em_block((6, 20, 36))
streams = [UniCompress(**q).encode(chunk) for q in ({}, {"max_error": 1}, {"max_error": 40}, {"ratio": 6})]
streams.append(UniCompress(max_error=1).encode(np.full((3, 5, 7), 9, np.uint8)))
codec = UniCompress(max_decoded_bytes=CAP)
u32 = st.integers(0, 2**32 - 1)
small = st.integers(0, 64)
fields = st.fixed_dictionaries({}, optional={
    "flags": st.integers(0, 255), "dtype": st.integers(0, 5), "version": st.integers(0, 2),
    "sz": st.one_of(small, u32), "sy": st.one_of(small, u32), "sx": st.one_of(small, u32),
    "lo": st.integers(-2**31, 2**31 - 1), "hi": st.one_of(st.integers(-5, 300), st.integers(-2**31, 2**31 - 1)),
    "max_err": st.one_of(small, u32), "t_len": st.one_of(small, u32), "c_len": st.one_of(small, u32),
    "w_len": st.one_of(small, u32)})
outcomes = {"decoded": 0, "refused": 0}

@settings(max_examples=int(sys.argv[1]), deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.sampled_from(range(len(streams))), fields,
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=3))
def fuzz(which, changes, flips):
    stream = bytearray(restamp(streams[which], **changes))
    body = len(stream) - 4 - HEADER_SIZE
    for pos, xor in flips:
        if body > 0:
            stream[HEADER_SIZE + pos % body] ^= xor
    stream = restamp(bytes(stream))  # the CRC of the damaged body
    for decode in (lambda: codec.decode(stream), lambda: decode_chunk(codec.runtime, stream, chunk.shape, chunk.dtype)):
        try:
            out = decode()
        except UniCompressError:
            outcomes["refused"] += 1
            continue
        outcomes["decoded"] += 1
        assert out.nbytes <= CAP

fuzz()
print("outcomes", outcomes)
'''


@pytest.mark.parametrize("examples", [150])
def test_fuzz_chunk_headers_in_a_fresh_process(examples: int) -> None:
    proc = run_isolated(_CHUNK_FUZZ.replace("sys.argv[1]", str(examples)), timeout=600)
    assert proc.returncode == 0, f"rc {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert "outcomes" in proc.stdout
    outcomes = ast.literal_eval(proc.stdout.split("outcomes", 1)[1].strip())
    assert outcomes["refused"] > 0 and outcomes["decoded"] > 0, outcomes

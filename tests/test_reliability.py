"""Bad input never crashes, hangs or decodes silently wrong; bounds, determinism, concurrency."""

from __future__ import annotations

import hashlib
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.common import check_round_trip, em_block, run_fresh_python
from zarr_unicompress.bitstream import HEADER_SIZE, MAGIC
from zarr_unicompress.errors import ChunkCorrupt, UniCompressError
from zarr_unicompress.runtime.chunk_codec import (
    QualitySettings,
    decode_chunk,
    encode_chunk,
)
from zarr_unicompress.runtime.inr.model import RuntimeModel

MODES = [QualitySettings(), QualitySettings(max_error=2), QualitySettings(ratio=6.0)]


def _with_crc(body: bytes) -> bytes:
    """A stream whose checksum is valid: what a deliberate forger would write."""
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("quality", MODES, ids=["indices", "max_error", "ratio"])
def test_every_truncation_of_a_real_chunk_raises(default_model: RuntimeModel, quality: QualitySettings) -> None:
    stream = encode_chunk(default_model, em_block((4, 24, 24)), quality)
    for cut in range(len(stream)):
        with pytest.raises(ChunkCorrupt):
            decode_chunk(default_model, stream[:cut])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_forged_streams_raise_or_decode_to_the_declared_shape(default_model: RuntimeModel, data) -> None:
    """Mutations with a recomputed CRC reach the parsers: they must fail cleanly, never crash."""
    mode = data.draw(st.sampled_from(MODES))
    stream = bytearray(encode_chunk(default_model, em_block((2, 16, 16)), mode))
    body = stream[:-4]
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(body) - 1))
        body[pos] = data.draw(st.integers(0, 255))
    try:
        out = decode_chunk(default_model, _with_crc(bytes(body)), expected_shape=(2, 16, 16),
                           expected_dtype=np.uint8)
    except UniCompressError:
        return
    assert out.shape == (2, 16, 16) and out.dtype == np.uint8


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_forged_zero_block_streams_raise_or_decode_cleanly(default_model: RuntimeModel, data) -> None:
    """The same for a ratio-mode chunk in zero blocks over five wavelet levels, with no expected
    shape, so that forged headers reach the compiled inverse transform (which checks no index)."""
    stream = bytearray(encode_chunk(default_model, em_block((2, 256, 256)), QualitySettings(ratio=12.0)))
    body = stream[:-4]
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, min(len(body) - 1, 200)))  # header, tables, first words
        body[pos] = data.draw(st.integers(0, 255))
    try:
        out = decode_chunk(default_model, _with_crc(bytes(body)))
    except UniCompressError:
        return
    assert out.ndim == 3 and out.size <= 2**22


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), max_error=st.sampled_from([None, 1]))
def test_forged_rans_words_anywhere_raise_or_decode_cleanly(default_model: RuntimeModel, data,
                                                             max_error: int | None) -> None:
    """Bytes changed anywhere in a stream's sections, the CRC recomputed: the rANS decoder (no
    index checks in its compiled loops) raises ChunkCorrupt or yields the chunk's shape."""
    quality = QualitySettings(max_error=max_error) if max_error is not None else QualitySettings(ratio=10.0)
    stream = bytearray(encode_chunk(default_model, em_block((2, 64, 96)), quality))
    body = stream[:-4]
    for _ in range(data.draw(st.integers(1, 4))):
        body[data.draw(st.integers(HEADER_SIZE, len(body) - 1))] = data.draw(st.integers(0, 255))
    try:
        out = decode_chunk(default_model, _with_crc(bytes(body)), (2, 64, 96), np.uint8)
    except UniCompressError:
        return
    assert out.shape == (2, 64, 96)


def test_headers_claiming_gigabytes_are_rejected_without_allocating(default_model: RuntimeModel) -> None:
    stream = encode_chunk(default_model, em_block((2, 16, 16)), QualitySettings(max_error=1))
    body = bytearray(stream[:-4])
    struct.pack_into("<3I", body, 8, 1024, 1024, 2048)  # 2**31 voxels
    with pytest.raises(ChunkCorrupt):
        decode_chunk(default_model, _with_crc(bytes(body)))
    struct.pack_into("<3I", body, 8, 4096, 4096, 4096)
    with pytest.raises(ChunkCorrupt, match="larger than"):
        decode_chunk(default_model, _with_crc(bytes(body)))
    # a frequency table that claims 2**40 symbols
    huge = MAGIC + bytes(HEADER_SIZE - 4)
    with pytest.raises(ChunkCorrupt):
        decode_chunk(default_model, _with_crc(huge + b"\x01\xff\xff\xff\xff\x0f"))


ADVERSARIAL = {
    "noise_u8": lambda rng: rng.integers(0, 256, (4, 24, 24)).astype(np.uint8),
    "noise_u16": lambda rng: rng.integers(0, 65536, (4, 24, 24)).astype(np.uint16),
    "saturated": lambda rng: (np.indices((4, 24, 24)).sum(0) % 2 * 255).astype(np.uint8),
    "edge": lambda rng: np.where(np.arange(24)[None, None, :] < 11, 0, 255).repeat(24, 1).repeat(4, 0).astype(np.uint8),
    "int16_extremes": lambda rng: rng.choice(np.array([-32768, 32767, 0], np.int16), (3, 16, 16)),
    "sparse_spikes": lambda rng: (rng.random((4, 24, 24)) < 0.01).astype(np.uint16) * 60000,
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
@pytest.mark.parametrize("bound", [0, 1, 3, 7])
def test_error_bound_on_adversarial_inputs(default_model: RuntimeModel, name: str, bound: int) -> None:
    chunk = ADVERSARIAL[name](np.random.default_rng(bound))
    check_round_trip(default_model, chunk, QualitySettings(max_error=bound))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.tuples(st.integers(1, 6), st.integers(1, 20), st.integers(1, 20)),
       dtype=st.sampled_from(["uint8", "uint16", "int8", "int16"]), bound=st.integers(0, 9),
       seed=st.integers(0, 2**32 - 1))
def test_error_bound_property(default_model: RuntimeModel, shape, dtype, bound, seed) -> None:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    chunk = rng.integers(info.min, int(info.max) + 1, size=shape, dtype=np.int64)
    chunk = np.cumsum(chunk % 7 - 3, axis=-1) + rng.integers(info.min, int(info.max) + 1)  # smooth-ish
    check_round_trip(default_model, np.clip(chunk, info.min, info.max).astype(dtype),
                     QualitySettings(max_error=bound))


def test_error_bound_on_the_real_volume(default_model: RuntimeModel) -> None:
    chunk = em_block((16, 256, 256), real_only=True)
    for bound in (0, 2, 5):
        check_round_trip(default_model, chunk, QualitySettings(max_error=bound))


def test_threads_decode_identically(default_model: RuntimeModel) -> None:
    chunks = [em_block((4, 64, 64))[:, :, i : i + 40].copy() for i in range(0, 24, 3)]
    streams = [encode_chunk(default_model, c, m) for c in chunks for m in MODES]
    single = [decode_chunk(default_model, s) for s in streams]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            many = list(pool.map(lambda s: decode_chunk(default_model, s), streams))
            for a, b in zip(single, many):
                np.testing.assert_array_equal(a, b)


def test_encoding_and_decoding_are_identical_in_another_process(default_model: RuntimeModel,
                                                                tmp_path: Path) -> None:
    chunk = em_block((4, 64, 64))
    np.save(tmp_path / "chunk.npy", chunk)
    digests = []
    for mode in MODES:
        stream = encode_chunk(default_model, chunk, mode)
        decoded = decode_chunk(default_model, stream)
        digests.append(hashlib.sha256(stream).hexdigest() + hashlib.sha256(decoded.tobytes()).hexdigest())
    out = run_fresh_python(f"""
        import hashlib, os
        os.environ["OMP_NUM_THREADS"] = "1"
        import numpy as np
        from numcodecs_ext.unicompress import model_blob
        from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk, encode_chunk
        from zarr_unicompress.runtime.inr.model import load_model
        model = load_model(model_blob(None))
        chunk = np.load({str(tmp_path / 'chunk.npy')!r})
        for mode in (QualitySettings(), QualitySettings(max_error=2), QualitySettings(ratio=6.0)):
            stream = encode_chunk(model, chunk, mode)
            print(hashlib.sha256(stream).hexdigest() + hashlib.sha256(decode_chunk(model, stream).tobytes()).hexdigest())
    """)
    assert out.split() == digests


def test_no_pickle_or_unsafe_torch_load_in_the_package() -> None:
    root = Path(__file__).resolve().parents[1]
    for path in list((root / "zarr_unicompress").rglob("*.py")) + list((root / "numcodecs_ext").rglob("*.py")):
        text = path.read_text()
        assert "import pickle" not in text and "pickle.load" not in text, path
        if "torch.load(" in text:
            assert "weights_only=True" in text, path


def test_forged_wavelet_step_that_overflows_is_rejected(default_model: RuntimeModel) -> None:
    """A ratio-mode stream whose quantiser step makes the coefficients overflow float32."""
    from zarr_unicompress.bitstream import ChunkSections, pack_chunk, unpack_chunk
    from zarr_unicompress.runtime.transform.wavelet_residual import WaveletParams

    stream = encode_chunk(default_model, em_block((2, 64, 64)), QualitySettings(ratio=4.0))
    header, sections = unpack_chunk(stream)
    params = WaveletParams.unpack(sections.classes)
    forged = WaveletParams(3.0e38, params.levels, params.flat_value).pack()
    with pytest.raises(ChunkCorrupt, match="overflow"):
        decode_chunk(default_model, pack_chunk(header, ChunkSections(sections.tables, forged, sections.words)))


@pytest.mark.parametrize("bound", [2**30, 2**31 - 1])
def test_bounds_beyond_int32_arithmetic_hold(default_model: RuntimeModel, bound: int) -> None:
    chunk = ADVERSARIAL["int16_extremes"](np.random.default_rng(0))
    check_round_trip(default_model, chunk, QualitySettings(max_error=bound))


@pytest.mark.parametrize("quality", [QualitySettings(ratio=6.0), QualitySettings(max_error=1), QualitySettings()])
def test_a_stream_whose_coder_flag_is_flipped_is_refused(default_model: RuntimeModel, quality: QualitySettings) -> None:
    """FLAG_RANS toggled with the CRC recomputed (a forged or mis-written header): the word
    section is then read by the other coder, which refuses it with ChunkCorrupt."""
    import dataclasses

    from zarr_unicompress.bitstream import FLAG_RANS, pack_chunk, unpack_chunk

    header, sections = unpack_chunk(encode_chunk(default_model, em_block((4, 96, 96)), quality))
    assert header.uses_rans or header.coder == 1  # the predictive max_error coder: flags 0, any other is refused
    forged = pack_chunk(dataclasses.replace(header, flags=header.flags ^ FLAG_RANS), sections)
    with pytest.raises(ChunkCorrupt):
        decode_chunk(default_model, forged)

"""The torch reconstruction of ratio-mode chunks (runtime/torch_decode.py) and the process pool
that entropy-decodes streams (runtime/parallel_open.py): same voxels as the NumPy decoder."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.common import em_block
from zarr_unicompress.bitstream import ChunkSections, pack_chunk, unpack_chunk
from zarr_unicompress.errors import ChunkCorrupt, UnsupportedInput
from zarr_unicompress.runtime import torch_decode
from zarr_unicompress.runtime.chunk_codec import (
    CodedWavelet,
    QualitySettings,
    decode_chunk,
    encode_chunk,
    open_chunk,
)
from zarr_unicompress.runtime.model import RuntimeModel
from zarr_unicompress.runtime.parallel_open import ChunkOpener
from zarr_unicompress.runtime.wavelet_residual import WaveletParams

torch = pytest.importorskip("torch")

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                  reason="no CUDA device (CI has none)"))]


@pytest.fixture(autouse=True)
def numpy_decode_afterwards() -> Iterator[None]:
    yield
    torch_decode.set_decode_device(None)


def _streams(model: RuntimeModel) -> list[bytes]:
    """Ratio-mode streams of real EM blocks: INR and flat bases, edge shapes (odd y and x),
    chunks with and without zero blocks, four dtypes; plus the other stream kinds. (The flat
    base wins on most EM chunks, so two streams are encoded with the INR base forced.)"""
    from zarr_unicompress.runtime import chunk_codec

    chosen = chunk_codec._inr_base_wins
    chunk_codec._inr_base_wins = lambda *args: True  # type: ignore[assignment]
    try:
        inr_based = [encode_chunk(model, em_block(shape), QualitySettings(ratio=8))
                     for shape in ((6, 128, 128), (5, 97, 131))]
    finally:
        chunk_codec._inr_base_wins = chosen
    blocks = [
        (em_block((6, 128, 128)), QualitySettings(ratio=4)),
        (em_block((6, 128, 128)), QualitySettings(ratio=32)),
        (em_block((5, 97, 131)), QualitySettings(ratio=8)),
        (em_block((3, 40, 36)), QualitySettings(ratio=6)),
        (em_block((4, 64, 64), "uint16"), QualitySettings(ratio=10)),
        (em_block((4, 64, 64), "int16"), QualitySettings(ratio=10)),
        (em_block((4, 64, 64), "int8"), QualitySettings(ratio=5)),
        (em_block((4, 64, 64)), QualitySettings(max_error=3)),
        (em_block((4, 64, 64)), QualitySettings()),
        (np.full((4, 16, 16), 7, np.uint8), QualitySettings(ratio=8)),
    ]
    return inr_based + [encode_chunk(model, block, quality) for block, quality in blocks]


@pytest.mark.parametrize("device", DEVICES)
def test_device_decode_equals_numpy(default_model: RuntimeModel, device: str) -> None:
    streams = _streams(default_model)
    opened = [open_chunk(default_model, s) for s in streams]
    assert sum(isinstance(o, CodedWavelet) for o in opened) == 9
    assert any(isinstance(o, CodedWavelet) and o.indices is None for o in opened), "no flat-base chunk"
    assert any(isinstance(o, CodedWavelet) and o.indices is not None for o in opened), "no INR-base chunk"
    assert any(isinstance(o, CodedWavelet) and o.bands[0][0] is None for o in opened), "no chunk without zero blocks"
    decoded = torch_decode.decode_chunks(default_model, streams, device)
    for stream, got in zip(streams, decoded):
        want = decode_chunk(default_model, stream)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("device", DEVICES)
def test_batch_of_one_shape_equals_chunk_by_chunk(default_model: RuntimeModel, device: str) -> None:
    block = em_block((6, 128, 128))
    streams = [encode_chunk(default_model, block[:, :, ::-1].copy() if k % 2 else block, QualitySettings(ratio=r))
               for k, r in enumerate((4, 8, 16, 64))]
    batch = torch_decode.decode_chunks(default_model, streams, device)
    for stream, got in zip(streams, batch):
        np.testing.assert_array_equal(got, torch_decode.decode_chunks(default_model, [stream], device)[0])


def test_codec_decode_routes_through_the_decode_device(default_model: RuntimeModel) -> None:
    stream = encode_chunk(default_model, em_block((6, 128, 128)), QualitySettings(ratio=8))
    want = decode_chunk(default_model, stream)
    torch_decode.set_decode_device("cpu")
    assert torch_decode.decode_device() == "cpu"
    np.testing.assert_array_equal(decode_chunk(default_model, stream), want)


@pytest.mark.parametrize("device", ["no-such-device", "cuda:99", "cuda"])
def test_unusable_decode_devices_are_refused(device: str) -> None:
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(UnsupportedInput):
        torch_decode.set_decode_device(device)
    assert torch_decode.decode_device() is None


def test_overflowing_coefficients_are_refused_on_the_device(default_model: RuntimeModel) -> None:
    stream = encode_chunk(default_model, em_block((2, 64, 64)), QualitySettings(ratio=4.0))
    header, sections = unpack_chunk(stream)
    params = WaveletParams.unpack(sections.classes)
    forged = pack_chunk(header, ChunkSections(sections.tables, WaveletParams(3.0e38, params.levels,
                                                                             params.flat_value).pack(), sections.words))
    good = encode_chunk(default_model, em_block((2, 64, 64)), QualitySettings(ratio=8.0))
    with pytest.raises(ChunkCorrupt, match="overflow"):
        torch_decode.decode_chunks(default_model, [good, forged], "cpu")


def test_chunk_opener_decodes_in_processes(default_model: RuntimeModel) -> None:
    streams = _streams(default_model)[:5]
    damaged = bytearray(streams[0])
    damaged[len(damaged) // 2] ^= 0xFF
    with ChunkOpener(default_model, 2) as opener:
        opened = list(opener.open(streams))
        decoded = torch_decode.decode_chunks(default_model, [], "cpu", opened=opened)
        for stream, got in zip(streams, decoded):
            np.testing.assert_array_equal(got, decode_chunk(default_model, stream))
        with pytest.raises(ChunkCorrupt):
            list(opener.open([streams[1], bytes(damaged)]))


def test_chunk_opener_refuses_bad_process_counts(default_model: RuntimeModel) -> None:
    with pytest.raises(UnsupportedInput, match="processes"):
        ChunkOpener(default_model, 0)


def test_decode_device_from_the_environment(default_model: RuntimeModel, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = encode_chunk(default_model, em_block((6, 128, 128)), QualitySettings(ratio=8))
    want = decode_chunk(default_model, stream)
    monkeypatch.setattr(torch_decode, "_env_read", False)
    monkeypatch.setenv(torch_decode.DECODE_DEVICE_ENV, "cpu")
    assert torch_decode.decode_device() == "cpu"
    np.testing.assert_array_equal(decode_chunk(default_model, stream), want)
    monkeypatch.setattr(torch_decode, "_env_read", False)
    monkeypatch.setenv(torch_decode.DECODE_DEVICE_ENV, "no-such-device")
    with pytest.raises(UnsupportedInput, match="UNICOMPRESS_DECODE_DEVICE"):
        decode_chunk(default_model, stream)

"""The torch reconstruction of ratio-mode chunks (runtime/torch_decode.py), the decode-device
setting (runtime/decode_device.py) and the process pool that entropy-decodes streams
(runtime/parallel_open.py): the same voxels as the NumPy decoder, bit for bit."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.common import em_block
from zarr_unicompress.bitstream import ChunkSections, pack_chunk, unpack_chunk
from zarr_unicompress.errors import ChunkCorrupt, UnsupportedInput
from zarr_unicompress.runtime.coders import ratio as ratio_coder
from zarr_unicompress.runtime.coders.ratio3d import Ratio3DCoder
from zarr_unicompress.runtime.device import decode_device, parallel_open, torch_decode
from zarr_unicompress.runtime.chunk_codec import (
    CodedWavelet,
    QualitySettings,
    decode_chunk,
    encode_chunk,
    open_chunk,
)
from zarr_unicompress.runtime.inr.model import RuntimeModel
from zarr_unicompress.runtime.device.parallel_open import ChunkOpener
from zarr_unicompress.runtime.transform.wavelet_residual import WaveletParams

torch = pytest.importorskip("torch")

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                  reason="no CUDA device (CI has none)"))]


@pytest.fixture(autouse=True)
def numpy_decode_afterwards() -> Iterator[None]:
    yield
    decode_device.set_decode_device(None)


def _inr_based(model: RuntimeModel, block: np.ndarray, ratio: float) -> bytes:
    """A ratio-mode stream with the INR base (the flat base wins on most EM chunks, so the
    encoder's choice is forced)."""
    chosen = ratio_coder.inr_base_wins
    ratio_coder.inr_base_wins = lambda *args: True  # type: ignore[assignment]
    try:
        return _encode(model, block, QualitySettings(ratio=ratio))
    finally:
        ratio_coder.inr_base_wins = chosen


def _encode(model: RuntimeModel, block: np.ndarray, quality: QualitySettings) -> bytes:
    """``block`` coded in ``quality``, ratio-mode blocks by the 2D ratio coder (coder-0 streams,
    which the torch reconstruction takes; the 3D coder's streams come back decoded on the CPU)."""
    if quality.ratio is None or block.min() == block.max():
        return encode_chunk(model, block, quality)
    return pack_chunk(*ratio_coder.RatioCoder().encode(block, model, quality))


def _streams(model: RuntimeModel) -> list[bytes]:
    """Ratio-mode streams of real EM blocks: INR and flat bases, edge shapes (odd y and x),
    chunks with zero blocks (>= 2**17 voxels) and without, four dtypes; plus the other kinds."""
    blocks = [
        (em_block((3, 256, 256)), QualitySettings(ratio=8)),
        (em_block((2, 300, 302)), QualitySettings(ratio=24)),
        (em_block((6, 128, 128)), QualitySettings(ratio=4)),
        (em_block((5, 97, 131)), QualitySettings(ratio=8)),
        (em_block((3, 40, 36)), QualitySettings(ratio=6)),
        (em_block((4, 64, 64), "uint16"), QualitySettings(ratio=10)),
        (em_block((4, 64, 64), "int16"), QualitySettings(ratio=10)),
        (em_block((4, 64, 64), "int8"), QualitySettings(ratio=5)),
        (em_block((4, 64, 64)), QualitySettings(max_error=3)),
        (em_block((4, 64, 64)), QualitySettings()),
        (np.full((4, 16, 16), 7, np.uint8), QualitySettings(ratio=8)),
    ]
    inr = [_inr_based(model, em_block(shape), 8) for shape in ((3, 256, 256), (6, 128, 128), (5, 97, 131))]
    three_d = [pack_chunk(*Ratio3DCoder(z_levels=(z,)).encode(em_block((8, 64, 64)), model, QualitySettings(ratio=r)))
               for z, r in ((1, 6), (3, 20))]  # coder-2 streams: reconstructed on the CPU when opened
    return inr + [_encode(model, block, quality) for block, quality in blocks] + three_d


def _check_equal_to_numpy(model: RuntimeModel, streams: list[bytes], decoded: list[np.ndarray]) -> None:
    for stream, got in zip(streams, decoded, strict=True):
        want = decode_chunk(model, stream)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("device", DEVICES)
def test_device_decode_equals_numpy(default_model: RuntimeModel, device: str) -> None:
    streams = _streams(default_model)
    coded = [o for o in (open_chunk(default_model, s) for s in streams) if isinstance(o, CodedWavelet)]
    assert len(coded) == 11
    kinds = {(c.indices is None, c.header.has_zero_blocks) for c in coded}
    assert kinds == {(True, True), (True, False), (False, True), (False, False)}, kinds
    _check_equal_to_numpy(default_model, streams, torch_decode.decode_chunks(default_model, streams, device))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("max_batch", [1, 3, 8])
def test_batches_equal_chunk_by_chunk(default_model: RuntimeModel, device: str, max_batch: int) -> None:
    block = em_block((6, 128, 128))
    streams = [encode_chunk(default_model, block[:, :, ::-1].copy() if k % 2 else block, QualitySettings(ratio=r))
               for k, r in enumerate((4, 8, 16, 64, 6))]
    streams.insert(2, _inr_based(default_model, block, 12))
    decoded = torch_decode.decode_chunks(default_model, streams, device, max_batch=max_batch)
    _check_equal_to_numpy(default_model, streams, decoded)


@pytest.mark.parametrize("device", DEVICES)
def test_threads_decoding_at_once_get_their_own_voxels(default_model: RuntimeModel, device: str) -> None:
    """Dask's and zarr's threads call the codec at once: each thread's reconstruction gives that
    thread's chunks, equal to NumPy's, while the others run."""
    from concurrent.futures import ThreadPoolExecutor

    block = em_block((6, 256, 256))
    streams = [encode_chunk(default_model, np.roll(block, 37 * k, axis=2), QualitySettings(ratio=r))
               for k, r in enumerate((4, 6, 8, 12, 16, 24))]
    with ThreadPoolExecutor(6) as pool:
        decoded = list(pool.map(lambda k: torch_decode.decode_chunks(default_model, [streams[k % 6]] * 2, device),
                                range(24)))
    for k, pair in enumerate(decoded):
        _check_equal_to_numpy(default_model, [streams[k % 6]] * 2, pair)


@settings(max_examples=15, deadline=None)
@given(z=st.integers(1, 4), y=st.integers(1, 90), x=st.integers(1, 90), ratio=st.floats(2, 40),
       dtype=st.sampled_from(["uint8", "uint16", "int16", "int8"]), inr=st.booleans())
def test_property_random_shapes_and_dtypes(default_model: RuntimeModel, z: int, y: int, x: int, ratio: float,
                                           dtype: str, inr: bool) -> None:
    block = em_block((z, y, x), dtype)
    stream = _inr_based(default_model, block, ratio) if inr else encode_chunk(default_model, block,
                                                                               QualitySettings(ratio=ratio))
    _check_equal_to_numpy(default_model, [stream], torch_decode.decode_chunks(default_model, [stream], "cpu"))


def test_reconstruct_batch_returns_device_tensors(default_model: RuntimeModel) -> None:
    streams = [_encode(default_model, em_block((4, 64, 64), d), QualitySettings(ratio=8))
               for d in ("uint8", "uint16", "int16")]
    tensors = torch_decode.reconstruct_batch(default_model, [open_chunk(default_model, s) for s in streams], "cpu")
    assert [t.dtype for t in tensors] == [torch.uint8, torch.int32, torch.int16]
    for stream, tensor in zip(streams, tensors):
        want = decode_chunk(default_model, stream)
        host = torch_decode.to_host(tensor, want.dtype)
        assert host.dtype == want.dtype
        np.testing.assert_array_equal(host, want)


def test_decode_chunks_takes_streams_or_opened_chunks(default_model: RuntimeModel) -> None:
    stream = _encode(default_model, em_block((4, 64, 64)), QualitySettings(ratio=8))
    with pytest.raises(UnsupportedInput, match="either"):
        torch_decode.decode_chunks(default_model, [stream], "cpu", opened=[open_chunk(default_model, stream)])
    with pytest.raises(UnsupportedInput, match="either"):
        torch_decode.decode_chunks(default_model, None, "cpu")
    with pytest.raises(UnsupportedInput, match="max_batch"):
        torch_decode.decode_chunks(default_model, [stream], "cpu", max_batch=0)


def test_codec_decode_routes_through_the_decode_device(default_model: RuntimeModel) -> None:
    stream = _encode(default_model, em_block((6, 128, 128)), QualitySettings(ratio=8))
    want = decode_chunk(default_model, stream)
    decode_device.set_decode_device("cpu")
    assert decode_device.decode_device() == "cpu"
    np.testing.assert_array_equal(decode_chunk(default_model, stream), want)


@pytest.mark.parametrize("device", ["no-such-device", "cuda:99", "cuda"])
def test_unusable_decode_devices_are_refused(device: str) -> None:
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(UnsupportedInput):
        decode_device.set_decode_device(device)
    assert decode_device.decode_device() is None


def test_decode_device_from_the_environment(default_model: RuntimeModel, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _encode(default_model, em_block((6, 128, 128)), QualitySettings(ratio=8))
    want = decode_chunk(default_model, stream)
    monkeypatch.setattr(decode_device, "_env_read", False)
    monkeypatch.setenv(decode_device.DECODE_DEVICE_ENV, "cpu")
    assert decode_device.decode_device() == "cpu"
    np.testing.assert_array_equal(decode_chunk(default_model, stream), want)
    monkeypatch.setattr(decode_device, "_env_read", False)
    monkeypatch.setenv(decode_device.DECODE_DEVICE_ENV, "no-such-device")
    with pytest.raises(UnsupportedInput, match="UNICOMPRESS_DECODE_DEVICE"):
        decode_chunk(default_model, stream)
    # reported whatever the chunk's coder (a max_error chunk never reaches torch)
    bounded = _encode(default_model, em_block((2, 32, 32)), QualitySettings(max_error=2))
    monkeypatch.setattr(decode_device, "_env_read", False)
    with pytest.raises(UnsupportedInput, match="UNICOMPRESS_DECODE_DEVICE"):
        decode_chunk(default_model, bounded)


def test_overflowing_coefficients_are_refused_naming_the_chunk(default_model: RuntimeModel) -> None:
    stream = _encode(default_model, em_block((2, 64, 64)), QualitySettings(ratio=4.0))
    header, sections = unpack_chunk(stream)
    params = WaveletParams.unpack(sections.classes)
    forged = pack_chunk(header, ChunkSections(sections.tables, WaveletParams(3.0e38, params.levels,
                                                                             params.flat_value).pack(), sections.words))
    good = _encode(default_model, em_block((2, 64, 64)), QualitySettings(ratio=8.0))
    with pytest.raises(ChunkCorrupt, match="chunk 2 .*overflow"):
        torch_decode.decode_chunks(default_model, [good, good, forged], "cpu")


@pytest.mark.parametrize("threads", [False, True])
def test_chunk_opener_decodes_in_processes_or_threads(default_model: RuntimeModel, threads: bool) -> None:
    streams = _streams(default_model)[:5]
    damaged = bytearray(streams[0])
    damaged[len(damaged) // 2] ^= 0xFF
    with ChunkOpener(default_model, 2, threads=threads) as opener:
        opened = list(opener.open(streams))
        decoded = torch_decode.decode_chunks(default_model, None, "cpu", opened=opened)
        _check_equal_to_numpy(default_model, streams, decoded)
        with pytest.raises(ChunkCorrupt):
            list(opener.open([streams[1], bytes(damaged)]))


def test_chunk_opener_reads_its_streams_lazily(default_model: RuntimeModel) -> None:
    stream = _encode(default_model, em_block((2, 64, 64)), QualitySettings(ratio=8.0))
    pulled = []

    def streams() -> Iterator[bytes]:
        for k in range(40):
            pulled.append(k)
            yield stream

    with ChunkOpener(default_model, 2) as opener:
        results = opener.open(streams())
        next(results)
        assert len(pulled) == parallel_open.IN_FLIGHT_PER_PROCESS * 2
        assert sum(1 for _ in results) == 39


def test_chunk_opener_refuses_bad_process_counts(default_model: RuntimeModel) -> None:
    with pytest.raises(UnsupportedInput, match="processes"):
        ChunkOpener(default_model, 0)


def test_device_out_of_memory_names_max_batch(default_model: RuntimeModel, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _encode(default_model, em_block((4, 64, 64)), QualitySettings(ratio=8))

    def out_of_memory(*args: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(torch_decode, "_reconstruct", out_of_memory)
    with pytest.raises(UnsupportedInput, match="max_batch"):
        torch_decode.decode_chunks(default_model, [stream], "cpu")

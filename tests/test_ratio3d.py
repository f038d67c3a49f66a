"""The 3D ratio coder (coder id 2): the z wavelet, the per-chunk choice, round trips, damaged
streams, and the same voxels with and without the compiled loops."""

from __future__ import annotations

import numpy as np
import pytest

from tests.common import em_like_stand_in
from tests.reference import plain_loops
from tests.reference import transform as reference_transform
from zarr_unicompress.bitstream import ChunkHeader, ChunkSections, pack_chunk, unpack_chunk
from zarr_unicompress.errors import ChunkCorrupt
from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk, encode_chunk
from zarr_unicompress.runtime.coders import ratio3d, registry
from zarr_unicompress.runtime.coders.ratio import RatioCoder, encode_wavelet_residual
from zarr_unicompress.runtime.coders.ratio_ctx import RatioContextCoder
from zarr_unicompress.runtime.coders.ratio3d import Ratio3DCoder, Wavelet3DParams
from zarr_unicompress.runtime.inr.model import RuntimeModel
from zarr_unicompress.runtime.transform import cdf97_z

CODER_BYTE = 7


def _reference_forward(x: np.ndarray, levels: int) -> np.ndarray:
    """The z wavelet in float64, sample by sample, straight from the lifting equations with
    whole-sample symmetric extension (slow, obvious)."""
    out = x.astype(np.float64).copy()
    a, b, g, d, k_low, k_high = (float(c) for c in cdf97_z.FORWARD_STEPS)
    n = out.shape[0]
    for _ in range(levels):
        s, h = list(out[0:n:2]), list(out[1:n:2])
        ns, nd = len(s), len(h)
        for c, (into, frm, ahead) in zip((a, b, g, d), ((h, s, True), (s, h, False), (h, s, True), (s, h, False))):
            src = [v.copy() for v in frm]
            for i in range(len(into)):
                if ahead:  # d[i] += c (s[i] + s[i + 1]), s[ns] = s[ns - 1]
                    into[i] = into[i] + c * (src[i] + src[min(i + 1, ns - 1)])
                else:  # s[i] += c (d[i - 1] + d[i]), d[-1] = d[0], d[nd] = d[nd - 1]
                    into[i] = into[i] + c * (src[max(i - 1, 0)] + src[min(i, nd - 1)])
        out[:ns] = np.array(s) * k_low
        out[ns:n] = np.array(h) * k_high
        n = ns
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 16, 17, 32])
def test_z_wavelet_matches_float64_lifting_and_inverts(n: int) -> None:
    x = (np.random.default_rng(n).normal(size=(n, 3, 4)) * 300).astype(np.float32)
    for levels in range(cdf97_z.max_levels(n) + 1):
        forward = cdf97_z.forward(x, levels)
        np.testing.assert_allclose(forward, _reference_forward(x, levels), rtol=0, atol=2e-3)
        back = forward.copy()
        cdf97_z.inverse_in_place(back, levels)
        np.testing.assert_allclose(back, x, rtol=0, atol=2e-3)


def test_z_wavelet_keeps_dc_gain_sqrt2_per_level() -> None:
    forward = cdf97_z.forward(np.full((16, 1, 1), 10.0, np.float32), 2)
    assert forward[:4].ravel() == pytest.approx(20.0, rel=1e-5)  # sqrt(2)**2 x 10
    assert np.abs(forward[4:]).max() < 1e-4


@pytest.mark.parametrize("n", [2, 3, 7, 30, 64])
def test_z_lifting_loops_equal_the_numpy_reference(n: int) -> None:
    x = (np.random.default_rng(n).normal(size=(n, 5, 9)) * 1000).astype(np.float32)
    for lv in range(cdf97_z.max_levels(n) + 1):
        f = cdf97_z.forward(x, lv)
        np.testing.assert_array_equal(f, reference_transform.z_forward(x, lv))
        g = f.copy()
        cdf97_z.inverse_in_place(g, lv)
        np.testing.assert_array_equal(g, reference_transform.z_inverse(f, lv))
        if n <= 7:  # the loops as plain Python (UNICOMPRESS_NUMBA=0): tiny inputs only
            with plain_loops():
                np.testing.assert_array_equal(cdf97_z.forward(x, lv), f)
                h = f.copy()
                cdf97_z.inverse_in_place(h, lv)
                np.testing.assert_array_equal(h, g)


def test_z_band_layout_and_limits() -> None:
    assert cdf97_z.max_levels(1) == 0 and cdf97_z.max_levels(2) == 1 and cdf97_z.max_levels(64) == cdf97_z.MAX_Z_LEVELS
    assert cdf97_z.z_bands(30, 2) == [slice(0, 8), slice(8, 15), slice(15, 30)]
    with pytest.raises(ValueError, match="z levels"):
        cdf97_z.lengths(3, 3)


def _smooth_in_z(shape: tuple[int, int, int]) -> np.ndarray:
    """A stand-in volume whose slices are nearly alike (as isotropic EM): one EM-like slice
    pattern drifting slowly along z, plus noise."""
    base = em_like_stand_in((1, shape[1] + shape[0], shape[2]), seed=5)[0].astype(np.float64)
    noise = np.random.default_rng(2).normal(0, 3, shape)
    vol = np.stack([base[k // 4: k // 4 + shape[1]] for k in range(shape[0])]) + noise
    return np.clip(np.rint(vol), 0, 255).astype(np.uint8)


def test_slices_alike_take_z_levels_and_independent_slices_stay_2d(default_model: RuntimeModel) -> None:
    alike = _smooth_in_z((16, 64, 64))
    stream = encode_chunk(default_model, alike, QualitySettings(ratio=16.0))
    assert stream[CODER_BYTE] == 2
    assert len(stream) <= alike.nbytes / 16
    two_d = pack_chunk(*Ratio3DCoder(z_levels=(0,)).encode(alike, default_model, QualitySettings(ratio=16.0)))
    assert two_d[CODER_BYTE] == 0 and len(two_d) <= alike.nbytes / 16

    def mse(s: bytes) -> float:
        return float(np.mean((decode_chunk(default_model, s, alike.shape, alike.dtype).astype(float) - alike) ** 2))

    assert mse(stream) < mse(two_d)  # the choice is by the step, i.e. by the error at the budget
    independent = np.stack([em_like_stand_in((1, 64, 64), seed=k)[0] for k in range(16)])  # unrelated slices
    assert encode_chunk(default_model, independent, QualitySettings(ratio=16.0))[CODER_BYTE] == 0


@pytest.mark.parametrize("shape", [(16, 64, 64), (5, 37, 23), (2, 40, 50), (33, 20, 17)])
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16"])
def test_3d_round_trip_fits_the_budget_and_is_the_same_with_plain_loops(
        default_model: RuntimeModel, shape: tuple[int, int, int], dtype: str) -> None:
    chunk = _smooth_in_z(shape).astype(dtype)
    if dtype != "uint8":
        chunk = (chunk.astype(np.int64) * 40 - (2000 if dtype == "int16" else 0)).astype(dtype)
    header, sections = Ratio3DCoder(z_levels=(cdf97_z.max_levels(shape[0]),)).encode(
        chunk, default_model, QualitySettings(ratio=8.0))
    stream = pack_chunk(header, sections)
    assert stream[CODER_BYTE] == 2 and len(stream) <= chunk.nbytes / 8
    out = decode_chunk(default_model, stream, chunk.shape, chunk.dtype)
    assert out.dtype == chunk.dtype and out.shape == chunk.shape
    assert out.min() >= chunk.min() and out.max() <= chunk.max()
    if chunk.size <= 5000:  # the loops as plain Python (UNICOMPRESS_NUMBA=0): small chunks only
        with plain_loops():
            np.testing.assert_array_equal(decode_chunk(default_model, stream), out)


def test_ablation_codes_today_s_2d_streams(default_model: RuntimeModel) -> None:
    chunk = _smooth_in_z((8, 64, 64))
    quality = QualitySettings(ratio=8.0)
    two_d = pack_chunk(*Ratio3DCoder(z_levels=(0,)).encode(chunk, default_model, quality))
    assert two_d == pack_chunk(*encode_wavelet_residual(RatioCoder(), default_model, chunk, quality))
    assert isinstance(registry.encoder_for(chunk, quality), RatioContextCoder)  # coder 2 from v0.6 on: decode only


def _stream_3d(model: RuntimeModel) -> tuple[ChunkHeader, ChunkSections]:
    chunk = _smooth_in_z((8, 32, 32))
    return Ratio3DCoder(z_levels=(2,)).encode(chunk, model, QualitySettings(ratio=6.0))


@pytest.mark.parametrize(("change", "message"), [
    ({"z_levels": 0}, "parameters are invalid"),
    ({"z_levels": cdf97_z.MAX_Z_LEVELS + 1}, "parameters are invalid"),
    ({"levels": 1}, "wavelet levels"),
    ({"flat_value": 300}, "flat base"),
    ({"step": float("nan")}, "parameters are invalid"),
])
def test_damaged_3d_parameters_are_refused(default_model: RuntimeModel, change: dict, message: str) -> None:
    header, sections = _stream_3d(default_model)
    params = Wavelet3DParams.unpack(sections.classes)
    forged = Wavelet3DParams(**{**params.__dict__, **change})
    stream = pack_chunk(header, ChunkSections(sections.tables, forged.pack(), sections.words))
    with pytest.raises(ChunkCorrupt, match=message):
        decode_chunk(default_model, stream)


def test_damaged_3d_streams_are_refused(default_model: RuntimeModel) -> None:
    header, sections = _stream_3d(default_model)
    with pytest.raises(ChunkCorrupt, match="3D wavelet parameters are"):
        decode_chunk(default_model, pack_chunk(header, ChunkSections(sections.tables, sections.classes[:-1],
                                                                     sections.words)))
    no_flat = ChunkHeader(**{**header.__dict__, "flags": header.flags & ~ratio3d.FLAG_FLAT_BASE})
    with pytest.raises(ChunkCorrupt, match="flat-base flags"):
        decode_chunk(default_model, pack_chunk(no_flat, sections))
    deeper = ChunkHeader(**{**header.__dict__, "shape": (1, *header.shape[1:])})
    with pytest.raises(ChunkCorrupt):
        decode_chunk(default_model, pack_chunk(deeper, sections))
    with pytest.raises(ChunkCorrupt):
        decode_chunk(default_model, pack_chunk(header, ChunkSections(sections.tables, sections.classes,
                                                                     sections.words[:-6])))
    assert unpack_chunk(pack_chunk(header, sections))[0].coder == 2


@pytest.mark.parametrize("shards", [None, (16, 64, 64)])
def test_census_counts_each_coder_choice(tmp_path, shards) -> None:
    zarr = pytest.importorskip("zarr")
    from zarr_unicompress.chunk_census import census, chunks_per_shard
    from zarr_unicompress.zarr3 import UniCompressCodec

    volume = np.concatenate([_smooth_in_z((8, 64, 64)), np.stack([em_like_stand_in((1, 64, 64), seed=k)[0]
                                                                   for k in range(8)])])
    path = tmp_path / "a.zarr"
    array = zarr.create_array(str(path), shape=volume.shape, chunks=(8, 32, 64), shards=shards, dtype="uint8",
                              serializer=UniCompressCodec(ratio=8.0), compressors=None)
    array[:] = volume
    counts = census(path, chunks_per_shard(array.metadata.to_dict()))
    assert sum(counts.values()) == 4
    assert counts.get("ratio 2D", 0) >= 1 and sum(v for k, v in counts.items() if k.startswith("ratio 3D")) >= 1


def test_census_names_registered_coders_and_counts_unknown_ones(default_model) -> None:
    from dataclasses import replace

    from zarr_unicompress.chunk_census import stream_kind

    stream = encode_chunk(default_model, em_like_stand_in((2, 32, 32)), QualitySettings(max_error=2))
    assert stream_kind(stream) == "predictive max_error"
    header, sections = unpack_chunk(stream)
    assert stream_kind(pack_chunk(replace(header, coder=200), sections)) == "coder 200"

"""The context-coded ratio mode (coder 3): contexts against a NumPy reference, round trips,
budgets, determinism, the model's tables (in the blob, strictly checked), streams of v0.5.0,
damaged streams."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from tests.common import em_like_stand_in
from zarr_unicompress.bitstream import ChunkSections, pack_chunk, unpack_chunk
from zarr_unicompress.errors import ChunkCorrupt, ModelCorrupt
from zarr_unicompress.fitting.ratio_tables import chunk_histograms, fit_tables
from zarr_unicompress.runtime import numba_support
from zarr_unicompress.runtime.chunk_codec import QualitySettings, decode_chunk, encode_chunk
from zarr_unicompress.runtime.coders.ratio3d import Ratio3DCoder
from zarr_unicompress.runtime.coders.ratio_ctx import ContextParams, RatioContextCoder
from zarr_unicompress.runtime.entropy import context_kernels
from zarr_unicompress.runtime.entropy.context_kernels import ALPHABET, CAP, LOCAL_EDGES, PARENT_CLASSES
from zarr_unicompress.runtime.entropy.context_tables import META_KEY, ContextTables, encode_meta
from zarr_unicompress.runtime.entropy.contexts import default_tables, fill_scratch, scratch_band, tables_of
from zarr_unicompress.runtime.inr.model import RuntimeModel, load_model
from zarr_unicompress.runtime.inr.weights import pack_weights, unpack_weights

DATA = Path(__file__).parent / "data"


def _chunk(shape=(8, 128, 128), seed: int = 4) -> np.ndarray:
    """An EM-like stand-in chunk smooth along z (so that z levels are taken), 2**17 voxels."""
    vol = em_like_stand_in(shape, seed=seed).astype(np.float32)
    vol[1:] = 0.6 * vol[1:] + 0.4 * vol[:-1]
    return np.rint(vol).astype(np.uint8)


def _reference_contexts(flags: np.ndarray, values: np.ndarray, shape, parent: np.ndarray | None) -> np.ndarray:
    """Contexts of a band's coded values, the obvious way: the band from its blocks, each value's
    visiting order, and per value the capped magnitudes of the neighbours visited before it."""
    z, y, x = shape
    by, bx = -(-y // 4), -(-x // 4)
    band = np.zeros((z, by * 4, bx * 4), np.int64)
    order = np.full(band.shape, np.iinfo(np.int64).max)
    i = 0
    for n, flag in enumerate(flags):
        if flag:
            bz, rem = divmod(n, by * bx)
            r0, c0 = divmod(rem, bx)
            for k in range(16):
                band[bz, r0 * 4 + k // 4, c0 * 4 + k % 4] = values[i]
                order[bz, r0 * 4 + k // 4, c0 * 4 + k % 4] = i
                i += 1
    out = np.empty(i, np.int64)
    cap = np.minimum(np.abs(band), CAP)
    for pos in zip(*np.nonzero(order < np.iinfo(np.int64).max)):
        zz, yy, xx = pos
        me = order[pos]

        def seen(dz, dy, dx):
            a, b, c = zz + dz, yy + dy, xx + dx
            if a < 0 or b < 0 or c < 0 or c >= band.shape[2] or order[a, b, c] >= me:
                return 0
            return int(cap[a, b, c])

        local = 2 * seen(0, 0, -1) + 2 * seen(0, -1, 0) + seen(0, -1, -1) + seen(0, -1, 1) + 2 * seen(-1, 0, 0)
        cls = int(np.searchsorted(LOCAL_EDGES, local, side="right")) - 1
        p = 0 if parent is None else min(int(min(abs(parent[zz, yy // 2, xx // 2]), CAP)), PARENT_CLASSES - 1)
        out[me] = cls * PARENT_CLASSES + p
    return out


@pytest.mark.parametrize("compiled", [True, False])
def test_contexts_equal_the_reference(compiled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not compiled:
        original = numba_support.loops
        monkeypatch.setattr(numba_support, "loops", lambda name: context_kernels if "context" in name else original(name))  # plain context loops
    rng = np.random.default_rng(1)
    parent_shape, shape = (2, 5, 6), (2, 10, 11)
    parent_vals = rng.integers(-4, 5, 2 * 2 * 2 * 16).astype(np.int32)
    parent_flags = np.ones(2 * 2 * 2, np.int8)
    parent_scratch = scratch_band(parent_shape)
    fill_scratch(parent_flags, parent_vals, parent_scratch, None)
    flags = (rng.random(2 * 3 * 3) < 0.6).astype(np.int8)
    values = (rng.laplace(0, 4, int(flags.sum()) * 16)).astype(np.int32)
    scratch = scratch_band(shape)
    got = fill_scratch(flags, values, scratch, parent_scratch)
    want = _reference_contexts(flags, values, shape, parent_scratch[1:, 1:, 1:])
    np.testing.assert_array_equal(got, want)
    # the encoder's one-pass kernel: the same contexts and scratch, their (context, clipped value)
    # counts and the values of magnitude >= ALPHABET_HALF in order
    from zarr_unicompress.runtime.entropy.contexts import _CLASSES, kernels
    from zarr_unicompress.runtime.entropy.context_kernels import ALPHABET_HALF, N_CONTEXTS

    values[:3] = [40, -24, 24]
    scratch = scratch_band(shape)
    want = fill_scratch(flags, values, scratch, parent_scratch)
    contexts, hist = np.empty(len(values), np.uint8), np.zeros((N_CONTEXTS, ALPHABET), np.int64)
    big, again = np.empty(len(values), np.int32), scratch_band(shape)
    n_big = (kernels() if compiled else context_kernels).band_histogram(flags, values, again, parent_scratch, True,
                                                                      _CLASSES, contexts, hist, big)
    np.testing.assert_array_equal(contexts, want)
    np.testing.assert_array_equal(again, scratch)
    np.testing.assert_array_equal(big[:n_big], values[np.abs(values) >= ALPHABET_HALF])
    codes = np.clip(values, -ALPHABET_HALF, ALPHABET_HALF) + ALPHABET_HALF
    np.testing.assert_array_equal(hist.ravel(), np.bincount(want * ALPHABET + codes, minlength=hist.size))


def test_round_trip_fits_the_budget_and_is_deterministic(default_model: RuntimeModel) -> None:
    chunk = _chunk()
    for ratio in (4.0, 16.0, 64.0):
        quality = QualitySettings(ratio=ratio)
        stream = encode_chunk(default_model, chunk, quality)
        assert stream[7] == 3
        assert len(stream) <= chunk.nbytes / ratio
        assert encode_chunk(default_model, chunk, quality) == stream
        out = decode_chunk(default_model, stream)
        assert out.shape == chunk.shape and out.dtype == chunk.dtype
        # the same transform and quantiser as coder 2: the same voxels where the steps agree
        header, sections = unpack_chunk(stream)
        params, _ = ContextParams.unpack(sections.classes)
        assert 0 <= params.z_levels <= 3
        mse = np.mean((out.astype(float) - chunk) ** 2)
        assert 10 * np.log10(255**2 / mse) > {4.0: 30, 16.0: 22, 64.0: 17}[ratio]


def test_plain_kernels_write_and_read_the_same_streams(default_model: RuntimeModel,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    chunk = _chunk()
    quality = QualitySettings(ratio=16.0)
    stream = encode_chunk(default_model, chunk, quality)
    decoded = decode_chunk(default_model, stream)
    original = numba_support.loops
    monkeypatch.setattr(numba_support, "loops", lambda name: context_kernels if "context" in name else original(name))  # plain context loops
    assert encode_chunk(default_model, chunk, quality) == stream
    np.testing.assert_array_equal(decode_chunk(default_model, stream), decoded)


def test_contexts_cost_no_more_than_coder_2(default_model: RuntimeModel) -> None:
    chunk = _chunk(seed=9)
    for ratio in (8.0, 32.0):
        quality = QualitySettings(ratio=ratio)
        ours = decode_chunk(default_model, encode_chunk(default_model, chunk, quality))
        old = decode_chunk(default_model, pack_chunk(*Ratio3DCoder().encode(chunk, default_model, quality)))
        err = [np.mean((x.astype(float) - chunk) ** 2) for x in (ours, old)]
        assert err[0] <= err[1] * 1.01


def test_stream_tables_only_need_no_model_tables(default_model: RuntimeModel) -> None:
    chunk = _chunk()
    header, sections = RatioContextCoder(model_tables=False).encode(chunk, default_model, QualitySettings(ratio=8.0))
    params, _ = ContextParams.unpack(sections.classes)
    assert params.tables_digest == bytes(8)
    assert decode_chunk(default_model, pack_chunk(header, sections)).shape == chunk.shape


def test_streams_of_v050_still_decode(default_model: RuntimeModel) -> None:
    meta = json.loads((DATA / "v050_ratio_streams.json").read_text())["streams"]
    streams = np.load(DATA / "v050_ratio_streams.npz")
    assert set(meta) == set(streams.files)
    for key, info in meta.items():
        stream = streams[key].tobytes()
        assert stream[7] == info["coder"] in (0, 2)
        assert hashlib.sha256(decode_chunk(default_model, stream).tobytes()).hexdigest() == info["decoded_sha256"], key


def _with_tables(blob: bytes, text: object) -> bytes:
    weights = unpack_weights(blob)
    return pack_weights(weights.arch, {**weights.meta, META_KEY: text}, weights.tensors)


def test_tables_travel_in_the_model_blob_and_are_named_by_each_chunk(default_model: RuntimeModel) -> None:
    chunk = _chunk()
    own = fit_tables(chunk_histograms(chunk, default_model), n_tables=4)
    model = load_model(_with_tables(default_model.blob, encode_meta(own)))
    assert tables_of(model).digest == own.digest != default_tables().digest
    stream = encode_chunk(model, chunk, QualitySettings(ratio=16.0))
    params, _ = ContextParams.unpack(unpack_chunk(stream)[1].classes)
    assert params.tables_digest in (bytes(8), bytes.fromhex(own.digest[:16]))
    assert decode_chunk(model, stream).shape == chunk.shape
    header, sections = unpack_chunk(encode_chunk(default_model, chunk, QualitySettings(ratio=16.0)))
    assert ContextParams.unpack(sections.classes)[0].tables_digest == bytes.fromhex(default_tables().digest[:16])
    with pytest.raises(ChunkCorrupt, match="ratio tables"):  # the default tables' stream, this model's tables
        RatioContextCoder().decode(header, sections, model)


@pytest.mark.parametrize("text", ["", "not base64!", 7, "QUJD"])
def test_damaged_tables_in_the_blob_raise(default_model: RuntimeModel, text: str) -> None:
    with pytest.raises(ModelCorrupt):
        load_model(_with_tables(default_model.blob, text))


def test_tables_are_checked_strictly() -> None:
    good = default_tables()
    assert ContextTables.from_bytes(good.to_bytes()).digest == good.digest
    data = bytearray(good.to_bytes())
    data[-1] ^= 1
    with pytest.raises(ModelCorrupt, match="sha256"):
        ContextTables.from_bytes(bytes(data))
    with pytest.raises(ModelCorrupt, match="magic"):
        ContextTables.from_bytes(b"XXXX" + bytes(data[4:]))
    bad = good.freq.copy()
    bad[0, 0] += 1
    with pytest.raises(ModelCorrupt, match="sum"):
        ContextTables(bad)
    with pytest.raises(ModelCorrupt):
        ContextTables(np.zeros((0, ALPHABET), np.int64))


def _encoded(model: RuntimeModel) -> tuple:
    return unpack_chunk(encode_chunk(model, _chunk(), QualitySettings(ratio=16.0)))


def test_damaged_streams_raise_chunk_corrupt(default_model: RuntimeModel) -> None:
    header, sections = _encoded(default_model)
    coder = RatioContextCoder()
    cases = [
        ChunkSections(sections.tables, sections.classes[:5], sections.words),
        ChunkSections(sections.tables, sections.classes, sections.words[:-2]),
        ChunkSections(sections.tables, sections.classes, sections.words[:3]),
        ChunkSections(sections.tables, sections.classes, sections.words + b"\0\0"),
        ChunkSections(sections.tables[:-1], sections.classes, sections.words),
    ]
    params, section = ContextParams.unpack(sections.classes)
    wrong = ContextParams(params.step, params.levels, params.flat_value, params.z_levels, b"\x01" * 8,
                          params.section_bytes)
    cases.append(ChunkSections(sections.tables, wrong.pack() + section, sections.words))
    for damaged in cases:
        with pytest.raises(ChunkCorrupt):
            coder.decode(header, damaged, default_model)


def test_random_damage_never_crashes(default_model: RuntimeModel) -> None:
    header, sections = _encoded(default_model)
    rng = np.random.default_rng(0)
    for trial in range(40):
        parts = [bytearray(p) for p in (sections.tables, sections.classes, sections.words)]
        part = parts[trial % 3]
        for _ in range(3):
            if len(part):
                part[int(rng.integers(len(part)))] ^= int(rng.integers(1, 256))
        try:
            out = RatioContextCoder().decode(header, ChunkSections(*map(bytes, parts)), default_model)
        except ChunkCorrupt:
            continue
        assert out.shape == header.shape


def test_fitted_tables_are_valid_and_code_their_histograms_better_than_one_table(default_model) -> None:
    hist = chunk_histograms(_chunk(), default_model)
    assert hist.shape[1] == ALPHABET and len(hist) > 10
    one, four = fit_tables(hist, 1), fit_tables(hist, 4)

    def bits(tables: ContextTables) -> float:
        return float(np.min(hist @ tables.cost.T, axis=1).sum())

    assert bits(four) < bits(one)
    assert int(context_kernels.class_table()[0]) == 0


def _reference_costs(hist: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, ...]:
    """NumPy reference of context_kernels.band_costs: (freq, own, best, model_bits)."""
    from tests.reference.estimate import table_entry_bits
    from zarr_unicompress.runtime.entropy.contexts import _FIX, cost_of_freq

    present = hist > 0
    total = np.maximum(hist.sum(axis=1), 1)[:, None]
    scaled = hist * ((1 << 14) - present.sum(axis=1))[:, None]
    freq = np.where(present, 1 + scaled // total, 0)
    remainders = np.where(present, -(scaled % total), np.iinfo(np.int64).max)
    rank = np.argsort(np.argsort(remainders, axis=1, kind="stable"), axis=1, kind="stable")
    left = (1 << 14) - freq.sum(axis=1)
    freq += present & (rank < left[:, None])
    own = (hist * cost_of_freq()[freq]).sum(axis=1)
    own += _FIX * (8 + np.where(present, table_entry_bits(freq.astype(np.float64)), 0.0).sum(axis=1)).astype(np.int64)
    by_table = (hist[:, None, :] * cost[None]).sum(axis=2) if len(cost) else np.zeros((len(hist), 1), np.int64)
    best = np.argmin(by_table, axis=1)
    return freq, own, best, by_table[np.arange(len(hist)), best]


@pytest.mark.parametrize("plain", [False, True])
def test_band_costs_equal_the_rans_normalisation_and_a_reference(plain: bool) -> None:
    from zarr_unicompress.runtime.entropy.contexts import cost_of_freq, default_tables, kernels
    from zarr_unicompress.runtime.entropy.rans import normalized_frequencies

    rng = np.random.default_rng(3)
    hist = rng.integers(0, 50, (40, ALPHABET)) * (rng.random((40, ALPHABET)) < 0.4)
    hist[0] = 0
    hist[1] = 0
    hist[1, 5] = 9
    hist[2, 7] = 10**7
    loops = context_kernels if plain else kernels()
    for cost in (cost_of_freq()[default_tables().freq], np.zeros((0, ALPHABET), np.int64)):
        got = [np.empty_like(hist), *(np.empty(len(hist), np.int64) for _ in range(3))]
        loops.band_costs(hist, cost, cost_of_freq(), *got)
        for g, w in zip(got, _reference_costs(hist, cost)):
            np.testing.assert_array_equal(g, w)
    for row, freq in zip(hist, got[0]):
        present = np.flatnonzero(row)
        want = np.zeros(ALPHABET, np.int64)
        if len(present) > 1:
            want[present] = normalized_frequencies(row[present])
        elif len(present) == 1:
            want[present] = 1 << 14
        np.testing.assert_array_equal(freq, want)


@pytest.mark.parametrize("plain", [False, True])
def test_choose_tables_picks_the_cheaper_table_within_the_room(plain: bool) -> None:
    from zarr_unicompress.runtime.entropy.contexts import kernels

    loops = context_kernels if plain else kernels()
    hist = np.zeros((4, ALPHABET), np.int64)
    hist[1:, 3] = 5  # context 0 does not occur
    own, best, model = np.array([0, 10, 30, 50]), np.array([0, 4, 5, 6]), np.array([0, 20, 30, 40])
    selectors = np.empty(4, np.int64)
    assert tuple(loops.choose_tables(hist, own, best, model, True, 8, selectors)) == (10 + 30 + 40, 1)
    np.testing.assert_array_equal(selectors, [0, 1, 7, 8])
    assert tuple(loops.choose_tables(hist, own, best, model, False, 8, selectors)) == (10 + 30 + 50, 3)
    np.testing.assert_array_equal(selectors, [0, 1, 1, 1])
    # no room for stream tables: the model's for all, or no context coding without a model
    assert tuple(loops.choose_tables(hist, own, best, model, True, 0, selectors)) == (20 + 30 + 40, 0)
    np.testing.assert_array_equal(selectors, [0, 6, 7, 8])
    assert tuple(loops.choose_tables(hist, own, best, model, False, 2, selectors)) == (-1, 0)


@pytest.mark.parametrize("table", [[], [(-1, 1 << 14)], [(ALPHABET, 1 << 14)], [(3, 100), (4, 100)]])
def test_a_damaged_stream_table_is_refused(default_model: RuntimeModel, table) -> None:
    from zarr_unicompress.runtime.entropy.contexts import ContextDecoder
    from zarr_unicompress.runtime.entropy.groups import FrequencyTable, _pack_tables

    symbols = np.array([s for s, _ in table], np.int64)
    counts = np.array([c for _, c in table], np.int64)
    section = _pack_tables([FrequencyTable(symbols, counts)])
    selectors = np.zeros((1, context_kernels.N_CONTEXTS), np.int64)
    selectors[0, 0] = 1
    with pytest.raises(ChunkCorrupt, match="context table"):
        ContextDecoder(section, b"", selectors, None)


def test_census_names_context_chunks_and_their_z_levels(default_model: RuntimeModel) -> None:
    from zarr_unicompress.chunk_census import stream_kind

    stream = encode_chunk(default_model, _chunk(), QualitySettings(ratio=16.0))
    params, _ = ContextParams.unpack(unpack_chunk(stream)[1].classes)
    assert stream_kind(stream) == f"ratio contexts, {params.z_levels} z levels"


def test_fit_ratio_tables_on_a_volume_and_none_for_small_chunks(default_model: RuntimeModel) -> None:
    from zarr_unicompress.fitting.ratio_tables import fit_ratio_tables

    volume = np.concatenate([_chunk(seed=1), _chunk(seed=2)])
    tables = fit_ratio_tables(volume, (8, 128, 128), default_model, max_chunks=2)
    assert tables is not None and 1 <= tables.n_tables <= 32
    assert ContextTables.from_bytes(tables.to_bytes()).digest == tables.digest
    assert fit_ratio_tables(volume, (4, 32, 32), default_model, max_chunks=2) is None

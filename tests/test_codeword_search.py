"""The encoder's codeword search: NumPy and torch give the same indices; bad devices are refused."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.common import check_round_trip, em_block
from zarr_unicompress.errors import UnsupportedInput
from zarr_unicompress.runtime.inr import codeword_search
from zarr_unicompress.runtime.chunk_codec import QualitySettings
from zarr_unicompress.runtime.inr.model import RuntimeModel
from zarr_unicompress.runtime.inr.tokens import to_tokens

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def numpy_search_afterwards() -> Iterator[None]:
    yield
    codeword_search.set_search_device(None)


def normalised_tokens(model: RuntimeModel, block: np.ndarray) -> np.ndarray:
    lo, hi = float(block.min()), float(block.max())
    return (to_tokens(block, model.token_shape).astype(np.float32) - lo) / np.float32(hi - lo)


def test_torch_search_matches_numpy(default_model: RuntimeModel) -> None:
    """Same indices, except where two codewords lie equally near a token (float rounding)."""
    tokens = normalised_tokens(default_model, em_block((8, 256, 256)))
    table = default_model.table_float
    by_numpy = codeword_search.nearest_table_entries(default_model.digest, table, tokens)
    codeword_search.set_search_device("cpu")
    by_torch = codeword_search.nearest_table_entries(default_model.digest, table, tokens)
    differ = np.flatnonzero(by_numpy != by_torch)
    assert len(differ) <= len(tokens) // 1000
    dist = lambda idx: ((tokens[differ] - table[idx[differ]]) ** 2).sum(1)
    np.testing.assert_allclose(dist(by_torch), dist(by_numpy), rtol=1e-4, atol=1e-5)


def test_streams_encoded_with_torch_search_decode_within_bound(default_model: RuntimeModel) -> None:
    codeword_search.set_search_device("cpu")
    check_round_trip(default_model, em_block((6, 64, 80)), QualitySettings(max_error=2))
    check_round_trip(default_model, em_block((6, 64, 80)), QualitySettings())


@pytest.mark.parametrize("device", ["tpu", "not-a-device", "cuda:0"])
def test_unusable_devices_are_refused(device: str) -> None:
    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UnsupportedInput, match="device"):
        codeword_search.set_search_device(device)
    assert codeword_search.search_device() is None


def test_default_search_device() -> None:
    assert codeword_search.default_search_device("cpu") is None
    assert codeword_search.default_search_device("cuda:1") == "cuda:1"
    assert codeword_search.default_search_device(None) == ("cuda" if torch.cuda.is_available() else None)


def test_search_in_the_leading_directions_finds_a_nearest_entry(default_model: RuntimeModel) -> None:
    """The search in the table's first SEARCH_RANK principal directions picks the entry of
    the full V-dim distance argmin for most tokens; the others are near misses (summed
    squared-distance regret below 0.1 %, no token's above a tenth of its distance)."""
    tokens = normalised_tokens(default_model, em_block((8, 256, 256)))
    table = default_model.table_float
    basis, coords, _ = codeword_search.search_table(default_model.digest, table)
    rank = codeword_search.SEARCH_RANK
    assert basis.shape == (table.shape[1], rank) and coords.shape == (table.shape[0], rank)
    found = codeword_search.nearest_table_entries(default_model.digest, table, tokens)
    table64 = table.astype(np.float64)
    full = np.concatenate([((tokens[s : s + 2048, None, :] - table64[None]) ** 2).sum(2)
                           for s in range(0, len(tokens), 2048)])
    best = full.min(axis=1)
    chosen = full[np.arange(len(tokens)), found]
    assert np.count_nonzero(chosen > best) <= len(tokens) // 20
    assert chosen.sum() <= 1.001 * best.sum()
    assert (chosen - best).max() <= 0.1 * best.max()


def test_search_in_all_directions_finds_the_nearest_entry(default_model: RuntimeModel,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """With every direction of the table's span (rank >= K), the same search is the exact
    nearest-entry search, except for float32 ties (squared-distance regret < 1e-3): the
    reduction to the first directions is the only approximation."""
    monkeypatch.setattr(codeword_search, "SEARCH_RANK", default_model.codebook_size)
    tokens = normalised_tokens(default_model, em_block((4, 128, 128)))
    table = default_model.table_float
    found = codeword_search.nearest_table_entries("all-directions-" + default_model.digest, table, tokens)
    full = ((tokens[:, None, :] - table.astype(np.float64)[None]) ** 2).sum(2)
    chosen = full[np.arange(len(tokens)), found]
    assert (chosen - full.min(axis=1)).max() < 1e-3
    assert np.count_nonzero(chosen > full.min(axis=1)) <= len(tokens) // 1000


def test_threads_that_meet_a_new_table_compute_its_search_basis_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """zarr encodes a shard's chunks in threads at once: one SVD, not one per thread (eight
    concurrent multithreaded SVDs took 2-3 s instead of 12 ms)."""
    import threading

    table = np.random.default_rng(3).random((64, 32)).astype(np.float32)
    calls = []
    svd = np.linalg.svd

    def counted_svd(*args, **kwargs):
        calls.append(1)
        return svd(*args, **kwargs)

    monkeypatch.setattr(np.linalg, "svd", counted_svd)
    start = threading.Barrier(8)
    results = []

    def search() -> None:
        start.wait()
        results.append(codeword_search.search_table("test-concurrent-table", table))

    threads = [threading.Thread(target=search) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 8
    assert all(r is results[0] for r in results)


@pytest.mark.skipif(codeword_search._gpu_device_nodes_may_exist(), reason="this machine has GPU device nodes")
def test_a_job_on_a_machine_without_gpu_nodes_picks_numpy_without_importing_torch() -> None:
    from tests.common import run_fresh_python

    out = run_fresh_python("""
        import sys
        from zarr_unicompress.runtime.inr.codeword_search import default_search_device
        print(default_search_device(None), "torch" in sys.modules)
    """)
    assert out.split() == ["None", "False"]


@pytest.mark.parametrize("shape", [(30, 512, 512), (13, 300, 200), (16, 256, 256), (5, 45, 70), (1, 8, 8)])
def test_indices_searched_a_few_token_rows_at_a_time_equal_those_of_all_tokens(
        default_model: RuntimeModel, shape: tuple[int, int, int]) -> None:
    """``codebook_indices`` normalises and searches a few token rows at a time (the last one
    edge-padded along z when the depth is no multiple of the token's): the indices of the
    search over all the chunk's tokens at once."""
    from zarr_unicompress.runtime.inr.prediction import codebook_indices, select_indices
    from zarr_unicompress.runtime.inr.tokens import normalized_tokens

    vol = em_block(shape)
    lo, hi = int(vol.min()), int(vol.max())
    whole = select_indices(default_model, normalized_tokens(vol, default_model.token_shape, lo, hi), "table")
    np.testing.assert_array_equal(codebook_indices(default_model, vol, lo, hi, "table"), whole)

"""The runtime's loops (runtime/*/*_loops.py; the voxel loops in test_voxel_loops.py) against
the NumPy references of tests/reference, and run as plain Python (as with UNICOMPRESS_NUMBA=0
or without numba) against their compiled selves: streams and decoded voxels do not depend on
whether numba runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zarr_unicompress
from tests import reference
from tests.common import em_block
from tests.reference import plain_loops
from tests.reference import transform as reference_transform
from zarr_unicompress.runtime.transform import cdf97
from zarr_unicompress.runtime import numba_support
from zarr_unicompress.runtime.chunk_codec import (
    QualitySettings,
    decode_chunk,
    encode_chunk,
)
from zarr_unicompress.runtime.inr.model import RuntimeModel
from zarr_unicompress.runtime.transform.wavelet_residual import (
    ZERO_BLOCK,
    block_grid,
    cut_into_blocks,
)

pytest.importorskip("numba", reason="numba is not installed: only the NumPy path runs")


@pytest.mark.skipif(not numba_support.enabled(), reason="numba turned off (UNICOMPRESS_NUMBA=0)")
def test_the_compiled_loops_are_used_by_default() -> None:
    assert numba_support.enabled()
    for name in reference.LOOP_MODULES:
        module = numba_support.loops(name)
        assert type(module.__dict__[_first_loop(module)]).__name__ == "CPUDispatcher", name


def test_every_loop_module_is_known_to_the_plain_runs() -> None:
    runtime = Path(zarr_unicompress.__file__).parent / "runtime"
    found = {".".join(path.relative_to(runtime).with_suffix("").parts) for path in runtime.rglob("*loops.py")}
    assert found == set(reference.LOOP_MODULES)


def test_the_package_never_falls_back_from_its_loops() -> None:
    """One implementation per kernel: no package module tests whether it got its loops (the
    answer of ``numba_support.loops``, or a name or attribute bound to it) against None to run
    other code instead; where numba does not run, the same loops run plain."""
    import ast

    package = Path(zarr_unicompress.__file__).parent
    found = []
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text())
        bound = {"loops", "_loops"}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                    and ast.unparse(node.value.func).endswith("loops")):
                bound |= {ast.unparse(target).split(".")[-1] for target in node.targets}
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(isinstance(c, ast.Constant) and c.value is None
                                                     for c in node.comparators):
                left = node.left.func if isinstance(node.left, ast.Call) else node.left
                if ast.unparse(left).split(".")[-1] in bound:
                    found.append(f"{path.relative_to(package)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, found


def _first_loop(module: object) -> str:
    """Name of a loop that ``module`` defines (or compiles) itself."""
    return next(name for name, value in vars(module).items()
                if callable(value) and hasattr(value, "py_func") and not name.startswith("__"))


def random_volume(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 100.0, shape).astype(np.float32)


SHAPES_LEVELS = [((3, 64, 64), 3), ((2, 63, 65), 2), ((5, 125, 17), 1), ((1, 9, 9), 1), ((2, 8, 1), 1),
                 ((2, 1, 7), 1), ((1, 2, 2), 1), ((3, 500, 333), 5), ((7, 17, 16), 1), ((6, 45, 70), 3)]


@pytest.mark.parametrize(("shape", "levels"), SHAPES_LEVELS)
@pytest.mark.parametrize("base", ["zero", "number", "array"])
def test_transform_equals_the_numpy_reference(shape: tuple[int, int, int], levels: int, base: str) -> None:
    volume = np.clip(random_volume(shape, sum(shape)) + 128, 0, 255).astype(np.uint8)
    offset = {"zero": 0.0, "number": 117.0, "array": random_volume(shape, 1) / 7}[base]
    bands = cdf97.analyze(volume, levels, offset)
    decoded = cdf97.synthesize([b * np.float32(1.37) for b in bands], levels, shape)
    want_bands = reference_transform.analyze(volume, levels, offset)
    want_decoded = reference_transform.synthesize([b * np.float32(1.37) for b in want_bands], levels, shape)
    for got, want in zip(bands, want_bands, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(decoded, want_decoded)


@settings(max_examples=40, deadline=None)
@given(z=st.integers(1, 3), y=st.integers(1, 70), x=st.integers(1, 70), levels=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_transform_equals_the_numpy_reference_on_any_shape(z: int, y: int, x: int, levels: int, seed: int) -> None:
    volume = random_volume((z, y, x), seed)
    bands = cdf97.analyze(volume, levels)
    for got, want in zip(bands, reference_transform.analyze(volume, levels), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(cdf97.synthesize(bands, levels, volume.shape),
                                  reference_transform.synthesize(bands, levels, volume.shape))


@pytest.mark.parametrize(("shape", "levels"), [((1, 9, 9), 2), ((2, 8, 5), 1), ((1, 1, 3), 1)])
def test_plain_lifting_loops_equal_the_compiled_ones(shape: tuple[int, int, int], levels: int) -> None:
    volume = random_volume(shape, 5)
    units = [np.empty((z * -(-y // 4) * -(-x // 4), 16), np.float32) for z, y, x in cdf97.band_shapes(shape, levels)]
    peaks = [np.empty(len(u), np.float32) for u in units]
    bands = cdf97.analyze(volume, levels, 3.0)
    decoded = cdf97.synthesize(bands, levels, shape)
    cdf97.analyze_into_blocks(volume, levels, 3.0, units, peaks, 4)
    with plain_loops():
        for got, want in zip(cdf97.analyze(volume, levels, 3.0), bands, strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(cdf97.synthesize(bands, levels, shape), decoded)
        plain_units = [np.empty_like(u) for u in units]
        plain_peaks = [np.empty_like(p) for p in peaks]
        cdf97.analyze_into_blocks(volume, levels, 3.0, plain_units, plain_peaks, 4)
    for got, want in zip(plain_units + plain_peaks, units + peaks, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape", [(2, 16, 16), (3, 17, 30), (1, 1, 1), (2, 5, 4), (4, 128, 97), (1, 5, 3)])
def test_cut_into_blocks_equals_the_reference_blocks_and_peaks(shape: tuple[int, int, int]) -> None:
    band = random_volume(shape, 3)
    band[0, 0, 0] = -0.0
    z, by, bx = block_grid(shape)
    units, peaks = np.full((z * by * bx, 16), np.nan, np.float32), np.full(z * by * bx, np.nan, np.float32)
    cut_into_blocks(band, units, peaks)
    np.testing.assert_array_equal(units, reference_transform.to_blocks(band))
    np.testing.assert_array_equal(peaks, reference_transform.block_peaks(band))
    np.testing.assert_array_equal(reference_transform.from_blocks(peaks > 0, units[peaks > 0].ravel(), shape), band)
    with pytest.raises(ValueError, match="float32"):
        cut_into_blocks(band.astype(np.float64), units.astype(np.float64), peaks.astype(np.float64))


@pytest.mark.parametrize(("shape", "dtype"), [((2, 24, 20), "uint8"), ((3, 9, 17), "int16")])
def test_plain_loops_give_the_compiled_streams_and_voxels(default_model: RuntimeModel, shape: tuple[int, int, int],
                                                          dtype: str) -> None:
    """What ``UNICOMPRESS_NUMBA=0`` (or a platform without numba) runs: every loop as plain
    Python, on tiny chunks (plain loops are 100-300x slower)."""
    chunk = em_block(shape, dtype)
    modes = [QualitySettings(ratio=6.0), QualitySettings(ratio=30.0), QualitySettings(max_error=2),
             QualitySettings(max_error=0), QualitySettings()]
    streams = [encode_chunk(default_model, chunk, mode) for mode in modes]
    voxels = [decode_chunk(default_model, stream) for stream in streams]
    with plain_loops():
        assert [encode_chunk(default_model, chunk, mode) for mode in modes] == streams
        for stream, want in zip(streams, voxels, strict=True):
            np.testing.assert_array_equal(decode_chunk(default_model, stream), want)


@pytest.mark.parametrize("shape", [(1, 4, 0), (1, 0, 4), (2, 0, 0)])
def test_empty_axes_give_empty_bands(shape: tuple[int, int, int]) -> None:
    volume = np.zeros(shape, np.float32)
    bands = cdf97.analyze(volume, 1)
    assert [b.shape for b in bands] == [b.shape for b in reference_transform.analyze(volume, 1)]
    assert cdf97.synthesize(bands, 1, shape).shape == shape


def test_big_endian_chunks_encode_as_their_native_twins(default_model: RuntimeModel) -> None:
    chunk = em_block((16, 128, 128), "uint16")
    for mode in (QualitySettings(ratio=8.0), QualitySettings(max_error=2)):
        assert encode_chunk(default_model, chunk.astype(">u2"), mode) == encode_chunk(default_model, chunk, mode)


@pytest.mark.parametrize("zero_blocks", [True, False])
@pytest.mark.parametrize("shape", [(16, 256, 256), (6, 40, 52)])
def test_coded_values_and_estimates_equal_the_reference_at_every_step(shape: tuple[int, int, int],
                                                                      zero_blocks: bool) -> None:
    """The quantiser of zero blocks and the size estimate (:mod:`.estimate_loops`, with the
    joint histogram and band by band) give the NumPy reference's values and estimates to the
    last bit."""
    from tests.reference import estimate as reference_estimate
    from tests.reference import quantize as reference_quantize
    from zarr_unicompress.runtime.quantize import rate_control
    from zarr_unicompress.runtime.quantize.band_units import BandUnits
    from zarr_unicompress.runtime.quantize.rate_control import SizeEstimator

    chunk = em_block(shape)
    units = BandUnits.of_signal(chunk, 3, float(chunk.mean()), zero_blocks=zero_blocks)
    steps = [0.05, 0.3, 1.0, 2.5, 7.0, 30.0, 400.0]
    if zero_blocks:
        for step in steps:
            for band, (unit, peak) in enumerate(zip(units.units, units.peaks, strict=True)):
                got = units.band_groups(band, step)
                want = reference_quantize.band_groups(unit, peak, step, band > 0)
                for a, b in zip(got, want, strict=True):
                    np.testing.assert_array_equal(a, b)
                    assert a.dtype == b.dtype
    estimator = SizeEstimator(units)
    bits = [estimator.bits(step) for step in steps]
    sample = (estimator._units, estimator._peaks if zero_blocks else None, estimator._band, estimator._n_bands)
    want = [reference_estimate.sample_bits(*sample, step, estimator._scales, estimator._totals, 1.0) for step in steps]
    assert bits == want
    joint_bins = rate_control._JOINT_HISTOGRAM_BINS
    try:  # band by band (the joint histogram of every estimate "too wide")
        rate_control._JOINT_HISTOGRAM_BINS = 0
        assert [SizeEstimator(units).bits(step) for step in steps] == want
    finally:
        rate_control._JOINT_HISTOGRAM_BINS = joint_bins


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"])
def test_frequency_tables_and_codes_equal_the_reference(dtype: str) -> None:
    from tests.reference.entropy import table as reference_table
    from zarr_unicompress.runtime.entropy.groups import _table_and_codes

    info = np.iinfo(dtype) if dtype != "bool" else np.iinfo(np.uint8)
    rng = np.random.default_rng(7)
    cases = [rng.integers(max(info.min, -60), min(info.max, 60), 5000, endpoint=True).astype(dtype),
             np.array([info.min, 0, info.max, 0, 1], dtype) if info.bits <= 16 else
             np.array([0, 1 << 21, 5, 5], dtype),  # a span of 2**20 and more: the sorted path
             np.full(7, 3, dtype)]
    with plain_loops():
        plain = [_table_and_codes(flat[:50]) for flat in cases]
    for flat, (table, codes, base, offsets), (_, plain_codes, plain_base, _) in zip(cases, map(_table_and_codes, cases),
                                                                                    plain, strict=True):
        symbols, counts = reference_table(flat.astype(np.int64) if flat.dtype != np.uint64 else flat)
        np.testing.assert_array_equal(table.symbols, symbols.astype(np.int64))
        np.testing.assert_array_equal(table.counts, counts)
        # each value's code names its own symbol
        np.testing.assert_array_equal(table.symbols[np.searchsorted(base + offsets, codes.astype(np.int64))],
                                      flat.astype(np.int64) if flat.dtype != np.uint64 else flat)
        small = _table_and_codes(flat[:50])
        np.testing.assert_array_equal(small[1], plain_codes)
        assert small[2] == plain_base


def test_analyze_into_blocks_refuses_arrays_its_loops_would_overrun() -> None:
    volume = np.zeros((2, 16, 16), np.uint8)
    shapes = cdf97.band_shapes(volume.shape, 2)
    units = [np.empty((z * -(-y // 4) * -(-x // 4), 16), np.float32) for z, y, x in shapes]
    peaks = [np.empty(len(u), np.float32) for u in units]
    assert cdf97.analyze_into_blocks(volume, 2, 0.0, units, peaks, 4)
    with pytest.raises(ValueError, match="C-contiguous float32"):
        cdf97.analyze_into_blocks(volume, 2, 0.0, units[:-1] + [units[-1][1:]], peaks, 4)
    with pytest.raises(ValueError, match="base of shape"):
        cdf97.analyze_into_blocks(volume, 2, np.zeros((2, 16, 15)), units, peaks, 4)


def run_python_here(code: str, **env: str) -> str:
    """Run ``code`` in a new interpreter that imports the package under test; return stdout."""
    root = str(Path(zarr_unicompress.__file__).parent.parent)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": root, **env}, cwd="/")
    assert proc.returncode == 0, f"fresh process failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.skipif(not numba_support.enabled(), reason="numba turned off (UNICOMPRESS_NUMBA=0)")
def test_a_module_numba_fails_on_runs_its_loops_plain_with_a_warning() -> None:
    out = run_python_here("""
        import importlib, warnings
        from zarr_unicompress.runtime import numba_support
        real, refused = importlib.import_module, []
        def refusing_once(name, *args):
            if name.endswith("table_loops") and not refused:
                refused.append(name)
                raise RuntimeError("numba cannot set this module up")
            return real(name, *args)
        importlib.import_module = refusing_once
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = numba_support.loops("entropy.table_loops")
        print(len(refused), type(module.histogram).__name__, "plain Python" in str(caught[0].message))
    """)
    assert out.split() == ["1", "function", "True"]


@pytest.mark.skipif(not numba_support.enabled(), reason="numba turned off (UNICOMPRESS_NUMBA=0)")
def test_loops_that_find_no_cache_directory_compile_into_a_temporary_one() -> None:
    """numba refuses ``cache=True`` where no cache directory is writable (read-only installs
    without a home): the loops are then cached in a directory of this user under the temporary
    directory instead of leaving them plain Python, and numba's own cache setting is restored."""
    out = run_python_here("""
        import importlib, tempfile, warnings
        from zarr_unicompress.runtime import numba_support
        real, refused = importlib.import_module, []
        def refusing_once(name, *args):
            if name.endswith("rans_loops") and not refused:
                refused.append(name)
                raise RuntimeError("cannot cache function 'normalize_counts': no locator available")
            return real(name, *args)
        importlib.import_module = refusing_once
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            module = numba_support.loops("entropy.rans_loops")
        import os
        from numba.core import config
        private = os.path.join(tempfile.gettempdir(), f"zarr-unicompress-numba-{os.getuid()}")
        print(type(module.decode_group).__name__, len(refused), os.path.isdir(private), config.CACHE_DIR != private)
    """)
    assert out.split() == ["CPUDispatcher", "1", "True", "True"]


def test_environment_variable_turns_the_loops_plain() -> None:
    out = run_python_here("""
        import sys
        from zarr_unicompress.runtime import numba_support
        module = numba_support.loops("transform.lifting_loops")
        print(numba_support.enabled(), type(module.forward_y).__name__, "numba" in sys.modules)
    """, **{numba_support.ENV_SWITCH: "0"})
    assert out.split() == ["False", "function", "False"]


@pytest.mark.parametrize("bad", [1e12, -1e12, float("nan")])
def test_sample_counts_report_values_beyond_the_histogram_instead_of_writing_past_it(bad: float) -> None:
    """A quotient beyond int32 (or a NaN) quantises to INT32_MIN, whose abs() stays negative:
    the loop must say "incomplete" (the caller then counts in NumPy), not index with it."""
    from zarr_unicompress.runtime import numba_support
    from zarr_unicompress.runtime.quantize.band_units import _ROUNDING

    loops = numba_support.loops("quantize.quantize_loops")
    units = np.zeros((64, 16), np.float32)
    units[5, 3] = bad
    peaks = np.nan_to_num(np.abs(units), nan=np.inf).max(1).astype(np.float32)
    for zero_blocks in (False, True):
        coded, _, complete = loops.sample_counts(units, peaks, np.zeros(64, np.int64), 1, zero_blocks, np.float32(1.0),
                                                 _ROUNDING, np.float32(0.65), np.float32(1.65), 1, 10)
        assert not complete
    units[5, 3] = 7.0
    coded, counts, complete = loops.sample_counts(units, peaks, np.zeros(64, np.int64), 1, False, np.float32(1.0),
                                                  _ROUNDING, np.float32(0.65), np.float32(1.65), 1, 10)
    assert complete and counts[0, 10 + 7] == 1 and counts[0, 10] == 64 * 16 - 1 and coded[0] == 64


@pytest.mark.parametrize("shape", [(2, 16, 16), (3, 17, 30), (1, 5, 3), (2, 64, 4), (4, 1, 9), (1, 3, 1)])
@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64"])
def test_dequantized_blocks_equal_the_reference_blocks_times_the_step(shape: tuple[int, int, int], dtype: str) -> None:
    rng = np.random.default_rng(sum(shape))
    nonzero = rng.random(int(np.prod(block_grid(shape)))) < 0.6
    values = rng.integers(-100, 100, int(nonzero.sum()) * ZERO_BLOCK**2).astype(dtype)
    step = np.float32(2.75)
    want = reference_transform.from_blocks(nonzero, values.astype(np.float32), shape)
    want *= step
    got = np.full(shape, np.nan, np.float32)
    numba_support.loops("transform.synthesis_loops").dequantize_blocks(nonzero.view(np.uint8), values, step, got)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("shape", "dtype"), [((16, 256, 256), "uint8"), ((9, 45, 30), "uint16"),
                                             ((5, 130, 70), "int16"), ((3, 64, 64), "int8"), ((1, 33, 1), "uint8")])
def test_inr_based_ratio_streams_decode_as_the_reference(default_model: RuntimeModel, shape: tuple[int, int, int],
                                                         dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reconstruction adds an INR base array as the NumPy reference does (the flat base
    wins on real EM chunks, so the encoder's choice is forced here)."""
    from zarr_unicompress.bitstream import pack_chunk, unpack_chunk
    from zarr_unicompress.runtime.coders import ratio

    monkeypatch.setattr(ratio, "inr_base_wins", lambda *args: True)
    chunk = em_block(shape, dtype)
    # the 2D ratio coder itself (the 3D coder may give such a chunk z levels, which have no INR base)
    coder = ratio.RatioCoder()
    streams = [pack_chunk(*coder.encode(chunk, default_model, QualitySettings(ratio=r))) for r in (4.0, 30.0)]
    assert not any(unpack_chunk(stream)[0].has_flat_base for stream in streams)
    for stream in streams:
        np.testing.assert_array_equal(decode_chunk(default_model, stream),
                                      reference_transform.decode_ratio_stream(default_model, stream))


def test_overflowing_coefficients_are_refused(default_model: RuntimeModel) -> None:
    from zarr_unicompress.bitstream import ChunkSections, pack_chunk, unpack_chunk
    from zarr_unicompress.errors import ChunkCorrupt
    from zarr_unicompress.runtime.transform.wavelet_residual import WaveletParams

    stream = encode_chunk(default_model, em_block((2, 64, 64)), QualitySettings(ratio=4.0))
    header, sections = unpack_chunk(stream)
    params = WaveletParams.unpack(sections.classes)
    forged = pack_chunk(header, ChunkSections(sections.tables, WaveletParams(3.0e38, params.levels,
                                                                             params.flat_value).pack(), sections.words))
    with pytest.raises(ChunkCorrupt, match="overflow"):
        decode_chunk(default_model, forged)
    with pytest.raises(FloatingPointError):
        reference_transform.decode_ratio_stream(default_model, forged)
    with plain_loops(), pytest.raises(ChunkCorrupt, match="overflow"):
        decode_chunk(default_model, forged)


@settings(max_examples=30, deadline=None)
@given(z=st.integers(1, 6), y=st.integers(1, 70), x=st.integers(1, 70),
       dtype=st.sampled_from(["uint8", "uint16", "int8", "int16"]), ratio=st.sampled_from([2.5, 8.0, 40.0]),
       inr_base=st.booleans())
def test_ratio_streams_of_any_shape_decode_as_the_reference(default_model: RuntimeModel, z: int, y: int, x: int,
                                                            dtype: str, ratio: float, inr_base: bool) -> None:
    """The reconstruction gives the NumPy reference's voxels on any shape (levels 0-3, odd
    edges, bands cut by their zero blocks), dtype and base (2D ratio coder)."""
    from zarr_unicompress.bitstream import pack_chunk
    from zarr_unicompress.runtime.coders import ratio as ratio_coder

    chosen = ratio_coder.inr_base_wins
    chunk = em_block((z, y, x), dtype)
    try:
        if inr_base:
            ratio_coder.inr_base_wins = lambda *args: True  # type: ignore[assignment]
        stream = pack_chunk(*ratio_coder.RatioCoder().encode(chunk, default_model, QualitySettings(ratio=ratio)))
    finally:
        ratio_coder.inr_base_wins = chosen  # type: ignore[assignment]
    np.testing.assert_array_equal(decode_chunk(default_model, stream),
                                  reference_transform.decode_ratio_stream(default_model, stream))

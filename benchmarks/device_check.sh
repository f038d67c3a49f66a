#!/bin/bash
# The GPU checks of this project in one command, for a lent GPU machine whose Python has torch
# but not this package's other dependencies (nothing can be downloaded there).
#
# Here, before the call (wheels for the device's Python 3.12; .whl/ and .gpu/ are git-ignored
# through .git/info/exclude and travel with `carry`):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64 -d .whl \
#     constriction==0.5.0 numcodecs==0.16.6 zarr==3.1.6 donfig==0.8.1.post1 google-crc32c==1.9.0 \
#     dask==2026.8.0 distributed==2026.8.0 partd==1.4.2 locket==1.0.0 tblib==3.2.2 tornado==6.6.1 zict==3.0.0
#   (numba is left out: llvmlite's wheel alone is 60 MB, past the 64 MiB that `carry` takes with the
#   rest; without it the CPU side runs the NumPy code, same voxels, slower: the line 'compiled loops:'
#   below says which ran, and CPU-only figures from such a run are the NumPy path's)
#   mkdir -p .gpu && cp ../shared/data/isbi2012_train.npy .gpu/
# There: bash benchmarks/device_check.sh   (results under $OUT, about 3 minutes on an H200)
set -o pipefail
out="${OUT:-/tmp/device_check}"
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
python3 -m pip install -q --no-deps --no-build-isolation --no-index --target /tmp/site . || exit 1  # entry points
export PYTHONPATH=/tmp/site:$PWD/benchmarks UNICOMPRESS_DATA=$PWD/.gpu PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "from zarr_unicompress.runtime import numba_support as n; print('compiled loops:', n.loops('lifting_loops') is not None)"
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_torch_decode.py tests/test_codeword_search.py \
  tests/test_bulk_read.py tests/test_compiled_loops.py 2>&1 | tee "$out/tests.log" | tail -4
timeout 200 python3 benchmarks/bench_gpu_decode.py --chunks 96 --batch 8 --tsv "$out/gpu_decode.tsv" \
  --out-dir "$out" 2>&1 | tee "$out/gpu_decode.log"
timeout 200 python3 benchmarks/bench_lazy_read_device.py --tiles 4 2 4 --workers 15 2>&1 \
  | grep -v "^\s*$" | tee "$out/lazy_read_device.log"

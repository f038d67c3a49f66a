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
#     dask==2026.8.0 distributed==2026.8.0 partd==1.4.2 locket==1.0.0 tblib==3.2.2 tornado==6.6.1 zict==3.0.0 \
#     threadpoolctl==3.8.0
#   mkdir -p .gpu && cp ../shared/data/isbi2012_train.npy .gpu/
# numba + llvmlite (their wheels take 64 MB, past what `carry` takes with the rest; unpacked and
# packed with xz -9 they take 42 MB): since v0.4.0 the rANS decoder of new streams runs as compiled
# loops, and as plain Python (about 100x slower) without numba, so the GPU pipeline needs them:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 -d /tmp/nbwhl numba==0.68.1 llvmlite==0.50.0
#   mkdir -p /tmp/nbsite && for w in /tmp/nbwhl/*.whl; do python3 -m zipfile -e "$w" /tmp/nbsite; done
#   tar -C /tmp/nbsite -cf - . | xz -9 -T2 > .gpu/numba_site.tar.xz     (about 2 minutes)
# The line 'compiled loops:' below says whether they ran.
# There: bash benchmarks/device_check.sh [CHECK ...]   (results under $OUT; CHECK: tests gpu_decode encode
# lazy_read pipeline, default all: about 12 minutes at most, so run them in two calls of timeout_s=560;
# not in the default: encode_small (thread scaling of (16, 256, 256) chunks, 1-15 threads) and
# archive_large (bench_pipeline on 504 MB, 15 threads and a 15-process LocalCluster))
set -o pipefail
out="${OUT:-/tmp/device_check}"
mkdir -p "$out"
checks="${*:-tests gpu_decode encode lazy_read pipeline}"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
if [ -f .gpu/numba_site.tar.xz ]; then tar -C /tmp/site -xJf .gpu/numba_site.tar.xz || exit 1; fi
python3 -m pip install -q --no-deps --no-build-isolation --no-index --target /tmp/site . || exit 1  # entry points
# fresh interpreters of the tests drop PYTHONPATH (they check the installed package): a .pth finds /tmp/site
echo /tmp/site > "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/unicompress_site.pth"
export PYTHONPATH=/tmp/site:$PWD/benchmarks UNICOMPRESS_DATA=$PWD/.gpu PYTHONUNBUFFERED=1
loops() { python3 -c "from zarr_unicompress.runtime import numba_support as n; print('compiled loops:', n.loops('lifting_loops') is not None, n.loops('rans_loops') is not None)"; }
if ! loops | tee "$out/loops.log" | grep -q "True True"; then  # the carried numba does not fit this numpy: the image's own
  rm -rf /tmp/site/numba /tmp/site/numba-* /tmp/site/llvmlite /tmp/site/llvmlite-*
  loops | tee "$out/loops.log"
fi
nvidia-smi -L
python3 -c "import torch, numpy, numba; print('torch', torch.__version__, 'numpy', numpy.__version__, 'numba', numba.__version__)"
for check in $checks; do
  case $check in
    tests) timeout 180 python3 -m pytest -q -p no:cacheprovider -rfE --tb=short tests/test_torch_decode.py \
             tests/test_codeword_search.py tests/test_bulk_read.py tests/test_compiled_loops.py tests/test_rans.py \
             2>&1 | tee "$out/tests.log" | tail -12 ;;
    gpu_decode) timeout 180 python3 benchmarks/bench_gpu_decode.py --chunks 96 --batch 8 --tsv "$out/gpu_decode.tsv" \
             --out-dir "$out" 2>&1 | tee "$out/gpu_decode.log" ;;
    encode) timeout 120 python3 benchmarks/bench_encode_device.py --chunks 32 --tsv "$out/encode_device.tsv" \
             --out-dir "$out" 2>&1 | tee "$out/encode_device.log" ;;
    encode_small) timeout 120 python3 benchmarks/bench_encode_device.py --chunk 16 256 256 --chunks 240 --ratios 8 \
             --max-errors 2 --threads 1 4 8 15 --tsv "$out/encode_small.tsv" --out-dir "$out" 2>&1 | tee "$out/encode_small.log" ;;
    lazy_read) timeout 120 python3 benchmarks/bench_lazy_read_device.py --tiles 4 2 4 --workers 15 2>&1 \
             | grep -v "^\s*$" | tee "$out/lazy_read_device.log" ;;
    pipeline) timeout 240 python3 benchmarks/bench_pipeline.py --tiles 4 2 4 --workers 1 15 --no-batch-table \
             --workdir /tmp/unicompress-bench-pipeline 2>&1 | grep -v "^\s*$" | tee "$out/pipeline.log" ;;
    archive_large) timeout 240 python3 benchmarks/bench_pipeline.py --tiles 8 2 4 --workers 15 --no-batch-table \
             --workdir /tmp/unicompress-bench-pipeline 2>&1 | grep -v "^\s*$" | tee "$out/archive_large.log" ;;
    *) echo "unknown check $check (tests gpu_decode encode encode_small lazy_read pipeline archive_large)"; exit 2 ;;
  esac
done

#!/usr/bin/env bash
# Every benchmark, one after the other (never at the same time: they time themselves), on the
# real EM volume. Usage: benchmarks/run_all.sh [VOLUME.npy]   (default: ISBI 2012 from the data
# search path; bench_rd.py runs on both ISBI 2012 and FIB-SEM unless a volume is given). Each
# script's printed tables are kept in benchmarks/latest/, the RD plots in benchmarks/plots/
# rd_<volume>.png; copy the figures into benchmarks/RESULTS.md with the date. No system ffmpeg
# is needed: the video anchors (x265, SVT-AV1) run through PyAV.
set -euo pipefail
cd "$(dirname "$0")/.."
data_args=()
if [[ $# -ge 1 ]]; then data_args=(--data "$1"); fi
mkdir -p benchmarks/latest
rd_args=(--volume both)
if [[ $# -ge 1 ]]; then rd_args=(--volume "$1"); fi
python benchmarks/bench_rd.py "${rd_args[@]}" | tee benchmarks/latest/rd.md
python benchmarks/bench_decoder_cost.py "${data_args[@]}" | tee benchmarks/latest/decoder_cost.md
python benchmarks/bench_pipeline.py "${data_args[@]}" | tee benchmarks/latest/pipeline.md
python benchmarks/bench_distillation.py "${data_args[@]}" | tee benchmarks/latest/distillation.md
python benchmarks/bench_residual_variants.py "${data_args[@]}" | tee benchmarks/latest/residual_variants.md
python benchmarks/bench_sparse_blocks.py "${data_args[@]}" | tee benchmarks/latest/sparse_blocks.md
python benchmarks/bench_rate_control.py "${data_args[@]}" | tee benchmarks/latest/rate_control.md
python benchmarks/bench_encode_floor.py "${data_args[@]}" | tee benchmarks/latest/encode_floor.md
python benchmarks/bench_entropy.py "${data_args[@]}" | tee benchmarks/latest/entropy.md
python benchmarks/bench_base_choice.py "${data_args[@]}" | tee benchmarks/latest/base_choice.md
python benchmarks/bench_check_points.py "${data_args[@]}" > benchmarks/latest/check_points.tsv
# the GPU decode benchmarks run where torch sees a CUDA device (none in CI)
if python -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
  python benchmarks/bench_gpu_decode.py "${data_args[@]}" | tee benchmarks/latest/gpu_decode.md
  python benchmarks/bench_lazy_read_device.py "${data_args[@]}" | tee benchmarks/latest/lazy_read_device.md
fi

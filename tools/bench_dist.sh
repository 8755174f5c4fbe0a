#!/usr/bin/env bash
# Data-parallel training throughput on the CPU (issue #16): samples/s of tools/train with
# 1 process and with 2 processes under mpirun (one BLAS thread each), at the same global
# batch, with the gradients all-reduced in one piece after the backward and in buckets
# during it. The synthetic dataset, no validation; the rate is taken from steps.csv's
# elapsed column between step WARMUP and the last step (so start-up is excluded, epoch-end
# checkpoints are included).
#
#   tools/bench_dist.sh [HEIGHT WIDTH BATCH STEPS]     (default 64 128 8 40)
#
# Needs `bazel build -c opt //tools:train` (done here) and mpirun (tools/bootstrap.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
H=${1:-64} W=${2:-128} B=${3:-8} STEPS=${4:-40} WARMUP=5
bazel build -c opt //tools:train >/dev/null 2>&1
TRAIN="$(bazel info -c opt bazel-bin 2>/dev/null)/tools/train"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
export SAL360_CACHE="${SAL360_CACHE:-$HOME/.cache/sal360}"
ARGS=(--device=cpu --height="$H" --width="$W" --batch="$B" --max_steps="$STEPS" --epochs=1000
      --validate=false --loader_threads=1)

rate() {  # samples/s between step WARMUP and the last step of RUN/steps.csv
  awk -F, -v b="$B" -v w="$WARMUP" 'NR > 1 { if ($2 == w) { s0 = $2; t0 = $5 } s1 = $2; t1 = $5 }
    END { printf "%.2f", (s1 - s0) * b / (t1 - t0) }' "$1/steps.csv"
}

echo "bench_dist: ${H}x${W}, global batch $B, steps $WARMUP..$STEPS, 1 BLAS thread per process, $(nproc) cores"
"$TRAIN" "${ARGS[@]}" --out="$WORK/r1" >/dev/null 2>&1 || { echo "bench_dist: 1-process run failed" >&2; exit 1; }
one=$(rate "$WORK/r1")
echo "1 process:                          $one samples/s"
for bucket in 0 4; do
  mpirun --oversubscribe --bind-to none -np 2 "$TRAIN" "${ARGS[@]}" --grad_bucket_mb="$bucket" \
    --out="$WORK/r2_$bucket" >/dev/null 2>&1 || { echo "bench_dist: 2-process run failed" >&2; exit 1; }
  two=$(rate "$WORK/r2_$bucket")
  label=$([ "$bucket" = 0 ] && echo "one all-reduce after the backward" || echo "${bucket} MiB buckets during it")
  printf "2 processes, %-34s %s samples/s (%sx)\n" "$label:" "$two" "$(awk -v a="$two" -v b="$one" 'BEGIN { printf "%.2f", a / b }')"
done

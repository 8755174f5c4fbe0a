#!/usr/bin/env bash
# gpu_kit/run.sh [OUT]: the GPU first-contact check, on the GPU machine (docs/gpu.md).
# Packed by `tools/gpu_kit.sh pack`; needs bash, tar, gzip, coreutils, and the machine's
# NVIDIA driver, CUDA runtime, cuBLAS and cuDNN. Writes OUT/summary.txt (one line per
# check, described in docs/gpu.md) and OUT/logs/. OUT: the argument, else $OUT, else
# ./gpu_kit_out. Everything is bounded so that the whole run stays under 8 minutes.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT_DIR="${1:-${OUT:-$PWD/gpu_kit_out}}"
mkdir -p "$OUT_DIR/logs"
LOGS="$OUT_DIR/logs"
SUMMARY="$OUT_DIR/summary.txt"
: > "$SUMMARY"
START=$(date +%s)
DEADLINE=$((START + ${SAL360_KIT_BUDGET_S:-460}))
# Sizes (defaults for the GPU; a rehearsal on the emulation uses small ones).
TRAIN_STEPS="${SAL360_KIT_TRAIN_STEPS:-200}"
BENCH_H="${SAL360_KIT_BENCH_H:-240}"
BENCH_W=$((2 * BENCH_H))

say() { echo "$*" | tee -a "$SUMMARY"; }
elapsed() { echo $(($(date +%s) - START)); }
# Seconds a step may take: its own limit, or what is left of the budget.
limit() {
  local left=$((DEADLINE - $(date +%s)))
  [ "$left" -lt "$1" ] && echo $((left > 1 ? left : 1)) || echo "$1"
}
now_s() { date +%s.%N; }
secs_since() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

K="$(mktemp -d /tmp/sal360_kit.XXXXXX)"
tar -xzf "$HERE/payload.tar.gz" -C "$K" || { say "kit: FAIL cannot unpack $HERE/payload.tar.gz"; exit 1; }
export SAL360_KIT="$K"
RUN="$K/run_binary.sh"
say "kit: $(tr '\n' ' ' < "$K/manifest.txt")"
say "host: $(uname -m) $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || echo unknown OS), glibc $(ldd --version 2>/dev/null | head -1 | awk '{ print $NF }')"
if command -v nvidia-smi >/dev/null 2>&1; then
  say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | head -1)"
else
  say "gpu: nvidia-smi not found"
fi
# Debian 12's OpenBLAS 0.3.21 picks wrong kernels on some new CPUs; ours run with the
# Haswell kernels, so the CPU reference does here too unless told otherwise.
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"

# Where the CUDA libraries are (the binaries' rpath names /usr/local/cuda/lib64 only).
cuda_dirs=()
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9; do
  path="$(ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 == l { print $NF; exit }')"
  if [ -z "$path" ]; then
    path="$(find /usr/local/cuda/lib64 /usr/local/cuda*/lib64 /usr/local/cuda*/targets/*/lib \
      /usr/lib/x86_64-linux-gnu /usr/lib64 /opt -maxdepth 6 -name "$lib*" 2>/dev/null | head -1)"
  fi
  if [ -n "$path" ]; then cuda_dirs+=("$(dirname "$path")"); else say "cuda: $lib not found"; fi
done
SAL360_CUDA_LIBS="$(printf '%s\n' "${cuda_dirs[@]}" | awk '!seen[$0]++' | paste -sd: -)"
export SAL360_CUDA_LIBS
say "cuda: libraries from ${SAL360_CUDA_LIBS:-nowhere}"

# Native if the machine's glibc runs our binaries, else the packed loader.
first_test="$(head -1 "$K/tests.txt")"
export SAL360_KIT_MODE=native
if ! "$RUN" "$first_test" --gtest_list_tests > "$LOGS/mode_native.log" 2>&1; then
  export SAL360_KIT_MODE=bundled
  if ! "$RUN" "$first_test" --gtest_list_tests > "$LOGS/mode_bundled.log" 2>&1; then
    say "mode: FAIL neither native nor bundled glibc runs $first_test (see logs/mode_*.log): $(tail -2 "$LOGS/mode_bundled.log" | tr '\n' ' ')"
    exit 1
  fi
fi
say "mode: $SAL360_KIT_MODE"

# ---- 1. Every gpu test, with SAL360_REQUIRE_GPU=1 (a skip for want of a device fails) ----
export SAL360_REQUIRE_GPU=1
export TEST_SRCDIR="$K/runfiles" TEST_WORKSPACE=sal360 SAL360_CACHE="$K/cache"
failed=0
gtest_counts() {  # passed failed skipped, from a gtest log
  local p f s
  p=$(grep -c '^\[       OK \]' "$1")
  f=$(grep -c '^\[  FAILED  \] .*(' "$1")
  s=$(grep -c '^\[  SKIPPED \] .*(' "$1")
  echo "passed $p, failed $f, skipped $s"
}
while read -r t; do
  log="$LOGS/$t.log"
  t0=$(now_s)
  TEST_TMPDIR="$(mktemp -d)" timeout "$(limit 150)" "$RUN" "$t" > "$log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then verdict=PASS; else verdict="FAIL (exit $rc)"; failed=$((failed + 1)); fi
  say "test $t: $verdict ($(gtest_counts "$log")) $(secs_since "$t0") s"
done < "$K/tests.txt"

# ---- 2. compute-sanitizer on the parity tests ----
CS="$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer 2>/dev/null | head -1)"
if [ -z "$CS" ]; then
  say "sanitizer: compute-sanitizer not found on this machine (memcheck and racecheck not run)"
else
  sanitize() {  # tool test [gtest filter]
    local tool=$1 t=$2 filter=${3:-*} log="$LOGS/$1_$2.log" t0
    t0=$(now_s)
    TEST_TMPDIR="$(mktemp -d)" timeout "$(limit 90)" "$CS" --tool "$tool" --target-processes all \
      --error-exitcode 86 --print-limit 20 "$RUN" "$t" "--gtest_filter=$filter" > "$log" 2>&1
    local rc=$? v
    case $rc in
      0) v=PASS ;;
      86) v="FAIL (errors reported)"; failed=$((failed + 1)) ;;
      124) v="TIMEOUT"; failed=$((failed + 1)) ;;
      *) v="FAIL (exit $rc)"; failed=$((failed + 1)) ;;
    esac
    say "$tool $t: $v; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|HAZARD' "$log" | tail -1) $(secs_since "$t0") s"
  }
  for t in elementwise_cuda_test spherical_conv_cuda_test layers_cuda_test; do
    grep -qx "$t" "$K/tests.txt" && sanitize memcheck "$t"
  done
  # Shared memory and barriers live in the loss and batch-norm reductions.
  sanitize racecheck layers_cuda_test 'LossCuda.*:Shapes/BatchNormCuda.*N3H37W53C40'
fi

# ---- 3. bench on the GPU: forward and train step at 240x480, batch 1 and 8 ----
say "bench: ${BENCH_H}x${BENCH_W}"
bench_line() {  # the JSON lines of bench, one summary line each
  awk '/^\{/ && /"case":"(forward|train_step|math_unavailable)"/' "$1" | while read -r j; do
    printf '%s\n' "$j" | tr -d '{}"' | tr ',' '\n' | awk -F: -v pre="$2" '
      { v[$1] = $2 }
      END {
        math = (v["gpu_engine"] == "null" || v["gpu_engine"] == "") ? "" : " " v["gpu_engine"] "/" v["precision"]
        if (v["case"] == "math_unavailable") { printf "%s%s: unavailable (the reason: logs/bench_cuda.err)\n", pre, math; exit }
        printf "%s%s %s batch %s: %.2f ms, %.1f GFLOP/s, %s kernel launches + %s cuBLAS GEMMs + %s cuDNN executions per step, %s device allocations in a step%s\n",
            pre, math, v["case"], v["batch"], v["seconds"] * 1000, v["gflops"], v["kernel_launches_per_step"],
            v["cublas_gemms_per_step"], v["cudnn_executions_per_step"], v["device_allocations_in_step"],
            v["cuda_device"] == "null" ? "" : " [" v["cuda_device"] "]" }'
  done
}
t0=$(now_s)
# Every engine x precision (bench's defaults: native and cudnn; fp32, tf32, bf16).
if timeout "$(limit 150)" "$RUN" bench --device=cuda --height="$BENCH_H" --width="$BENCH_W" --batches=1,8 \
    --reps=5 --torch=off --ceiling=false --layers=false > "$LOGS/bench_cuda.jsonl" 2> "$LOGS/bench_cuda.err"; then
  bench_line "$LOGS/bench_cuda.jsonl" "bench cuda" | tee -a "$SUMMARY"
else
  say "bench cuda: FAIL (see logs/bench_cuda.err): $(tail -2 "$LOGS/bench_cuda.err" | tr '\n' ' ')"
  failed=$((failed + 1))
fi
if timeout "$(limit 60)" "$RUN" bench --device=cpu --height="$BENCH_H" --width="$BENCH_W" --batches=1 --reps=2 \
    --torch=off --ceiling=false --layers=false > "$LOGS/bench_cpu.jsonl" 2> "$LOGS/bench_cpu.err"; then
  bench_line "$LOGS/bench_cpu.jsonl" "bench cpu ($(nproc) cores)" | tee -a "$SUMMARY"
else
  say "bench cpu: FAIL (see logs/bench_cpu.err)"
fi
say "bench: $(secs_since "$t0") s"

# ---- 4. 200 training steps on the synthetic set, CUDA and CPU, then compare ----
train() {  # name, then train's flags
  local name=$1 t0 rc
  shift
  t0=$(now_s)
  timeout "$(limit 150)" "$RUN" train "$@" --max_steps="$TRAIN_STEPS" --epochs=1000 \
    --out="$OUT_DIR/train_$name" > "$LOGS/train_$name.log" 2>&1
  rc=$?
  local last_epoch cc
  last_epoch="$(tail -1 "$OUT_DIR/train_$name/epochs.csv" 2>/dev/null)"
  if [ $rc -eq 0 ]; then
    say "train $name: PASS $TRAIN_STEPS steps in $(secs_since "$t0") s; $(grep -o 'last loss [0-9.e+-]*' "$LOGS/train_$name.log" | tail -1); last epoch row: $last_epoch"
  else
    say "train $name: FAIL (exit $rc) after $(secs_since "$t0") s: $(tail -2 "$LOGS/train_$name.log" | tr '\n' ' ')"
    failed=$((failed + 1))
  fi
}
train cuda --device=cuda
train cpu --device=cpu
# TF32 tensor cores (issue #17): the same run, to compare its loss and validation CC.
train cuda_tf32 --device=cuda --precision=tf32
if [ -f "$OUT_DIR/train_cuda/steps.csv" ] && [ -f "$OUT_DIR/train_cpu/steps.csv" ]; then
  head -1 "$OUT_DIR/train_cuda/epochs.csv" > "$LOGS/epochs_header.txt" 2>/dev/null
  say "train compare: $(paste -d, "$OUT_DIR/train_cpu/steps.csv" "$OUT_DIR/train_cuda/steps.csv" | awk -F, -v half=5 '
    NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "loss") col[++n] = i; next }
    { a = $col[1]; b = $col[2]; d = a - b; if (d < 0) d = -d; r = d / (a < 0 ? -a : a);
      if (r > worst) { worst = r; at = NR - 1 } if (NR - 1 <= 20 && r > worst20) worst20 = r; last_a = a; last_b = b }
    END { printf "loss rel. diff. cpu vs cuda: first 20 steps max %.3g, all steps max %.3g (step %d); last loss cpu %s cuda %s", worst20, worst, at, last_a, last_b }')"
  cc_cpu="$(awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "val_cc") c = i; next } END { print (c ? $c : "n/a") }' "$OUT_DIR/train_cpu/epochs.csv")"
  cc_gpu="$(awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "val_cc") c = i; next } END { print (c ? $c : "n/a") }' "$OUT_DIR/train_cuda/epochs.csv")"
  cc_tf32="$(awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "val_cc") c = i; next } END { print (c ? $c : "n/a") }' "$OUT_DIR/train_cuda_tf32/epochs.csv" 2>/dev/null)"
  say "train compare: validation CC after the last epoch: cpu $cc_cpu, cuda $cc_gpu, cuda tf32 ${cc_tf32:-n/a}"
fi

say "total: $(elapsed) s; failures: $failed"
rm -rf "$K"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz (issue #18) for SECONDS each and prints, per
# target, the executions, the coverage (libFuzzer's edge counter "cov") and the crashes.
#
#   tools/fuzz.sh [SECONDS=60] [TARGET...]     (default: every *_fuzzer)
#
# Built with --config=fuzz (clang, libFuzzer, ASan + UBSan); FUZZ_SKIP_BUILD=1 uses the
# binaries already built. Each target starts from its
# seed corpus (tests/fuzz/corpus/<target>/, copied: the run's new inputs stay in the
# work directory); -malloc_limit_mb makes any single allocation above 256 MiB a
# reported failure (the parsers' caps are far below), -rss_limit_mb a 2 GiB process.
# A crash leaves its input in $FUZZ_OUT/<target>/ (default: a temporary directory,
# printed): add it to tests/fuzz/corpus/<target>/crash_<name> so the corpus test keeps
# it. Exit status: 0 when no target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
if [ $# -gt 0 ]; then TARGETS=("$@"); else
  mapfile -t TARGETS < <(sed -n 's/^ *name = "\(.*_fuzzer\)",/\1/p' tests/fuzz/BUILD.bazel); fi
if [ -n "${FUZZ_SKIP_BUILD:-}" ]; then  # already built (keeps Bazel free for other work)
  BIN=bazel-out/k8-optfuzz/bin/tests/fuzz
else
  bazel build --config=fuzz -c opt "${TARGETS[@]/#/\/\/tests\/fuzz:}" 2>&1 | tail -1
  BIN="$(bazel info --config=fuzz -c opt bazel-bin 2>/dev/null)/tests/fuzz"
fi
OUT="${FUZZ_OUT:-$(mktemp -d)}"
echo "fuzz: ${SECONDS_EACH} s per target; work and crashes in $OUT"
printf "%-20s %12s %10s %8s %8s\n" target execs "execs/s" cov crashes
status=0
for t in "${TARGETS[@]}"; do
  rm -rf "$OUT/$t/crashes"  # only this run's crashes count
  mkdir -p "$OUT/$t/corpus" "$OUT/$t/crashes"
  cp -n tests/fuzz/corpus/"$t"/* "$OUT/$t/corpus/" 2>/dev/null || true
  dict=(); [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  set +e
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$BIN/$t" "$OUT/$t/corpus" "${dict[@]}" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
    -malloc_limit_mb=256 -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$OUT/$t/crashes/" \
    > "$OUT/$t/log.txt" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t/log.txt" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$OUT/$t/log.txt" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$OUT/$t/log.txt" | tail -1 | cut -d' ' -f2)
  crashes=$(find "$OUT/$t/crashes" -type f | wc -l)
  printf "%-20s %12s %10s %8s %8s\n" "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$crashes"
  if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
    status=1
    echo "fuzz: $t failed (exit $rc); the report:" >&2
    grep -E "ERROR|SUMMARY|==[0-9]+==|runtime error" "$OUT/$t/log.txt" | head -8 >&2 || true
  fi
done
exit $status

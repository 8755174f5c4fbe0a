#!/usr/bin/env bash
# The kill -9 soak of train (issue #18; not in CI): kills a small training run KILLS
# times (default 20) — at random moments and at named crash points (right after a
# checkpoint rename, right after a log append) — resumes it after each kill, and checks
# that every checkpoint on disk loads and that the finished run equals an uninterrupted
# one (weights, best.safetensors, epochs.csv, losses, log records, report).
#   tools/soak_resume.sh [KILLS] [SEED]
# The test is tests/tools/train_soak_test.cc; its log (every kill) is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
kills="${1:-20}"
seed="${2:-1}"
SOAK_KILLS="$kills" SOAK_SEED="$seed" bazel test //tests/tools:train_soak_test \
  --test_output=all --test_timeout=3600 --cache_test_results=no

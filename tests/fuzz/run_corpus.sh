#!/usr/bin/env bash
# Runs a fuzz target (built with fuzz_driver.cc) over its corpus directory.
set -euo pipefail
"$1" "$2"

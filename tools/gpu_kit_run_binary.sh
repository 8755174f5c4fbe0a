#!/usr/bin/env bash
# run_binary.sh NAME ARGS...: runs the GPU kit's bin/NAME (packed by tools/gpu_kit.sh).
# SAL360_KIT_MODE=native: with the machine's own glibc and the kit's other libraries;
# bundled: through the kit's glibc loader (for machines whose glibc is older than
# Debian 12's). SAL360_CUDA_LIBS: where run.sh found the CUDA runtime, cuBLAS, cuDNN.
set -u
K="${SAL360_KIT:?SAL360_KIT must name the unpacked kit}"
name="$1"
shift
cuda="${SAL360_CUDA_LIBS:-}"
if [ "${SAL360_KIT_MODE:-native}" = bundled ]; then
  exec "$K/glibc/ld-linux-x86-64.so.2" --library-path "$K/lib:$K/glibc${cuda:+:$cuda}" \
    "$K/bin/$name" "$@"
fi
export LD_LIBRARY_PATH="$K/lib${cuda:+:$cuda}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$K/bin/$name" "$@"

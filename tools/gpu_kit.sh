#!/usr/bin/env bash
# The GPU first-contact kit (docs/gpu.md).
#
#   tools/gpu_kit.sh pack          build (-c opt --config=cuda) every gpu-tagged test,
#                                  bench, train and test; pack them with the
#                                  non-CUDA shared libraries they need into gpu_kit/
#                                  (git-ignored, <= 64 MiB): gpu_kit/run.sh +
#                                  gpu_kit/payload.tar.gz
#   tools/gpu_kit.sh pack --emu    the same from --config=cuda_emu: a rehearsal of the
#                                  kit on this machine (the "GPU" is the emulation)
#   gpu_kit/run.sh [OUT]           on the GPU machine: runs it all, writes OUT/summary.txt
#                                  (OUT defaults to $OUT, else ./gpu_kit_out)
#
# The GPU machine has the CUDA 13 runtime, cuBLAS and cuDNN, but no Bazel and none of our
# Debian libraries, so the kit carries them, glibc's loader included: run.sh runs the
# binaries natively when the machine's own libraries suffice, else through the packed
# loader (see tools/gpu_kit_run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: tools/gpu_kit.sh pack [--emu]" >&2; exit 2; }
[ "${1:-}" = "pack" ] || usage
CONFIG=cuda
if [ "${2:-}" = "--emu" ]; then CONFIG=cuda_emu; elif [ -n "${2:-}" ]; then usage; fi
if [ "$CONFIG" = cuda ] && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "gpu_kit: no CUDA toolkit at /usr/local/cuda (pack --emu needs none)" >&2
  exit 1
fi

KIT=gpu_kit
LIMIT_MIB=64
# Not predict: it links FFmpeg, whose codec libraries (~160 MB) would not fit the kit, and
# no gpu test runs it.
TOOLS=(//tools:bench //tools:train //tools:test)
mapfile -t TESTS < <(bazel query 'attr(tags, "\bgpu\b", tests(//...))' 2>/dev/null)
[ ${#TESTS[@]} -gt 0 ] || { echo "gpu_kit: found no gpu-tagged tests" >&2; exit 1; }
echo "gpu_kit: building ${#TESTS[@]} gpu tests and ${#TOOLS[@]} tools (-c opt --config=$CONFIG)"
# --dynamic_mode=off: tests link our libraries statically, like the tools, so each
# binary needs only system and CUDA shared libraries.
BUILD_FLAGS=(-c opt "--config=$CONFIG" --dynamic_mode=off)
bazel build "${BUILD_FLAGS[@]}" "${TESTS[@]}" "${TOOLS[@]}"
BIN_DIR="$(bazel info "${BUILD_FLAGS[@]}" bazel-bin 2>/dev/null)"

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/glibc" "$STAGE/runfiles/sal360/tools"
label_path() { local l="${1#//}"; echo "${l/://}"; }  # //tests/nn:foo -> tests/nn/foo
for t in "${TESTS[@]}" "${TOOLS[@]}"; do
  p="$(label_path "$t")"
  install -m 755 "$BIN_DIR/$p" "$STAGE/bin/$(basename "$p")"
done
printf '%s\n' "${TESTS[@]}" | while read -r t; do basename "$(label_path "$t")"; done \
  > "$STAGE/tests.txt"

# Shared libraries: everything ldd resolves except the CUDA libraries (the GPU machine
# has its own, matching its driver) and the vDSO. glibc's own libraries go to glibc/,
# the rest to lib/.
is_cuda_lib() { case "$1" in libcuda.so*|libcudart.so*|libcublas*|libcudnn*|libnccl*|libnvrtc*|libnvJitLink*) return 0;; esac; return 1; }
is_glibc_lib() { case "$1" in ld-linux*|libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libresolv.so*|libutil.so*) return 0;; esac; return 1; }
for b in "$STAGE"/bin/*; do
  ldd "$b" | awk '/=> \// { print $3 } /^\s*\/.*ld-linux/ { print $1 }'
done | sort -u | while read -r lib; do
  name="$(basename "$lib")"
  if is_cuda_lib "$name"; then continue; fi
  if is_glibc_lib "$name"; then dest=glibc; else dest=lib; fi
  cp -L "$lib" "$STAGE/$dest/$name"
done
# cuDNN and cuBLAS dlopen their sub-libraries; nothing else of ours does.
[ -e "$STAGE/glibc/ld-linux-x86-64.so.2" ] || cp -L /lib64/ld-linux-x86-64.so.2 "$STAGE/glibc/"
strip --strip-debug "$STAGE"/lib/*.so* 2>/dev/null || true

# The tools the tests run as subprocesses, where the tests look for them
# (TEST_SRCDIR/sal360/tools/NAME): wrappers that start them the way run.sh does.
for tool in train test bench; do
  cat > "$STAGE/runfiles/sal360/tools/$tool" <<EOF
#!/usr/bin/env bash
exec "\$SAL360_KIT/run_binary.sh" $tool "\$@"
EOF
  chmod 755 "$STAGE/runfiles/sal360/tools/$tool"
done
install -m 755 tools/gpu_kit_run_binary.sh "$STAGE/run_binary.sh"
{
  echo "config=$CONFIG"
  echo "commit=$(git rev-parse --short HEAD)$(git diff --quiet || echo -dirty)"
  echo "packed=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "openblas_coretype=${OPENBLAS_CORETYPE:-}"
} > "$STAGE/manifest.txt"

rm -rf "$KIT"
mkdir -p "$KIT"
tar -C "$STAGE" -czf "$KIT/payload.tar.gz" .
install -m 755 tools/gpu_kit_run.sh "$KIT/run.sh"
size_mib=$(( $(du -sb "$KIT" | cut -f1) / 1048576 ))
echo "gpu_kit: $KIT/ is ${size_mib} MiB ($(ls "$STAGE/bin" | wc -l) binaries, $(ls "$STAGE/lib" "$STAGE/glibc" | wc -l) libraries)"
if [ "$size_mib" -ge "$LIMIT_MIB" ]; then
  echo "gpu_kit: over the ${LIMIT_MIB} MiB that a device call carries" >&2
  exit 1
fi
echo "gpu_kit: run it there with: bash gpu_kit/run.sh   (summary in \$OUT/summary.txt)"

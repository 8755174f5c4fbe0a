#!/usr/bin/env bash
# Installs every Debian 12 package sal360 needs to build and test. Idempotent; runs as
# root or through sudo. The CUDA toolkit is not a Debian package: GPU builds need
# CUDA 13 + cuDNN 9 at /usr/local/cuda (see README, "GPU builds").
set -euo pipefail

PACKAGES=(
  bazel-bootstrap      # Bazel 4.2.3 (offline; shims in third_party/)
  g++ pkg-config
  libopenblas-dev      # CPU GEMM (cblas_sgemm), one of nn/cpu_gemm.h's backends
  libdnnl-dev          # oneDNN 2.6: dnnl_sgemm, the fastest CPU GEMM at most of our shapes
  libblis4-openmp      # BLIS 0.9 runtime (dlopen'ed by nn/cpu_gemm.cc; no -dev: its cblas.h would compete with OpenBLAS's)
  libstb-dev           # stb_image / stb_image_write / stb_image_resize
  libabsl-dev          # flags, Status, strings
  libgtest-dev         # GoogleTest
  nlohmann-json3-dev   # JSON
  libopenmpi-dev openmpi-bin  # data-parallel training: mpirun, CPU collectives, NCCL bootstrap (dist/)
  libzip-dev           # zip archives of torch.save >= 1.6 (data/torch_file.h)
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev  # FFmpeg: video in and out (data/video.h)
  python3              # pickle fixtures' provenance, optional PyTorch reference
  chromium             # headless rendering test of the HTML report
  clang libclang-rt-14-dev  # --config=fuzz: libFuzzer + sanitizer runtimes (tests/fuzz, tools/fuzz.sh)
)

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "bootstrap: need root or sudo to install packages" >&2; exit 1; fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#PACKAGES[@]} packages already installed"
else
  echo "bootstrap: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "bootstrap: CUDA toolkit found: $(/usr/local/cuda/bin/nvcc --version | tail -1)"
else
  echo "bootstrap: no CUDA toolkit at /usr/local/cuda; only the CPU build is available"
fi

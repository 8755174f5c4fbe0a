#include <atomic>
#include <cstdio>
#include <string>

#include "nn/cuda/check.h"
#include "nn/cuda/runtime.h"

namespace sal360::nn::cuda {
namespace {

std::atomic<int64_t> g_kernel_launches{0};
std::atomic<int64_t> g_cublas_gemms{0};

}  // namespace

int64_t KernelLaunches() { return g_kernel_launches.load(std::memory_order_relaxed); }
int64_t CublasGemmCalls() { return g_cublas_gemms.load(std::memory_order_relaxed); }
void CountKernelLaunch() { g_kernel_launches.fetch_add(1, std::memory_order_relaxed); }
void CountCublasGemm() { g_cublas_gemms.fetch_add(1, std::memory_order_relaxed); }

int ProbeDeviceCount(std::string* why) {
  int count = 0;
  // With no driver this returns cudaErrorInsufficientDriver (35) and leaves `count`
  // untouched, so it must be initialised.
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (why) *why = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error
    return 0;
  }
  if (count == 0 && why) *why = "no CUDA device present";
  return count;
}

std::string DeviceDescription() {
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    cudaGetLastError();
    return "unknown CUDA device";
  }
  char text[384];
  std::snprintf(text, sizeof text, "%s (sm_%d%d; %.0f GiB)", prop.name, prop.major, prop.minor,
                static_cast<double>(prop.totalGlobalMem) / (1 << 30));
  return text;
}

void* Malloc(size_t bytes) {
  void* p = nullptr;
  if (bytes == 0) return nullptr;
  SAL_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}
void Free(void* p) {
  if (p != nullptr) SAL_CUDA_CHECK(cudaFree(p));
}
void MemcpyHostToDevice(void* dst, const void* src, size_t bytes) {
  SAL_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void MemcpyDeviceToHost(void* dst, const void* src, size_t bytes) {
  SAL_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
void MemcpyDeviceToDevice(void* dst, const void* src, size_t bytes) {
  SAL_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}
void Memset0(void* dst, size_t bytes) { SAL_CUDA_CHECK(cudaMemset(dst, 0, bytes)); }
void Synchronize() { SAL_CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace sal360::nn::cuda

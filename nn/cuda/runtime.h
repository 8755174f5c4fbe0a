// Host-side entry points of the CUDA backend that plain C++ files call. Only
// compiled (and only included) under --config=cuda, i.e. when SAL360_WITH_CUDA is set.
#ifndef SAL360_NN_CUDA_RUNTIME_H_
#define SAL360_NN_CUDA_RUNTIME_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace sal360::nn::cuda {

// cudaGetDeviceCount with the no-driver case handled: returns 0 and a reason on any
// error, and clears the sticky error state (cudaGetLastError).
int ProbeDeviceCount(std::string* why);
// Device 0's name and compute capability, e.g. "NVIDIA H200 (sm_90; 140 GiB)".
std::string DeviceDescription();

void* Malloc(size_t bytes);  // aborts with a located message on failure
void Free(void* p);
void MemcpyHostToDevice(void* dst, const void* src, size_t bytes);
void MemcpyDeviceToHost(void* dst, const void* src, size_t bytes);
void MemcpyDeviceToDevice(void* dst, const void* src, size_t bytes);
void Memset0(void* dst, size_t bytes);
void Synchronize();

// Process-wide counts since start, for benchmarks (tools/bench reports them per step):
// kernels this project launched (each SAL_CUDA_CHECK_LAUNCH of nn/cuda/check.h counts
// one; every launch is followed by one) and cuBLAS GEMM calls (each runs one or more
// kernels of cuBLAS's own, which the first count does not include). Memcpy/memset are
// in neither. Thread-safe; reading them does not synchronise the device.
int64_t KernelLaunches();
int64_t CublasGemmCalls();
void CountKernelLaunch();
void CountCublasGemm();

}  // namespace sal360::nn::cuda

#endif  // SAL360_NN_CUDA_RUNTIME_H_

// Host-side entry points of the CUDA backend that plain C++ files call. Only
// compiled (and only included) under --config=cuda, i.e. when SAL360_WITH_CUDA is set.
#ifndef SAL360_NN_CUDA_RUNTIME_H_
#define SAL360_NN_CUDA_RUNTIME_H_

#include <cstddef>
#include <string>

namespace sal360::nn::cuda {

// cudaGetDeviceCount with the no-driver case handled: returns 0 and a reason on any
// error, and clears the sticky error state (cudaGetLastError).
int ProbeDeviceCount(std::string* why);

void* Malloc(size_t bytes);  // aborts with a located message on failure
void Free(void* p);
void MemcpyHostToDevice(void* dst, const void* src, size_t bytes);
void MemcpyDeviceToHost(void* dst, const void* src, size_t bytes);
void MemcpyDeviceToDevice(void* dst, const void* src, size_t bytes);
void Memset0(void* dst, size_t bytes);
void Synchronize();

}  // namespace sal360::nn::cuda

#endif  // SAL360_NN_CUDA_RUNTIME_H_

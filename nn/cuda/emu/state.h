// State shared by the emulated runtime, cuBLAS and the block scheduler (internal to
// nn/cuda/emu/).
#ifndef SAL360_NN_CUDA_EMU_STATE_H_
#define SAL360_NN_CUDA_EMU_STATE_H_

#include <cstddef>
#include <mutex>

#include "cuda_runtime.h"

namespace sal360::emu {

// Serialises every emulated device operation (API calls, kernels, GEMMs).
std::recursive_mutex& DeviceMutex();

// The error cudaGetLastError returns next. A sticky error (a failed kernel) also makes
// every later call fail with it until cudaDeviceReset, as on a real device.
void RecordError(cudaError_t error);
void RecordStickyError(cudaError_t error);
cudaError_t StickyError();

// 0, cudaStreamLegacy, cudaStreamPerThread or a live cudaStreamCreate handle.
bool IsValidStream(cudaStream_t stream);

// Whether [p, p + bytes) lies inside one live cudaMalloc allocation; whether it
// overlaps any.
bool InDeviceAllocation(const void* p, size_t bytes);
bool OverlapsDeviceAllocation(const void* p, size_t bytes);

}  // namespace sal360::emu

#endif  // SAL360_NN_CUDA_EMU_STATE_H_

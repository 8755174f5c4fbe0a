// cuDNN under --config=cuda_emu: the handle calls only. Nothing of cuDNN's numerics is
// emulated; cudnnGetVersion() returns 0 so that code can tell (and skip a cuDNN path
// with the reason "not available under emulation"). Any other cuDNN call does not
// compile in this build.
#ifndef SAL360_NN_CUDA_EMU_INCLUDE_CUDNN_H_
#define SAL360_NN_CUDA_EMU_INCLUDE_CUDNN_H_

#include <cstddef>

#include "cuda_runtime.h"

typedef enum {
  CUDNN_STATUS_SUCCESS = 0,
  CUDNN_STATUS_NOT_INITIALIZED = 1001,
  CUDNN_STATUS_BAD_PARAM = 2000,
  CUDNN_STATUS_BAD_PARAM_NULL_POINTER = 2002,
  CUDNN_STATUS_NOT_SUPPORTED = 3000,
  CUDNN_STATUS_INTERNAL_ERROR = 4000,
  CUDNN_STATUS_EXECUTION_FAILED = 5000,
} cudnnStatus_t;

struct cudnnContext;
typedef struct cudnnContext* cudnnHandle_t;

size_t cudnnGetVersion();  // 0: emulated, no cuDNN numerics
cudnnStatus_t cudnnCreate(cudnnHandle_t* handle);
cudnnStatus_t cudnnDestroy(cudnnHandle_t handle);
cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream);
cudnnStatus_t cudnnGetStream(cudnnHandle_t handle, cudaStream_t* stream);
const char* cudnnGetErrorString(cudnnStatus_t status);

#endif  // SAL360_NN_CUDA_EMU_INCLUDE_CUDNN_H_

#include "nn/cuda/check.h"
#include "nn/cuda/handles.h"

namespace sal360::nn::cuda {

void CreateHandles(void** stream, void** cublas, void** cudnn) {
  cudaStream_t s;
  SAL_CUDA_CHECK(cudaStreamCreate(&s));
  cublasHandle_t b;
  SAL_CUDA_CHECK(cublasCreate(&b));
  SAL_CUDA_CHECK(cublasSetStream(b, s));
  cudnnHandle_t d;
  SAL_CUDA_CHECK(cudnnCreate(&d));
  SAL_CUDA_CHECK(cudnnSetStream(d, s));
  *stream = s;
  *cublas = b;
  *cudnn = d;
}

void SynchronizeStream(void* stream) {
  SAL_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
}

}  // namespace sal360::nn::cuda

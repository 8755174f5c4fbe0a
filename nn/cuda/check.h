// One check macro for every CUDA-family status type. A failure aborts with the
// failing expression, its status text, file and line (an internal invariant: the
// backend cannot continue after a failed launch or library call).
//
//   SAL_CUDA_CHECK(cudaMalloc(&p, n));
//   SAL_CUDA_CHECK(cublasSgemm(...));
//   SAL_CUDA_CHECK(cudnnBatchNormalizationForwardTraining(...));
//   SAL_CUDA_CHECK_LAUNCH();   // after every kernel launch (also counts it: KernelLaunches())
#ifndef SAL360_NN_CUDA_CHECK_H_
#define SAL360_NN_CUDA_CHECK_H_

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdio>
#include <cstdlib>

#include "nn/cuda/runtime.h"

namespace sal360::nn::cuda {

inline bool IsOk(cudaError_t s) { return s == cudaSuccess; }
inline bool IsOk(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS; }
inline bool IsOk(cudnnStatus_t s) { return s == CUDNN_STATUS_SUCCESS; }
inline const char* StatusText(cudaError_t s) { return cudaGetErrorString(s); }
inline const char* StatusText(cublasStatus_t s) { return cublasGetStatusString(s); }
inline const char* StatusText(cudnnStatus_t s) { return cudnnGetErrorString(s); }

template <typename S>
inline void Check(S status, const char* expr, const char* file, int line) {
  if (!IsOk(status)) {
    std::fprintf(stderr, "%s:%d: CUDA call failed: %s\n  -> %s (code %d)\n", file, line, expr,
                 StatusText(status), static_cast<int>(status));
    std::abort();
  }
}

}  // namespace sal360::nn::cuda

#define SAL_CUDA_CHECK(expr) ::sal360::nn::cuda::Check((expr), #expr, __FILE__, __LINE__)
#define SAL_CUDA_CHECK_LAUNCH()              \
  do {                                       \
    ::sal360::nn::cuda::CountKernelLaunch(); \
    SAL_CUDA_CHECK(cudaGetLastError());      \
  } while (0)

#endif  // SAL360_NN_CUDA_CHECK_H_

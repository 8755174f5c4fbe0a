// The subset of cuBLAS (v2 API) that sal360 calls, on OpenBLAS (--config=cuda_emu).
// Column-major, as cuBLAS is, with cuBLAS's argument checks: a negative size, an
// unknown operation or a leading dimension below its minimum returns
// CUBLAS_STATUS_INVALID_VALUE; an operand that is not inside one device allocation
// returns CUBLAS_STATUS_EXECUTION_FAILED (a real device faults). Host pointer mode.
#ifndef SAL360_NN_CUDA_EMU_INCLUDE_CUBLAS_V2_H_
#define SAL360_NN_CUDA_EMU_INCLUDE_CUBLAS_V2_H_

#include "cuda_runtime.h"

typedef enum {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_ARCH_MISMATCH = 8,
  CUBLAS_STATUS_MAPPING_ERROR = 11,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
  CUBLAS_STATUS_INTERNAL_ERROR = 14,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
} cublasStatus_t;

typedef enum {
  CUBLAS_OP_N = 0,
  CUBLAS_OP_T = 1,
  CUBLAS_OP_C = 2,
} cublasOperation_t;

// The types cublasGemmEx names (library_types.h and cublas_api.h values).
typedef enum cudaDataType_t {
  CUDA_R_32F = 0,
  CUDA_R_16F = 2,
  CUDA_R_16BF = 14,
} cudaDataType;

typedef enum {
  CUBLAS_COMPUTE_32F = 68,
  CUBLAS_COMPUTE_32F_PEDANTIC = 69,
  CUBLAS_COMPUTE_32F_FAST_16F = 74,
  CUBLAS_COMPUTE_32F_FAST_16BF = 75,
  CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
} cublasComputeType_t;

typedef enum {
  CUBLAS_GEMM_DEFAULT = -1,
} cublasGemmAlgo_t;

struct cublasContext;
typedef struct cublasContext* cublasHandle_t;

cublasStatus_t cublasCreate(cublasHandle_t* handle);
cublasStatus_t cublasDestroy(cublasHandle_t handle);
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream);
cublasStatus_t cublasGetStream(cublasHandle_t handle, cudaStream_t* stream);
const char* cublasGetStatusString(cublasStatus_t status);
const char* cublasGetStatusName(cublasStatus_t status);

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float* alpha,
                           const float* A, int lda, const float* B, int ldb, const float* beta,
                           float* C, int ldc);

// FP32 A, B and C only (another type: CUBLAS_STATUS_NOT_SUPPORTED), CUBLAS_GEMM_DEFAULT.
// The compute type decides what the emulation multiplies: CUBLAS_COMPUTE_32F and _PEDANTIC
// exactly cublasSgemm's product; _FAST_TF32 and _FAST_16BF the product of both operands
// rounded as a tensor core reads them (nn::RoundOperand: TF32 round-to-nearest-away,
// BF16 round-to-nearest-even), accumulated in FP32 by the same CPU GEMM. A GPU's cuBLAS
// *may* use such kernels; the emulation always does, so that the reduced-precision
// path's error is present, and bounded, in every CI run. _FAST_16F: NOT_SUPPORTED.
cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                            cublasOperation_t transb, int m, int n, int k, const void* alpha,
                            const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C,
                            cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                            cublasGemmAlgo_t algo);

#endif  // SAL360_NN_CUDA_EMU_INCLUDE_CUBLAS_V2_H_

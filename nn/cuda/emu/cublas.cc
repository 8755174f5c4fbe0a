// The emulated cuBLAS (see include/cublas_v2.h): column-major GEMM on the CPU path's one
// GEMM (nn/cpu_gemm.h), so the emulated device multiplies exactly like the CPU.

#include <algorithm>
#include <mutex>
#include <vector>

#include "cublas_v2.h"
#include "nn/cpu_gemm.h"
#include "nn/math_mode.h"
#include "nn/cuda/emu/state.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
};

namespace {

using Lock = std::lock_guard<std::recursive_mutex>;

bool KnownOp(cublasOperation_t op) {
  return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C;
}

// A column-major (rows, cols) operand with leading dimension ld spans
// ld·(cols − 1) + rows elements.
bool OperandInDevice(const float* p, int rows, int cols, int ld) {
  if (rows == 0 || cols == 0) return true;
  const size_t elems = static_cast<size_t>(ld) * (cols - 1) + rows;
  return sal360::emu::InDeviceAllocation(p, elems * sizeof(float));
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = new cublasContext();
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!sal360::emu::IsValidStream(stream)) return CUBLAS_STATUS_INVALID_VALUE;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetStream(cublasHandle_t handle, cudaStream_t* stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (stream == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *stream = handle->stream;
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "the GPU program failed to execute (emulation: an operand outside device memory)";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
  }
  return "unknown error";
}

namespace {

// The shared body of cublasSgemm and cublasGemmEx: cuBLAS's argument rules, the device
// checks, then the CPU GEMM on operands rounded to `precision` (fp32: unchanged).
cublasStatus_t Gemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                    int m, int n, int k, const float* alpha, const float* A, int lda,
                    const float* B, int ldb, const float* beta, float* C, int ldc,
                    sal360::nn::Precision precision) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  // cuBLAS's argument rules (column-major): op(A) is m x k, op(B) k x n, C m x n.
  const int a_rows = transa == CUBLAS_OP_N ? m : k, a_cols = transa == CUBLAS_OP_N ? k : m;
  const int b_rows = transb == CUBLAS_OP_N ? k : n, b_cols = transb == CUBLAS_OP_N ? n : k;
  if (!KnownOp(transa) || !KnownOp(transb) || m < 0 || n < 0 || k < 0 ||
      lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) || ldc < std::max(1, m)) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (alpha == nullptr || beta == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  Lock lock(sal360::emu::DeviceMutex());
  if (sal360::emu::StickyError() != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
  if (!OperandInDevice(C, m, n, ldc) ||
      (k > 0 && (!OperandInDevice(A, a_rows, a_cols, lda) ||
                 !OperandInDevice(B, b_rows, b_cols, ldb)))) {
    return CUBLAS_STATUS_EXECUTION_FAILED;
  }
  std::vector<float> a_rounded, b_rounded;
  if (precision != sal360::nn::Precision::kFp32 && k > 0) {
    // The whole strided span of each operand (ld·(cols − 1) + rows elements), rounded
    // element by element: the GEMM then reads the same layout.
    const auto round_span = [precision](const float* p, int rows, int cols, int ld,
                                        std::vector<float>& out) {
      out.assign(p, p + static_cast<size_t>(ld) * (cols - 1) + rows);
      for (float& v : out) v = sal360::nn::RoundOperand(v, precision);
    };
    round_span(A, a_rows, a_cols, lda, a_rounded);
    round_span(B, b_rows, b_cols, ldb, b_rounded);
    A = a_rounded.data();
    B = b_rounded.data();
  }
  // Column-major C (m, n) is row-major C^T (n, m) = op(B)^T · op(A)^T: the row-major call
  // with the operands swapped, which is the CPU path's own call for RowMajorGemm's shapes.
  sal360::nn::CpuSgemm(transb != CUBLAS_OP_N, transa != CUBLAS_OP_N, n, m, k, *alpha, B, ldb, A,
                       lda, *beta, C, ldc);
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float* alpha,
                           const float* A, int lda, const float* B, int ldb, const float* beta,
                           float* C, int ldc) {
  return Gemm(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
              sal360::nn::Precision::kFp32);
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                            cublasOperation_t transb, int m, int n, int k, const void* alpha,
                            const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C,
                            cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                            cublasGemmAlgo_t algo) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (Atype != CUDA_R_32F || Btype != CUDA_R_32F || Ctype != CUDA_R_32F ||
      algo != CUBLAS_GEMM_DEFAULT) {
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  sal360::nn::Precision precision;
  switch (computeType) {
    case CUBLAS_COMPUTE_32F:
    case CUBLAS_COMPUTE_32F_PEDANTIC: precision = sal360::nn::Precision::kFp32; break;
    case CUBLAS_COMPUTE_32F_FAST_TF32: precision = sal360::nn::Precision::kTf32; break;
    case CUBLAS_COMPUTE_32F_FAST_16BF: precision = sal360::nn::Precision::kBf16; break;
    default: return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  return Gemm(handle, transa, transb, m, n, k, static_cast<const float*>(alpha),
              static_cast<const float*>(A), lda, static_cast<const float*>(B), ldb,
              static_cast<const float*>(beta), static_cast<float*>(C), ldc, precision);
}

// How the CUDA backend does its arithmetic (issue #17): which engine runs the layers and
// in which precision the GEMMs multiply. The CPU path always computes in FP32 with our
// own loops; these settings exist for the CUDA device only (nn/context.h keeps them).
//
//   engine     native  our gather kernels + cuBLAS GEMMs + our batch-norm, pooling,
//                      upsample kernels (what --config=cuda_emu verifies in CI)
//              cudnn   the cuDNN 9 graph API for the convolutions (fp32, tf32; at bf16 they
//                      use the native BF16 GEMMs), batch-norm + ReLU and max-pool
//                      (nn/cuda/cudnn_graph.h); the rest as native. Under cuda_emu it
//                      runs against the emulated cuDNN graph API (nn/cuda/emu/).
//   precision  fp32    FP32 GEMMs (cublasSgemm), bit-identical to the CPU under emulation
//              tf32    tensor-core GEMMs with TF32 operands (cublasGemmEx,
//                      CUBLAS_COMPUTE_32F_FAST_TF32): 10 mantissa bits in, FP32 accumulate
//              bf16    tensor-core GEMMs with BF16 operands (CUBLAS_COMPUTE_32F_FAST_16BF):
//                      7 mantissa bits in, FP32 accumulate
// Storage stays FP32 in every precision: activations, gradients, master weights and the
// optimiser state are float; only the GEMMs' operands are rounded, inside the GEMM.
#ifndef SAL360_NN_MATH_MODE_H_
#define SAL360_NN_MATH_MODE_H_

#include <string_view>

#include "absl/status/statusor.h"

namespace sal360::nn {

enum class Precision { kFp32, kTf32, kBf16 };
enum class GpuEngine { kNative, kCudnn };

struct GpuMath {
  GpuEngine engine = GpuEngine::kNative;
  Precision precision = Precision::kFp32;
  bool operator==(const GpuMath& o) const {
    return engine == o.engine && precision == o.precision;
  }
  bool operator!=(const GpuMath& o) const { return !(*this == o); }
};

const char* PrecisionName(Precision p);  // "fp32" | "tf32" | "bf16"
const char* GpuEngineName(GpuEngine e);  // "native" | "cudnn"
absl::StatusOr<Precision> ParsePrecision(std::string_view name);
absl::StatusOr<GpuEngine> ParseGpuEngine(std::string_view name);

// What a float operand becomes inside a GEMM of precision p:
//   fp32  unchanged;
//   tf32  10 explicit mantissa bits, rounded to nearest with ties away from zero (PTX
//         cvt.rna.tf32.f32, the conversion cuBLAS's and CUTLASS's TF32 kernels use);
//   bf16  7 explicit mantissa bits, rounded to nearest even (cvt.rn.bf16.f32).
// The exponent range is FP32's in all three. NaN stays NaN, ±inf stays ±inf; a finite
// value that rounds past FLT_MAX becomes ±inf, as the hardware conversion does. The CUDA
// emulation's cublasGemmEx applies it to both operands before an FP32 GEMM.
float RoundOperand(float x, Precision p);

// Unit roundoff of an operand: 2^-24 (fp32), 2^-11 (tf32), 2^-8 (bf16). Tests derive
// their tolerances from it.
double OperandUnitRoundoff(Precision p);

}  // namespace sal360::nn

#endif  // SAL360_NN_MATH_MODE_H_

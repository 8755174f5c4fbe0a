// CUDA-vs-CPU parity of SphericalConv, forward and backward, both algorithms, nearest
// and bilinear tables; skipped with a message when there is no device.
//
// Tolerances (per quantity, with the reason):
//   - y, dx, dw: the GEMMs sum in a different order on cuBLAS and OpenBLAS, and nvcc
//     contracts a*b + c into FMAs in the bilinear gathers. Each result is within
//     kRelToAbsSum · sum|terms| of the exact value (the CPU tests establish this bound
//     against the double reference), so the two devices differ by at most twice that.
//   - db: both devices add the same rows in the same two-stage order with plain adds
//     (kernels::AccumulateRow, nothing to contract): bit-identical.
//   - the gathers alone (checked through one-kernel-position weights): the same bodies,
//     compiled without FMA contraction (-fmad=false): bit-identical.
//   - tf32 / bf16 GEMMs (issue #17) against the fp32 CPU: each product a·b of rounded
//     operands is within (2u + u²)|a||b| of the exact one (u = 2^-11 or 2^-8; a gathered
//     operand is itself a sum whose magnitude is at most its terms' sum), so the result is
//     within (2.01u + 2·kRelToAbsSum) · sum|terms| of the CPU's.
//   - the cudnn engine: FP32 GEMMs in another order (as cuBLAS's), same tolerance as above;
//     with tf32 the tf32 bound; at bf16 its convolutions are the native BF16 GEMMs.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nn/buffer.h"
#include "nn/context.h"
#include "nn/math_mode.h"
#include "nn/ops/dispatch.h"
#include "nn/ops/spherical_conv.h"
#include "nn/ops/spherical_conv_kernels.h"
#include "tests/nn/spherical_conv_testing.h"
#include "tests/testing/gpu.h"

namespace sal360::nn {
namespace {

using namespace conv_testing;  // NOLINT: the test vocabulary (Problem, RunConv, ...)

void ExpectParity(const std::vector<float>& cuda, const std::vector<float>& cpu,
                  const std::vector<double>& abs_sum, const std::string& what,
                  Precision precision = Precision::kFp32) {
  ASSERT_EQ(cuda.size(), cpu.size()) << what;
  const double u = precision == Precision::kFp32 ? 0.0 : OperandUnitRoundoff(precision);
  int failures = 0;
  for (size_t i = 0; i < cuda.size() && failures < 10; ++i) {
    const double tol = (2 * kRelToAbsSum + 2.01 * u) * abs_sum[i] + 1e-6;
    if (!(std::fabs(double{cuda[i]} - cpu[i]) <= tol)) {
      ADD_FAILURE() << what << "[" << i << "]: cuda " << cuda[i] << " cpu " << cpu[i]
                    << " tol " << tol;
      ++failures;
    }
  }
}


// Every case, algorithm and precision (native engine) and, where cuDNN runs, the cudnn
// engine in fp32 and tf32, against the fp32 CPU.
void ExpectEngineParity(GpuEngine engine, const std::vector<Precision>& precisions) {
  for (const Case& c : Cases()) {
    const TableSpec spec = Spec(c.h, c.w, c.mode);
    const ConvTable cpu_table = ConvTable::Create(spec, Device::kCpu);
    const ConvTable cuda_table = ConvTable::Create(spec, Device::kCuda);
    const Problem pr = MakeProblem(sphere::CachedGatherTable(spec), c.n, c.cin, c.cout, 211);
    const auto dy = RandomVector(pr.ys().numel(), 223);
    std::vector<double> y_ref, y_abs;
    ExpandedImageConv(pr, &y_ref, &y_abs);
    const RefGrads ref = ReferenceBackward(pr, dy);
    for (Precision p : precisions) {
      for (const auto& [name, opt] : AllOptions()) {
        const Outputs b = RunConv(cpu_table, pr, dy, opt);
        Outputs a;
        {
          ::sal360::testing::ScopedGpuMath math(GpuMath{engine, p});
          ASSERT_TRUE(math.status.ok()) << math.status;
          a = RunConv(cuda_table, pr, dy, opt);
        }
        const std::string what =
            Name(c) + "/" + name + "/" + GpuEngineName(engine) + "/" + PrecisionName(p);
        ExpectParity(a.y, b.y, y_abs, what + " y", p);
        ExpectParity(a.dx, b.dx, ref.dx_abs, what + " dx", p);
        ExpectParity(a.dw_oihw, b.dw_oihw, ref.dw_abs, what + " dw", p);
        EXPECT_EQ(a.db, b.db) << what << " db (our kernel in every engine and precision)";
      }
    }
  }
}

TEST(SphericalConvCuda, ForwardAndBackwardParity) {
  SAL_SKIP_WITHOUT_CUDA();
  ExpectEngineParity(GpuEngine::kNative, {Precision::kFp32});
}

TEST(SphericalConvCuda, Tf32AndBf16GemmsStayWithinTheirBounds) {
  SAL_SKIP_WITHOUT_CUDA();
  ExpectEngineParity(GpuEngine::kNative, {Precision::kTf32, Precision::kBf16});
}

TEST(SphericalConvCuda, CudnnEngineMatchesTheCpu) {
  SAL_SKIP_WITHOUT_CUDNN_ENGINE();
  ExpectEngineParity(GpuEngine::kCudnn, {Precision::kFp32, Precision::kTf32, Precision::kBf16});
}

#ifdef SAL360_WITH_CUDA
// The cudnn engine's weight layout (KRSC) and back, on the device, against the index
// function the kernels use.
TEST(SphericalConvCuda, KrscWeightPermutationRoundTrips) {
  SAL_SKIP_WITHOUT_CUDA();
  const int cin = 5, cout = 7;
  const int64_t n = int64_t{9} * cin * cout;
  const std::vector<float> w = RandomVector(n, 31);
  Tensor dw_t = Tensor::FromVector(Shape{9, 1, cin, cout}, w, Device::kCuda);
  Tensor krsc = Tensor::Zeros(Shape{1, 1, 1, static_cast<int>(n)}, Device::kCuda);
  cuda::WeightToKrsc(dw_t.data(), cin, cout, krsc.data(), CudaStream());
  const std::vector<float> k = krsc.ToVector();
  for (int tap = 0; tap < 9; ++tap)
    for (int ci = 0; ci < cin; ++ci)
      for (int co = 0; co < cout; ++co)
        ASSERT_EQ(k[(co * 9 + tap) * cin + ci], w[(tap * cin + ci) * cout + co]) << tap << " " << ci << " " << co;
  // w += permute^-1(krsc): doubles every weight exactly.
  cuda::AddKrscToWeight(krsc.data(), cin, cout, dw_t.data(), CudaStream());
  const std::vector<float> twice = dw_t.ToVector();
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(twice[i], 2 * w[i]) << i;
}
#endif

// With a weight selecting one kernel position (identity over channels, zero bias) the
// GEMMs only add exact zeros, so y is the gathered sample itself on both devices; the
// gathers run the same bodies without FMA contraction (-fmad=false): bit-identical.
TEST(SphericalConvCuda, GatherIsBitExact) {
  SAL_SKIP_WITHOUT_CUDA();
  for (TableMode mode : {TableMode::kNearest, TableMode::kBilinear}) {
    const TableSpec spec = Spec(6, 12, mode);
    const ConvTable cpu_table = ConvTable::Create(spec, Device::kCpu);
    const ConvTable cuda_table = ConvTable::Create(spec, Device::kCuda);
    Problem pr = MakeProblem(sphere::CachedGatherTable(spec), 2, 3, 3, 227);
    std::fill(pr.b.begin(), pr.b.end(), 0.0f);
    for (int k = 0; k < 9; ++k) {
      std::fill(pr.w_oihw.begin(), pr.w_oihw.end(), 0.0f);
      for (int ch = 0; ch < 3; ++ch) pr.w_oihw[(ch * 3 + ch) * 9 + k] = 1.0f;
      for (const auto& [name, opt] : AllOptions()) {
        EXPECT_EQ(RunConv(cuda_table, pr, {}, opt).y, RunConv(cpu_table, pr, {}, opt).y)
            << name << " k=" << k;
      }
    }
  }
}

TEST(SphericalConvCuda, DeterministicAndNoAllocationAfterWarmUp) {
  SAL_SKIP_WITHOUT_CUDA();
  const TableSpec spec = Spec(8, 16, TableMode::kBilinear);
  const ConvTable t = ConvTable::Create(spec, Device::kCuda);
  const Problem pr = MakeProblem(sphere::CachedGatherTable(spec), 3, 5, 7, 229);
  const auto dy = RandomVector(pr.ys().numel(), 233);
  for (const auto& [name, opt] : AllOptions()) {
    Tensor x = Tensor::FromVector(pr.xs(), pr.x, Device::kCuda);
    Tensor w = WeightTensor(pr, Device::kCuda);
    Tensor b = Tensor::FromVector(Shape{1, 1, 1, pr.cout}, pr.b, Device::kCuda);
    Tensor y(pr.ys(), Device::kCuda), dx(pr.xs(), Device::kCuda);
    Tensor tdy = Tensor::FromVector(pr.ys(), dy, Device::kCuda);
    Tensor dw = Tensor::Zeros(w.shape(), Device::kCuda), db = Tensor::Zeros(b.shape(), Device::kCuda);
    auto step = [&] {
      dw.SetZero();
      db.SetZero();
      SphericalConvForward(t, x, w, b, y, opt);
      SphericalConvBackward(t, x, w, tdy, &dx, dw, db, opt);
    };
    step();  // warm-up: the arena grows to its high-water mark here
    Context::Get(Device::kCuda).arena().Reset();
    step();
    const auto y1 = y.ToVector(), dx1 = dx.ToVector(), dw1 = dw.ToVector(), db1 = db.ToVector();
    const int64_t allocations = Buffer::device_allocations();
    step();
    EXPECT_EQ(Buffer::device_allocations(), allocations) << name << ": cudaMalloc inside the step";
    EXPECT_EQ(y.ToVector(), y1) << name;
    EXPECT_EQ(dx.ToVector(), dx1) << name;
    EXPECT_EQ(dw.ToVector(), dw1) << name;
    EXPECT_EQ(db.ToVector(), db1) << name;
  }
}

}  // namespace
}  // namespace sal360::nn

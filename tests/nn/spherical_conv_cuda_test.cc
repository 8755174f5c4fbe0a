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
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nn/buffer.h"
#include "nn/context.h"
#include "nn/ops/spherical_conv.h"
#include "tests/nn/spherical_conv_testing.h"
#include "tests/testing/gpu.h"

namespace sal360::nn {
namespace {

using namespace conv_testing;  // NOLINT: the test vocabulary (Problem, RunConv, ...)

void ExpectParity(const std::vector<float>& cuda, const std::vector<float>& cpu,
                  const std::vector<double>& abs_sum, const std::string& what) {
  ASSERT_EQ(cuda.size(), cpu.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < cuda.size() && failures < 10; ++i) {
    const double tol = 2 * kRelToAbsSum * abs_sum[i] + 1e-6;
    if (!(std::fabs(double{cuda[i]} - cpu[i]) <= tol)) {
      ADD_FAILURE() << what << "[" << i << "]: cuda " << cuda[i] << " cpu " << cpu[i]
                    << " tol " << tol;
      ++failures;
    }
  }
}

TEST(SphericalConvCuda, ForwardAndBackwardParity) {
  SAL_SKIP_WITHOUT_CUDA();
  for (const Case& c : Cases()) {
    const TableSpec spec = Spec(c.h, c.w, c.mode);
    const ConvTable cpu_table = ConvTable::Create(spec, Device::kCpu);
    const ConvTable cuda_table = ConvTable::Create(spec, Device::kCuda);
    const Problem pr = MakeProblem(sphere::CachedGatherTable(spec), c.n, c.cin, c.cout, 211);
    const auto dy = RandomVector(pr.ys().numel(), 223);
    std::vector<double> y_ref, y_abs;
    ExpandedImageConv(pr, &y_ref, &y_abs);
    const RefGrads ref = ReferenceBackward(pr, dy);
    for (const auto& [name, opt] : AllOptions()) {
      const std::string what = Name(c) + "/" + name;
      const Outputs a = RunConv(cuda_table, pr, dy, opt);
      const Outputs b = RunConv(cpu_table, pr, dy, opt);
      ExpectParity(a.y, b.y, y_abs, what + " y");
      ExpectParity(a.dx, b.dx, ref.dx_abs, what + " dx");
      ExpectParity(a.dw_oihw, b.dw_oihw, ref.dw_abs, what + " dw");
      EXPECT_EQ(a.db, b.db) << what << " db (same order, plain adds)";
    }
  }
}

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

// The gradient checker itself: it accepts correct gradients, rejects wrong ones, rounds
// the step to float, and skips (only) points at kinks — with a limit on how many.
#include "tests/testing/gradcheck.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace sal360::testing {
namespace {

// f(x) = Σ c_i·x_i² + sin(x_0)·x_1, all in double.
double Smooth(const std::vector<float>& x) {
  double s = std::sin(static_cast<double>(x[0])) * x[1];
  for (size_t i = 0; i < x.size(); ++i) s += (i + 1.0) * x[i] * x[i];
  return s;
}
std::vector<double> SmoothGrad(const std::vector<float>& x) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) g[i] = 2 * (i + 1.0) * x[i];
  g[0] += std::cos(static_cast<double>(x[0])) * x[1];
  g[1] += std::sin(static_cast<double>(x[0]));
  return g;
}

TEST(GradCheck, AcceptsTheTrueGradientAndRejectsAWrongOne) {
  const std::vector<float> x = RandomFloats(6, 1);
  GradCheckOptions opt;
  opt.step = 1e-3;
  const GradCheckResult good = CheckGradient(Smooth, x, SmoothGrad(x), opt);
  EXPECT_TRUE(GradientMatches(good, opt, 6));
  EXPECT_LT(good.max_abs_err, 1e-5);
  std::vector<double> wrong = SmoothGrad(x);
  wrong[3] *= 1.05;
  const GradCheckResult bad = CheckGradient(Smooth, x, wrong, opt);
  EXPECT_EQ(bad.failed, 1);
  EXPECT_FALSE(GradientMatches(bad, opt));
  EXPECT_NE(bad.failures.find("x[3]"), std::string::npos);
}

TEST(GradCheck, SkipsKinksOnlyWhenAskedAndLimitsThem) {
  // f = Σ |x_i|, with x_0 at the kink.
  auto f = [](const std::vector<float>& x) {
    double s = 0;
    for (float v : x) s += std::fabs(static_cast<double>(v));
    return s;
  };
  std::vector<float> x = {0.0f, 0.5f, -0.25f, 0.75f, -1.0f};
  const std::vector<double> g = {1.0, 1.0, -1.0, 1.0, -1.0};  // subgradient 1 at the kink
  GradCheckOptions opt;
  EXPECT_FALSE(GradientMatches(CheckGradient(f, x, g, opt), opt));  // central diff is 0 there
  opt.skip_kinks = true;
  opt.max_skipped_fraction = 0.25;
  const GradCheckResult r = CheckGradient(f, x, g, opt);
  EXPECT_EQ(r.skipped, 1);
  EXPECT_EQ(r.checked, 4);
  EXPECT_TRUE(GradientMatches(r, opt, 4));
  opt.max_skipped_fraction = 0.1;  // 1 of 5 skipped is too many now
  EXPECT_FALSE(GradientMatches(r, opt, 4));
  EXPECT_FALSE(GradientMatches(r, GradCheckOptions{}, 5));  // too few checked
}

TEST(GradCheck, DividesByTheStepActuallyTaken) {
  // At x = 3000 the float spacing is 2.4e-4: x ± 1e-3 rounds to 3000 ± 0.0009765625.
  // f(x) = 2x must still give exactly 2.
  const std::vector<float> x = {3000.0f};
  auto f = [](const std::vector<float>& v) { return 2.0 * v[0]; };
  GradCheckOptions opt;
  opt.step = 1e-3;
  opt.atol = 1e-12;
  opt.rtol = 0;
  EXPECT_TRUE(GradientMatches(CheckGradient(f, x, {2.0}, opt), opt));
}

TEST(GradCheck, SubsetIsDeterministic) {
  const std::vector<float> x = RandomFloats(200, 2);
  GradCheckOptions opt;
  opt.step = 1e-3;
  opt.max_points = 17;
  const GradCheckResult a = CheckGradient(Smooth, x, SmoothGrad(x), opt);
  EXPECT_EQ(a.checked, 17);
  EXPECT_EQ(CheckGradient(Smooth, x, SmoothGrad(x), opt).max_abs_err, a.max_abs_err);
}

}  // namespace
}  // namespace sal360::testing

// Finite-difference gradient checks for the nn/ layers.
//
// The reference is a central difference of a scalar objective computed in DOUBLE by the
// caller (typically L = Σ r·y over the float outputs y of an op, with fixed random
// weights r; then dL/dy = r is what the backward receives):
//     numeric_i = (f(x + h e_i) − f(x − h e_i)) / (x_i⁺ − x_i⁻)
// where x_i± are x_i ± h ROUNDED TO FLOAT (the op sees float inputs) and the division
// uses the step actually taken. A point passes when
//     |numeric − analytic| ≤ atol + rtol · max(|numeric|, |analytic|).
//
// Kinks (ReLU at 0, a max-pool window whose two largest values are within h): with
// skip_kinks, a point where the one-sided slopes (f(x⁺) − f(x))/(x⁺ − x) and
// (f(x) − f(x⁻))/(x − x⁻) differ by more than kink_tol · (1 + |numeric|) is not
// differentiable inside the stencil and is skipped; the check fails when more than
// max_skipped_fraction of the points are skipped, so skipping cannot hide a broken op.
//
// Set SAL360_GRADCHECK_VERBOSE=1 to print each check's counts and max error (to size
// tolerances from measurements).
#ifndef SAL360_TESTS_TESTING_GRADCHECK_H_
#define SAL360_TESTS_TESTING_GRADCHECK_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sal360::testing {

struct GradCheckOptions {
  double step = 1e-2;
  double atol = 1e-4;
  double rtol = 1e-2;
  bool skip_kinks = false;
  double kink_tol = 1e-2;
  double max_skipped_fraction = 0.1;
  // 0: check every coordinate. Otherwise a deterministic random subset of this size
  // (seeded by `seed`) — for large inputs.
  int64_t max_points = 0;
  uint64_t seed = 1;
};

struct GradCheckResult {
  int64_t checked = 0, skipped = 0, failed = 0;
  double max_abs_err = 0.0;
  std::string failures;  // the first few failing coordinates, for the test log
};

// f(x) must be a pure function of x (reset any state it mutates, e.g. BN running
// statistics, or ignore it). `analytic` has x0.size() entries.
GradCheckResult CheckGradient(const std::function<double(const std::vector<float>&)>& f,
                              const std::vector<float>& x0, const std::vector<double>& analytic,
                              const GradCheckOptions& options = {});

// gtest adapter: passes when nothing failed, at least `min_checked` points were checked
// and the skipped fraction is within the options' limit.
::testing::AssertionResult GradientMatches(const GradCheckResult& r, const GradCheckOptions& options,
                                           int64_t min_checked = 1);

// Deterministic test data: n values uniform in [lo, hi) from std::mt19937_64(seed)
// (drawn by hand, identical on every platform).
std::vector<float> RandomFloats(int64_t n, uint64_t seed, double lo = -1.0, double hi = 1.0);
// Σ r_i·y_i accumulated in double.
double Dot(const std::vector<float>& y, const std::vector<float>& r);
std::vector<double> ToDoubles(const std::vector<float>& v);

}  // namespace sal360::testing

#endif  // SAL360_TESTS_TESTING_GRADCHECK_H_

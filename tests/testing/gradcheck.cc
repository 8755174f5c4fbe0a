#include "tests/testing/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <sstream>

namespace sal360::testing {

GradCheckResult CheckGradient(const std::function<double(const std::vector<float>&)>& f,
                              const std::vector<float>& x0, const std::vector<double>& analytic,
                              const GradCheckOptions& options) {
  GradCheckResult r;
  if (analytic.size() != x0.size()) {
    r.failed = 1;
    r.failures = "analytic gradient has a different size than x";
    return r;
  }
  std::vector<int64_t> points(x0.size());
  std::iota(points.begin(), points.end(), 0);
  if (options.max_points > 0 && static_cast<int64_t>(points.size()) > options.max_points) {
    std::mt19937_64 rng(options.seed);
    for (size_t i = points.size() - 1; i > 0; --i) std::swap(points[i], points[rng() % (i + 1)]);
    points.resize(options.max_points);
    std::sort(points.begin(), points.end());
  }
  std::vector<float> x = x0;
  const double f0 = options.skip_kinks ? f(x) : 0.0;
  std::ostringstream failures;
  for (int64_t i : points) {
    const float xi = x0[i];
    const float xp = static_cast<float>(static_cast<double>(xi) + options.step);
    const float xm = static_cast<float>(static_cast<double>(xi) - options.step);
    x[i] = xp;
    const double fp = f(x);
    x[i] = xm;
    const double fm = f(x);
    x[i] = xi;
    const double numeric = (fp - fm) / (static_cast<double>(xp) - xm);
    if (options.skip_kinks) {
      const double fwd = (fp - f0) / (static_cast<double>(xp) - xi);
      const double bwd = (f0 - fm) / (static_cast<double>(xi) - xm);
      if (std::fabs(fwd - bwd) > options.kink_tol * (1.0 + std::fabs(numeric))) {
        ++r.skipped;
        continue;
      }
    }
    ++r.checked;
    const double err = std::fabs(numeric - analytic[i]);
    r.max_abs_err = std::max(r.max_abs_err, err);
    const double tol =
        options.atol + options.rtol * std::max(std::fabs(numeric), std::fabs(analytic[i]));
    if (!(err <= tol)) {
      if (r.failed < 8) {
        failures << "  x[" << i << "] = " << xi << ": numeric " << numeric << ", analytic "
                 << analytic[i] << " (|diff| " << err << " > tol " << tol << ")\n";
      }
      ++r.failed;
    }
  }
  r.failures = failures.str();
  if (std::getenv("SAL360_GRADCHECK_VERBOSE") != nullptr) {
    std::fprintf(stderr, "gradcheck: %lld checked, %lld skipped, %lld failed, max |err| %.3g\n",
                 static_cast<long long>(r.checked), static_cast<long long>(r.skipped),
                 static_cast<long long>(r.failed), r.max_abs_err);
  }
  return r;
}

::testing::AssertionResult GradientMatches(const GradCheckResult& r, const GradCheckOptions& options,
                                           int64_t min_checked) {
  const int64_t total = r.checked + r.skipped;
  if (r.failed > 0) {
    return ::testing::AssertionFailure() << r.failed << " of " << r.checked
                                         << " coordinates disagree:\n"
                                         << r.failures;
  }
  if (r.checked < min_checked) {
    return ::testing::AssertionFailure() << "only " << r.checked << " coordinates checked (want >= "
                                         << min_checked << "; " << r.skipped << " skipped)";
  }
  if (total > 0 && static_cast<double>(r.skipped) > options.max_skipped_fraction * total) {
    return ::testing::AssertionFailure() << r.skipped << " of " << total
                                         << " coordinates skipped as kinks (limit "
                                         << options.max_skipped_fraction << ")";
  }
  return ::testing::AssertionSuccess() << r.checked << " checked, " << r.skipped
                                       << " skipped, max |err| " << r.max_abs_err;
}

std::vector<float> RandomFloats(int64_t n, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    f = static_cast<float>(lo + (hi - lo) * u);
  }
  return v;
}

double Dot(const std::vector<float>& y, const std::vector<float>& r) {
  if (y.size() != r.size()) return std::nan("");  // makes every check fail loudly
  double s = 0.0;
  for (size_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * r[i];
  return s;
}

std::vector<double> ToDoubles(const std::vector<float>& v) { return {v.begin(), v.end()}; }

}  // namespace sal360::testing

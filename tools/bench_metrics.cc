// Metric benchmark (not a test): the time of each saliency metric on one map of
// --height x --width (default 240x480) with --fixations fixated pixels (default 30),
// minimum over --reps, in microseconds; then ComputeMetrics (all nine at once) and a
// scaling check of AUC-Judd over map sizes and fixation counts (its cost must grow like
// N log Nf, never N·Nf or N²).
//
//   bazel run -c opt //tools:bench_metrics
//   bazel run -c opt //tools:bench_metrics -- --height=960 --width=1920 --fixations=1000
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "data/metrics.h"

ABSL_FLAG(int, height, 240, "Map height");
ABSL_FLAG(int, width, 480, "Map width");
ABSL_FLAG(int, fixations, 30, "Number of fixated pixels");
ABSL_FLAG(int, reps, 20, "Timed repetitions per measurement (the minimum is reported)");

namespace sal360 {
namespace {

double Micros(const std::function<double()>& fn, int reps) {
  volatile double sink = fn();  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    sink = sink + fn();
    best = std::min(
        best,
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

struct Maps {
  int h, w;
  std::vector<double> pred, gt, fix;  // (h, w) each
};

// A smooth ground truth (a few Gaussian blobs), a noisy prediction of it, fixations drawn
// at random pixels.
Maps MakeMaps(int h, int w, int nfix, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Maps m{h, w, std::vector<double>(size_t(h) * w), std::vector<double>(size_t(h) * w),
         std::vector<double>(size_t(h) * w, 0.0)};
  const double cx[3] = {0.2, 0.5, 0.8}, cy[3] = {0.5, 0.4, 0.6};
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < w; ++j) {
      double g = 0;
      for (int b = 0; b < 3; ++b) {
        const double dx = (j + 0.5) / w - cx[b], dy = (i + 0.5) / h - cy[b];
        g += std::exp(-(dx * dx + dy * dy) / 0.005);
      }
      m.gt[size_t(i) * w + j] = g;
      m.pred[size_t(i) * w + j] = g + 0.2 * u(rng);
    }
  }
  for (int k = 0; k < nfix; ++k) m.fix[rng() % m.fix.size()] = 1.0;
  return m;
}

int Main() {
  const int h = absl::GetFlag(FLAGS_height), w = absl::GetFlag(FLAGS_width);
  const int nfix = absl::GetFlag(FLAGS_fixations), reps = absl::GetFlag(FLAGS_reps);
  if (h <= 0 || w <= 0 || nfix <= 0 || nfix >= h * w || reps <= 0) {
    std::fprintf(stderr, "bench_metrics: bad flags\n");
    return 1;
  }
  const Maps m = MakeMaps(h, w, nfix, 1);
  const data::MapRef p{m.pred.data(), h, w}, g{m.gt.data(), h, w}, f{m.fix.data(), h, w};
  const std::vector<double> flat, sphere = data::SphereRowWeights(h);
  std::printf("saliency metrics on one %dx%d map, %d fixations (minimum of %d runs)\n", h, w, nfix,
              reps);
  struct Case {
    const char* name;
    std::function<double()> fn;
  };
  const Case cases[] = {
      {"cc", [&] { return data::Cc(p, g, flat, nullptr); }},
      {"kld", [&] { return data::Kld(p, g, flat, nullptr); }},
      {"nss", [&] { return data::Nss(p, f, flat, nullptr); }},
      {"auc_judd", [&] { return data::AucJudd(p, f, nullptr); }},
      {"sim", [&] { return data::Sim(p, g, flat, nullptr); }},
      {"cc_sphere", [&] { return data::Cc(p, g, sphere, nullptr); }},
      {"kld_sphere", [&] { return data::Kld(p, g, sphere, nullptr); }},
      {"nss_sphere", [&] { return data::Nss(p, f, sphere, nullptr); }},
      {"sim_sphere", [&] { return data::Sim(p, g, sphere, nullptr); }},
      {"ComputeMetrics (all 9)",
       [&] { return data::ComputeMetrics(m.pred.data(), m.gt.data(), m.fix.data(), h, w).cc; }},
  };
  for (const Case& c : cases) std::printf("  %-24s %9.1f us\n", c.name, Micros(c.fn, reps));

  // AUC-Judd scaling: time per pixel should stay flat as N grows 16x, and grow only
  // like log Nf as the fixations grow 100x.
  std::printf("AUC-Judd scaling (ns per pixel)\n");
  for (auto [sh, sw, sf] : {std::tuple{120, 240, 30},
                            {240, 480, 30},
                            {480, 960, 30},
                            {240, 480, 300},
                            {240, 480, 3000}}) {
    const Maps s = MakeMaps(sh, sw, sf, 2);
    const data::MapRef sp{s.pred.data(), sh, sw}, sfx{s.fix.data(), sh, sw};
    const double us = Micros([&] { return data::AucJudd(sp, sfx, nullptr); }, reps);
    std::printf("  %4dx%-4d %5d fixations %9.1f us  %6.2f ns/pixel\n", sh, sw, sf, us,
                us * 1e3 / (double(sh) * sw));
  }
  return 0;
}

}  // namespace
}  // namespace sal360

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return sal360::Main();
}

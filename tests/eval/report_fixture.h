// A small synthetic evaluation for the report tests: ERP frames with a few coloured
// discs, a ground-truth blob per disc, a model that finds them roughly, and the three
// baselines, scored with the real metrics.
#ifndef SAL360_TESTS_EVAL_REPORT_FIXTURE_H_
#define SAL360_TESTS_EVAL_REPORT_FIXTURE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "data/baselines.h"
#include "data/metrics.h"
#include "data/report.h"

namespace sal360::data::testing {

struct SyntheticFrame {
  int h, w;
  std::vector<uint8_t> rgb;  // (h, w, 3)
  std::vector<float> gt;     // (h, w)
  std::vector<float> pred;   // (h, w)
  std::vector<float> fix;    // (h, w), 1 at fixated pixels
};

// Frame `t` of video `v`: discs move eastwards; the prediction is a blurrier blob
// slightly off the truth.
inline SyntheticFrame MakeFrame(int v, int t, int h = 60, int w = 120) {
  SyntheticFrame f{h,
                   w,
                   std::vector<uint8_t>(size_t(h) * w * 3),
                   std::vector<float>(size_t(h) * w),
                   std::vector<float>(size_t(h) * w),
                   std::vector<float>(size_t(h) * w, 0.0f)};
  const double cx[2] = {0.25 + 0.05 * t + 0.1 * v, 0.7 - 0.03 * t};
  const double cy[2] = {0.45, 0.55 - 0.04 * v};
  const uint8_t colours[2][3] = {{220, 60, 40}, {40, 160, 220}};
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < w; ++j) {
      const size_t k = size_t(i) * w + j;
      const double x = (j + 0.5) / w, y = (i + 0.5) / h;
      // Sky-to-ground gradient with a stripe texture.
      double r = 90 + 80 * y, g = 140 - 40 * y, b = 200 - 120 * y;
      if ((j / 6 + i / 6) % 2 == 0) r *= 0.9, g *= 0.9, b *= 0.9;
      double gt = 0.02, pred = 0.05;
      for (int d = 0; d < 2; ++d) {
        const double dx = std::remainder(x - cx[d], 1.0), dy = y - cy[d];
        const double d2 = dx * dx * 4 + dy * dy;
        if (d2 < 0.004) r = colours[d][0], g = colours[d][1], b = colours[d][2];
        gt += std::exp(-d2 / 0.004);
        const double px = dx - 0.02, py = dy + 0.01;
        pred += 0.8 * std::exp(-(px * px * 4 + py * py) / 0.008);
      }
      f.rgb[3 * k] = uint8_t(r), f.rgb[3 * k + 1] = uint8_t(g), f.rgb[3 * k + 2] = uint8_t(b);
      f.gt[k] = float(gt);
      f.pred[k] = float(pred);
    }
  }
  for (int d = 0; d < 2; ++d) {  // a few fixations around each disc centre
    for (int n = 0; n < 4; ++n) {
      const int i = std::clamp(int(cy[d] * h) + (n % 2) * 2 - 1, 0, h - 1);
      const int j = (int(std::fmod(cx[d], 1.0) * w) + (n / 2) * 2 - 1 + w) % w;
      f.fix[size_t(i) * w + j] = 1.0f;
    }
  }
  return f;
}

// Scores of the model and the three baselines for one frame (prev = previous frame's gt).
inline std::map<std::string, MetricSet> ScoreFrame(const SyntheticFrame& f,
                                                   const std::vector<float>& prev_gt,
                                                   const std::vector<float>& equator) {
  const std::vector<float> uniform = UniformMap(f.h, f.w);
  return {{"model", ComputeMetrics(f.pred.data(), f.gt.data(), f.fix.data(), f.h, f.w)},
          {"uniform", ComputeMetrics(uniform.data(), f.gt.data(), f.fix.data(), f.h, f.w)},
          {"equator", ComputeMetrics(equator.data(), f.gt.data(), f.fix.data(), f.h, f.w)},
          {"prev_gt", ComputeMetrics(prev_gt.data(), f.gt.data(), f.fix.data(), f.h, f.w)}};
}

// A full report: `videos` x `frames`, gallery entries for the first `gallery` frames.
inline ReportWriter MakeReport(int videos, int frames, int gallery, int h = 60, int w = 120) {
  ReportConfig cfg;
  cfg.title = "sal360 test report <synthetic> & co";
  cfg.info = {{"checkpoint", "runs/test/best.safetensors"},
              {"resolution", std::to_string(h) + "x" + std::to_string(w)}};
  ReportWriter report(cfg);
  MeanMapAccumulator mean(h, w);
  for (int v = 0; v < videos; ++v) {
    for (int t = 0; t < frames; ++t) mean.Add(MakeFrame(v, t, h, w).gt.data());
  }
  const std::vector<float> equator = mean.Mean();
  int shown = 0;
  for (int v = 0; v < videos; ++v) {
    std::vector<float> prev = UniformMap(h, w);
    for (int t = 0; t < frames; ++t) {
      const SyntheticFrame f = MakeFrame(v, t, h, w);
      const auto scores = ScoreFrame(f, prev, equator);
      if (!report.AddFrame("video_" + std::to_string(v), t + 1, scores).ok()) std::abort();
      if (shown < gallery) {
        const MetricSet& m = scores.at("model");
        if (!report
                 .AddGalleryEntry("video_" + std::to_string(v), t + 1, f.rgb.data(), h, w,
                                  f.gt.data(), f.pred.data(), h, w, &m)
                 .ok()) {
          std::abort();
        }
        ++shown;
      }
      prev = f.gt;
    }
  }
  return report;
}

}  // namespace sal360::data::testing

#endif  // SAL360_TESTS_EVAL_REPORT_FIXTURE_H_

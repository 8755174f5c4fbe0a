// Baseline maps; see baselines.h.
#include "data/baselines.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "sphere/erp.h"

namespace sal360::data {

std::vector<float> UniformMap(int height, int width) {
  if (height <= 0 || width <= 0) {
    std::fprintf(stderr, "UniformMap: bad size %dx%d\n", height, width);
    std::abort();
  }
  return std::vector<float>(static_cast<size_t>(height) * width, 1.0f);
}

std::vector<float> LatitudePrior(int height, int width, double sigma_radians) {
  if (height <= 0 || width <= 0 || !(sigma_radians > 0)) {
    std::fprintf(stderr, "LatitudePrior: bad size %dx%d or sigma %g\n", height, width,
                 sigma_radians);
    std::abort();
  }
  std::vector<float> map(static_cast<size_t>(height) * width);  // (H, W)
  for (int i = 0; i < height; ++i) {
    const double lat = sphere::PixelLatitude(i, height);
    const float v = static_cast<float>(std::exp(-lat * lat / (2 * sigma_radians * sigma_radians)));
    for (int j = 0; j < width; ++j) map[static_cast<size_t>(i) * width + j] = v;
  }
  return map;
}

MeanMapAccumulator::MeanMapAccumulator(int height, int width)
    : height_(height), width_(width), sum_(static_cast<size_t>(height) * width, 0.0) {
  if (height <= 0 || width <= 0) {
    std::fprintf(stderr, "MeanMapAccumulator: bad size %dx%d\n", height, width);
    std::abort();
  }
}

template <typename T>
void MeanMapAccumulator::AddImpl(const T* map) {
  const size_t n = sum_.size();
  double total = 0;
  for (size_t k = 0; k < n; ++k) {
    const double v = map[k];
    if (!std::isfinite(v)) {
      ++skipped_;
      return;
    }
    total += v;
  }
  if (!(total > 0)) {
    ++skipped_;
    return;
  }
  for (size_t k = 0; k < n; ++k) sum_[k] += map[k] / total;
  ++count_;
}

void MeanMapAccumulator::Add(const float* map) { AddImpl(map); }
void MeanMapAccumulator::Add(const double* map) { AddImpl(map); }

std::vector<float> MeanMapAccumulator::Mean() const {
  const size_t n = sum_.size();
  std::vector<float> out(n);
  if (count_ == 0) {
    for (auto& v : out) v = static_cast<float>(1.0 / n);
    return out;
  }
  double total = 0;
  for (double v : sum_) total += v;
  for (size_t k = 0; k < n; ++k) out[k] = static_cast<float>(sum_[k] / total);
  return out;
}

}  // namespace sal360::data

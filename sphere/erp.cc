#include "sphere/erp.h"

#include <algorithm>

namespace sal360::sphere {

std::vector<double> RowSinColatitude(int height) {
  std::vector<double> w(static_cast<size_t>(std::max(height, 0)));
  for (int i = 0; i < height; ++i) w[i] = std::sin(PixelColatitude(i, height));
  return w;
}

std::vector<double> Salient360RowWeights(int height) {
  std::vector<double> w(static_cast<size_t>(std::max(height, 0)), 1.0);
  if (height < 2) return w;
  for (int i = 0; i < height; ++i) w[i] = std::sin(kPi * i / (height - 1));
  w.front() = 0;
  w.back() = 0;  // sin(pi) is 1.2e-16, not 0
  return w;
}

std::vector<double> RowSolidAngles(int height) {
  std::vector<double> a = RowSinColatitude(height);
  const double band = 4 * kPi * std::sin(kPi / (2.0 * height));
  for (double& v : a) v *= band;
  return a;
}

std::vector<double> PublishedLossRowWeights(int height, int width) {
  std::vector<double> w(static_cast<size_t>(std::max(height, 0)));
  for (int i = 0; i < height; ++i) {
    const double t0 = i * kPi / height, t1 = (i + 1) * kPi / height;
    w[i] = (2 * kPi / width) * (kPi / height) * (std::sin(t0) + std::sin(t1)) / 2;
  }
  return w;
}

}  // namespace sal360::sphere

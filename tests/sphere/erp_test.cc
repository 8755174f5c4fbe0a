// The one ERP convention (sphere/erp.h): pixel centres, normalised points, unit
// vectors, geodesic distance and row solid angles.
#include "sphere/erp.h"

#include <cmath>
#include <numeric>
#include <random>

#include "gtest/gtest.h"

namespace sal360::sphere {
namespace {

TEST(Erp, PixelCentresCoverTheSphereInOrder) {
  for (int h : {4, 15, 64}) {
    const int w = 2 * h;
    EXPECT_NEAR(PixelColatitude(0, h), kPi / (2 * h), 1e-15);
    EXPECT_NEAR(PixelColatitude(h - 1, h), kPi - kPi / (2 * h), 1e-14);
    EXPECT_NEAR(PixelLongitude(0, w), kPi / w, 1e-15);
    EXPECT_NEAR(PixelLongitude(w - 1, w), 2 * kPi - kPi / w, 1e-14);
    for (int i = 0; i < h; ++i) EXPECT_NEAR(PixelLatitude(i, h), kPi / 2 - PixelColatitude(i, h), 1e-15);
    // A pixel's centre as a normalised point is (j + 1/2)/W, (i + 1/2)/H.
    for (int i = 0; i < h; ++i) {
      for (int j = 0; j < w; j += 3) {
        const Point p = PointOf(PixelLatitude(i, h), PixelLongitude(j, w));
        EXPECT_NEAR(p.x, (j + 0.5) / w, 1e-14);
        EXPECT_NEAR(p.y, (i + 0.5) / h, 1e-14);
        EXPECT_NEAR(PointLongitude(p.x), PixelLongitude(j, w), 1e-13);
        EXPECT_NEAR(PointLatitude(p.y), PixelLatitude(i, h), 1e-13);
      }
    }
  }
}

TEST(Erp, PointOfWrapsLongitudeAndClampsLatitude) {
  EXPECT_NEAR(PointOf(0, -kPi / 2).x, 0.75, 1e-15);
  EXPECT_NEAR(PointOf(0, 5 * kPi).x, 0.5, 1e-14);
  EXPECT_EQ(PointOf(0, 2 * kPi).x, 0.0);
  EXPECT_EQ(PointOf(2.0, 0).y, 0.0);
  EXPECT_EQ(PointOf(-2.0, 0).y, 1.0);
}

TEST(Erp, GeodesicDistanceIsAMetricOnUnitVectors) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int k = 0; k < 500; ++k) {
    const double lat1 = std::asin(u(rng)), lon1 = kPi * (u(rng) + 1);
    const double lat2 = std::asin(u(rng)), lon2 = kPi * (u(rng) + 1);
    const Vec3 p = UnitVector(lat1, lon1), q = UnitVector(lat2, lon2);
    EXPECT_NEAR(std::sqrt(p.x * p.x + p.y * p.y + p.z * p.z), 1.0, 1e-15);
    const double d = GeodesicDistance(p, q);
    EXPECT_GE(d, 0);
    EXPECT_LE(d, kPi);
    EXPECT_DOUBLE_EQ(d, GeodesicDistance(q, p));
    // The haversine formula, independently.
    const double s = std::sin((lat2 - lat1) / 2), t = std::sin((lon2 - lon1) / 2);
    const double hav = 2 * std::asin(std::min(1.0, std::sqrt(s * s + std::cos(lat1) * std::cos(lat2) * t * t)));
    EXPECT_NEAR(d, hav, 1e-9);
    // Longitude is periodic: the same direction a turn later.
    EXPECT_NEAR(GeodesicDistance(p, UnitVector(lat1, lon1 + 2 * kPi)), 0.0, 1e-7);
  }
  EXPECT_NEAR(GeodesicDistance(UnitVector(0, 0), UnitVector(0, kPi)), kPi, 1e-15);
  EXPECT_NEAR(GeodesicDistance(UnitVector(kPi / 2, 0), UnitVector(kPi / 2, 1.0)), 0.0, 1e-15);
}

TEST(Erp, RowWeightsAreProportionalToSolidAngles) {
  for (int h : {3, 8, 240}) {
    const std::vector<double> s = RowSinColatitude(h), a = RowSolidAngles(h);
    ASSERT_EQ(s.size(), size_t(h));
    EXPECT_NEAR(std::accumulate(a.begin(), a.end(), 0.0), 4 * kPi, 1e-12);
    for (int i = 0; i < h; ++i) {
      EXPECT_NEAR(a[i] / s[i], a[0] / s[0], 1e-12);
      // The exact band: 2 pi (cos theta_top - cos theta_bottom).
      EXPECT_NEAR(a[i], 2 * kPi * (std::cos(i * kPi / h) - std::cos((i + 1) * kPi / h)), 1e-12);
      EXPECT_NEAR(s[i], s[h - 1 - i], 1e-15);
    }
  }
}

}  // namespace
}  // namespace sal360::sphere

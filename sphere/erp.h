// The equirectangular (ERP) grid on the sphere: the project's one pixel <-> sphere
// convention, used by the neighbour tables (sphere/tables.h), the ground truth, the
// metrics, the baselines and the synthetic dataset (data/).
//
// Convention. An H x W image covers colatitude theta in [0, pi] top to bottom and
// longitude phi in [0, 2pi) left to right (eastward from the left edge); latitude is
// pi/2 - theta. Pixel (i, j) has its centre at theta = (i + 1/2) pi / H and
// phi = (j + 1/2) 2pi / W (the pixel-centre convention; the "seed" convention of the
// published tables drops the halves and lives in sphere/tables.h). A normalised image
// point (x, y) in [0, 1]^2 - the dataset's gaze format - is phi = 2pi x, theta = pi y.
// Unit vectors: (cos lat cos phi, cos lat sin phi, sin lat).
#ifndef SAL360_SPHERE_ERP_H_
#define SAL360_SPHERE_ERP_H_

#include <cmath>
#include <vector>

namespace sal360::sphere {

inline constexpr double kPi = 3.14159265358979323846;

inline double PixelColatitude(int i, int h) { return (i + 0.5) * kPi / h; }
inline double PixelLatitude(int i, int h) { return kPi / 2 - kPi * (i + 0.5) / h; }
inline double PixelLongitude(int j, int w) { return (j + 0.5) * 2.0 * kPi / w; }

// A normalised point (x, y) in [0, 1]^2.
inline double PointLongitude(double x) { return 2 * kPi * x; }
inline double PointLatitude(double y) { return kPi / 2 - kPi * y; }
// The normalised point of a direction: x = phi / 2pi wrapped into [0, 1), y clamped to
// [0, 1]. `lon` may be any angle (it is wrapped).
struct Point {
  double x, y;
};
inline Point PointOf(double lat, double lon) {
  double x = lon / (2 * kPi);
  x -= std::floor(x);
  if (x >= 1) x = 0;
  double y = (kPi / 2 - lat) / kPi;
  y = y < 0 ? 0 : (y > 1 ? 1 : y);
  return {x, y};
}

struct Vec3 {
  double x, y, z;
};
inline Vec3 UnitVector(double lat, double lon) {
  return {std::cos(lat) * std::cos(lon), std::cos(lat) * std::sin(lon), std::sin(lat)};
}
// The great-circle distance between unit vectors, atan2(|p x q|, p . q): accurate at
// every distance (acos of the dot product loses half the digits near 0 and pi).
inline double GeodesicDistance(const Vec3& p, const Vec3& q) {
  const double dot = p.x * q.x + p.y * q.y + p.z * q.z;
  const double cx = p.y * q.z - p.z * q.y, cy = p.z * q.x - p.x * q.z, cz = p.x * q.y - p.y * q.x;
  return std::atan2(std::sqrt(cx * cx + cy * cy + cz * cz), dot);
}

// sin of each row centre's colatitude, sin((i + 1/2) pi / H): proportional to the solid
// angle of the row's pixels (the weights of the sphere-weighted metrics).
std::vector<double> RowSinColatitude(int height);
// Solid angle of each row band of an H-row grid (edges at i pi / H):
// 2pi (cos(i pi/H) - cos((i+1) pi/H)) = 4pi sin(pi/(2H)) sin((i + 1/2) pi/H);
// RowSinColatitude times 4pi sin(pi/(2H)), summing to 4pi. Per pixel: / W.
std::vector<double> RowSolidAngles(int height);
// The Salient360! toolbox's row weights: sin(linspace(0, pi, H)) = sin(i pi / (H - 1)),
// so the first and last rows weigh 0 (H = 1: weight 1).
std::vector<double> Salient360RowWeights(int height);
// The published training loss's per-pixel row weight
// (2pi/W)(pi/H)(sin(theta_i) + sin(theta_{i+1}))/2 with theta_i = i pi / H.
std::vector<double> PublishedLossRowWeights(int height, int width);

}  // namespace sal360::sphere

#endif  // SAL360_SPHERE_ERP_H_

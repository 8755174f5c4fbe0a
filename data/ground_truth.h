// Ground-truth saliency maps from gaze points, fixation maps, and the `_gt.npy` cache.
//
// Coordinates (equirectangular, ERP). A gaze point (x, y) has x in [0, 1] left→right and
// y in [0, 1] top→bottom (y = 0 is the north pole). Its direction on the sphere is
//   longitude λ = 2π·x − π,   latitude φ = π/2 − π·y.
// Pixel (i, j) of an (H, W) map stands for its centre:
//   λ_j = 2π·(j + 0.5)/W − π,  φ_i = π/2 − π·(i + 0.5)/H.
//
// Ground truth (data scale). For N gaze points g_1..g_N of one frame:
//   G(p) = (1/N) · Σ_v exp(−d(p, g_v)² / (2σ²)),  d = geodesic (great-circle) distance,
// σ = π/20 by default. Each viewer contributes a spherical Gaussian of peak 1, so G is in
// [0, 1], is a per-viewer mean (the map of a frame does not grow with the number of
// viewers), and is smooth across the longitude seam and the poles by construction.
// This is the published training target divided by 10: the published loader put 10 at
// each fixation pixel, blurred it with a spherical Gaussian kernel of peak 1 and divided
// by the number of viewers; the network sees maps ×10 (tools' kMapScale).
// Differences from the published code, by choice: the Gaussian is evaluated exactly at
// each pixel centre around the exact gaze direction (the published code snapped each
// gaze point to a pixel, truncated its kernel at π/7 ≈ 2.9σ and counted two viewers
// on the same pixel once); so our map does not depend on the resolution beyond sampling.
//
// Fixation map (for NSS / AUC): 1 at column min(int(x·W + 0.5), W − 1), row
// min(int(y·H + 0.5), H − 1) of every gaze point, else 0 — the published rule. (It may
// sit one pixel right/below the pixel whose centre is nearest the gaze point.)
//
// `_gt.npy` cache (next to frame NNNN.jpg: NNNN_gt.npy): float64, shape (1, H, W), any
// H, W (the published caches are 128x256), in the PUBLISHED scale (= 10 · G). Reading
// divides by 10, checks the array (dtype float64 or float32, shape (1, H, W) or (H, W),
// finite, ≥ 0, not all zero — the published loader could write all-zero maps, which we
// refuse as "malformed") and resizes it to the requested size (image.h: area when
// shrinking, bilinear when enlarging, as the published cv2.resize did for enlarging).
// Writing multiplies by 10 and writes atomically.
#ifndef SAL360_DATA_GROUND_TRUTH_H_
#define SAL360_DATA_GROUND_TRUTH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sphere/erp.h"

namespace sal360::data {

struct GazePoint {
  double x = 0, y = 0;  // x ∈ [0,1] left→right, y ∈ [0,1] top→bottom
  bool operator==(const GazePoint& o) const { return x == o.x && y == o.y; }
};

inline constexpr double kDefaultGazeSigma = sphere::kPi / 20;
// Published cache values = kGtCacheScale · G.
inline constexpr double kGtCacheScale = 10.0;

struct GroundTruthOptions {
  double sigma = kDefaultGazeSigma;  // radians, > 0
};

// OK when every point is finite and inside [0, 1]²; otherwise an error starting with
// `where` and naming the first bad point.
absl::Status ValidateGaze(const std::vector<GazePoint>& gaze, const std::string& where);

// G on an (h, w) grid, row-major (h, w). Errors: no gaze points, invalid points,
// h/w < 1, sigma ≤ 0. Fast path: per viewer, cos d = sinφ_i sinφ_v + cosφ_i cosφ_v cos(Δλ)
// with cos(Δλ) per column, then exp(−acos(c)²/(2σ²)) from a table in c, interpolated
// linearly (absolute error < 2e-7 of the peak; values beyond 8σ are 0, i.e. < 1.3e-14).
absl::StatusOr<std::vector<float>> GroundTruthMap(const std::vector<GazePoint>& gaze, int h, int w,
                                                  const GroundTruthOptions& options = {});
// The same map by direct double-precision evaluation of the definition (slow; the
// reference for tests).
std::vector<double> GroundTruthMapDirect(const std::vector<GazePoint>& gaze, int h, int w,
                                         double sigma = kDefaultGazeSigma);

// The centre prior used for the previous-map channel of a video's first frames: the
// map of one viewer looking at (0.5, 0.5) (the published choice).
std::vector<float> CentrePriorMap(int h, int w, const GroundTruthOptions& options = {});

// (h, w) 0/1 map of the gaze points' pixels (points are clamped to [0,1] first; callers
// validate). Also returns the pixel of one point.
std::vector<uint8_t> FixationMap(const std::vector<GazePoint>& gaze, int h, int w);
void GazePixel(const GazePoint& g, int h, int w, int* row, int* col);

// Reads NNNN_gt.npy: returns G (data scale) resized to (out_h, out_w). `cache_h`/`cache_w`
// (optional) receive the stored size. Errors name the file.
absl::StatusOr<std::vector<float>> ReadGtCache(const std::string& path, int out_h, int out_w,
                                               int* cache_h = nullptr, int* cache_w = nullptr);
// Checks a cache file's bytes without resizing (used by check_data).
absl::Status ValidateGtCacheBytes(const std::string& bytes, const std::string& name,
                                  int* cache_h = nullptr, int* cache_w = nullptr);
// Writes G (data scale, (h, w)) as float64 (1, h, w) in the published scale, atomically.
absl::Status WriteGtCache(const std::string& path, const std::vector<float>& map, int h, int w);

}  // namespace sal360::data

#endif  // SAL360_DATA_GROUND_TRUTH_H_

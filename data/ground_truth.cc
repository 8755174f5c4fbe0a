#include "data/ground_truth.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/image.h"
#include "sphere/erp.h"
#include "util/file.h"
#include "util/npy.h"

namespace sal360::data {

namespace {

using sphere::kPi;

// Values beyond kCutoffSigmas·σ are exp(−32) ≈ 1.3e−14 of the peak: left at 0.
constexpr double kCutoffSigmas = 8.0;
// The table path is used while the cutoff stays clear of the antipode, where
// acos(1 − u) has a square-root singularity in u.
constexpr double kMaxTableCutoff = 3.0;
constexpr int kTableSize = 1 << 16;

// The one ERP convention (sphere/erp.h): longitude in [0, 2pi) from the left edge.
double GazeLon(const GazePoint& g) { return sphere::PointLongitude(g.x); }
double GazeLat(const GazePoint& g) { return sphere::PointLatitude(g.y); }

// f(u) = exp(−acos(1 − u)² / (2σ²)) sampled at u_k = k·du, k = 0..kTableSize, with
// du = u_max / kTableSize and u_max = 1 − cos(cutoff). f is smooth in u (acos(1 − u)² =
// 2u + u²/3 + ...), so linear interpolation errs by at most du²/8 · max|f''| ≈
// du² / (8σ⁴): 2.3e−8 for σ = π/20.
struct GaussTable {
  double sigma = 0, u_max = 0, inv_du = 0;
  std::vector<float> f;
};

std::shared_ptr<const GaussTable> GetTable(double sigma) {
  static std::mutex mu;
  static std::map<double, std::shared_ptr<const GaussTable>>* cache =
      new std::map<double, std::shared_ptr<const GaussTable>>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(sigma);
  if (it != cache->end()) return it->second;
  auto t = std::make_shared<GaussTable>();
  t->sigma = sigma;
  const double cutoff = kCutoffSigmas * sigma;
  t->u_max = 1 - std::cos(cutoff);
  const double du = t->u_max / kTableSize;
  t->inv_du = 1 / du;
  t->f.resize(kTableSize + 2);
  for (int k = 0; k <= kTableSize + 1; ++k) {
    const double d = std::acos(std::max(-1.0, 1 - k * du));
    t->f[k] = static_cast<float>(std::exp(-d * d / (2 * sigma * sigma)));
  }
  t->f[kTableSize + 1] = t->f[kTableSize];
  if (cache->size() > 16) cache->clear();  // a handful of sigmas per process at most
  (*cache)[sigma] = t;
  return t;
}

absl::Status CheckSize(int h, int w) {
  if (h < 1 || w < 1 || static_cast<int64_t>(h) * w > (int64_t{1} << 28)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid map size ", h, "x", w));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateGaze(const std::vector<GazePoint>& gaze, const std::string& where) {
  for (size_t k = 0; k < gaze.size(); ++k) {
    const GazePoint& g = gaze[k];
    if (!std::isfinite(g.x) || !std::isfinite(g.y) || g.x < 0 || g.x > 1 || g.y < 0 || g.y > 1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: gaze point %d (%.17g, %.17g) is outside [0, 1]^2", where, k, g.x, g.y));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> GroundTruthMap(const std::vector<GazePoint>& gaze, int h, int w,
                                                  const GroundTruthOptions& options) {
  if (auto s = CheckSize(h, w); !s.ok()) return s;
  if (!(options.sigma > 0) || !std::isfinite(options.sigma)) {
    return absl::InvalidArgumentError(absl::StrCat("gaze sigma must be > 0, got ", options.sigma));
  }
  if (gaze.empty()) return absl::InvalidArgumentError("no gaze points");
  if (auto s = ValidateGaze(gaze, "ground truth"); !s.ok()) return s;

  const double sigma = options.sigma;
  if (kCutoffSigmas * sigma > kMaxTableCutoff) {
    // Wide kernels: evaluate the definition directly (rare; slow but exact).
    std::vector<double> d = GroundTruthMapDirect(gaze, h, w, sigma);
    return std::vector<float>(d.begin(), d.end());
  }
  const std::shared_ptr<const GaussTable> table = GetTable(sigma);
  const double c_min = 1 - table->u_max;  // cos(cutoff)
  const double cutoff = kCutoffSigmas * sigma;
  // Locals: the map's float stores could alias the table as far as the compiler knows.
  const float* const f = table->f.data();
  const double inv_du = table->inv_du;

  std::vector<double> col_cos(w), col_sin(w), row_sin(h), row_cos(h), row_lat(h);
  for (int j = 0; j < w; ++j) {
    col_cos[j] = std::cos(sphere::PixelLongitude(j, w));
    col_sin[j] = std::sin(sphere::PixelLongitude(j, w));
  }
  for (int i = 0; i < h; ++i) {
    row_lat[i] = sphere::PixelLatitude(i, h);
    row_sin[i] = std::sin(row_lat[i]);
    row_cos[i] = std::cos(row_lat[i]);
  }
  std::vector<float> map(static_cast<size_t>(h) * w, 0.0f);  // (h, w)
  std::vector<double> cos_dlon(w);                           // (w) for one viewer
  for (const GazePoint& g : gaze) {
    const double lon = GazeLon(g), lat = GazeLat(g);
    const double clon = std::cos(lon), slon = std::sin(lon);
    const double slat = std::sin(lat), clat = std::cos(lat);
    for (int j = 0; j < w; ++j) cos_dlon[j] = col_cos[j] * clon + col_sin[j] * slon;
    for (int i = 0; i < h; ++i) {
      if (std::abs(row_lat[i] - lat) > cutoff) continue;  // the whole row is beyond reach
      const double a = row_sin[i] * slat, b = row_cos[i] * clat;
      float* out = &map[static_cast<size_t>(i) * w];
      // Only the arc |Δλ| < Δmax of the row can be within the cutoff, where
      // cos Δmax = (c_min − a)/b; visit those columns (plus one on each side against
      // rounding; the test c <= c_min below stays exact) instead of the whole row.
      int j_begin = 0, j_count = w;
      if (b > 1e-12) {
        const double r = (c_min - a) / b;
        if (r >= 1) continue;
        if (r > -1) {
          const double dmax = std::acos(r);
          const double scale = w / (2 * kPi);
          const double lo = (lon - dmax) * scale - 0.5, hi = (lon + dmax) * scale - 0.5;
          j_begin = static_cast<int>(std::floor(lo)) - 1;
          j_count = std::min<int>(w, static_cast<int>(std::ceil(hi)) + 1 - j_begin + 1);
          j_begin = ((j_begin % w) + w) % w;
        }
      }
      for (int n = 0, j = j_begin; n < j_count; ++n, j = (j + 1 == w ? 0 : j + 1)) {
        // cos of the geodesic distance between pixel (i, j) and the gaze point
        const double c = a + b * cos_dlon[j];
        if (c <= c_min) continue;
        const double pos = (1 - c) * inv_du;
        const int k = static_cast<int>(pos);
        const float t = static_cast<float>(pos - k);
        out[j] += f[k] + t * (f[k + 1] - f[k]);
      }
    }
  }
  const float inv_n = 1.0f / static_cast<float>(gaze.size());
  for (float& v : map) v *= inv_n;
  return map;
}

std::vector<double> GroundTruthMapDirect(const std::vector<GazePoint>& gaze, int h, int w,
                                         double sigma) {
  std::vector<double> map(static_cast<size_t>(h) * w, 0.0);
  if (gaze.empty()) return map;
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < w; ++j) {
      const sphere::Vec3 p = sphere::UnitVector(sphere::PixelLatitude(i, h), sphere::PixelLongitude(j, w));
      double sum = 0;
      for (const GazePoint& g : gaze) {
        const double d = sphere::GeodesicDistance(p, sphere::UnitVector(GazeLat(g), GazeLon(g)));
        sum += std::exp(-d * d / (2 * sigma * sigma));
      }
      map[static_cast<size_t>(i) * w + j] = sum / gaze.size();
    }
  }
  return map;
}

std::vector<float> CentrePriorMap(int h, int w, const GroundTruthOptions& options) {
  auto m = GroundTruthMap({GazePoint{0.5, 0.5}}, h, w, options);
  if (!m.ok()) return std::vector<float>(static_cast<size_t>(std::max(h, 0)) * std::max(w, 0), 0.f);
  return *std::move(m);
}

void GazePixel(const GazePoint& g, int h, int w, int* row, int* col) {
  const double x = std::isfinite(g.x) ? std::clamp(g.x, 0.0, 1.0) : 0.0;
  const double y = std::isfinite(g.y) ? std::clamp(g.y, 0.0, 1.0) : 0.0;
  *col = std::min(static_cast<int>(x * w + 0.5), w - 1);
  *row = std::min(static_cast<int>(y * h + 0.5), h - 1);
}

std::vector<uint8_t> FixationMap(const std::vector<GazePoint>& gaze, int h, int w) {
  std::vector<uint8_t> map(static_cast<size_t>(std::max(h, 0)) * std::max(w, 0), 0);
  if (h < 1 || w < 1) return map;
  for (const GazePoint& g : gaze) {
    int r, c;
    GazePixel(g, h, w, &r, &c);
    map[static_cast<size_t>(r) * w + c] = 1;
  }
  return map;
}

namespace {

// Checks a parsed cache and returns G (data scale) as (h, w) floats.
absl::StatusOr<std::vector<float>> GtFromNpy(const util::NpyArray& a, const std::string& name,
                                             int* h_out, int* w_out) {
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": malformed ground-truth cache: ", what));
  };
  if (a.dtype != util::DType::kFloat64 && a.dtype != util::DType::kFloat32) {
    return bad("dtype must be float64 (or float32)");
  }
  int64_t h, w;
  if (a.shape.size() == 3 && a.shape[0] == 1) {
    h = a.shape[1];
    w = a.shape[2];
  } else if (a.shape.size() == 2) {
    h = a.shape[0];
    w = a.shape[1];
  } else {
    std::string shape;
    for (int64_t d : a.shape) absl::StrAppend(&shape, shape.empty() ? "" : ", ", d);
    return bad(absl::StrCat("shape (", shape, ") is not (1, H, W)"));
  }
  if (h < 1 || w < 1 || h > 16384 || w > 32768) {
    return bad(absl::StrCat("map size ", h, "x", w, " out of range"));
  }
  std::vector<double> v = a.ToDoubles();
  if (static_cast<int64_t>(v.size()) != h * w) return bad("data size does not match the shape");
  std::vector<float> g(v.size());
  double max_v = 0;
  for (size_t k = 0; k < v.size(); ++k) {
    if (!std::isfinite(v[k])) {
      return bad(absl::StrCat("non-finite value at pixel (", k / w, ", ", k % w, ")"));
    }
    if (v[k] < -1e-9) {
      return bad(absl::StrFormat("negative value %g at pixel (%d, %d)", v[k], k / w, k % w));
    }
    max_v = std::max(max_v, v[k]);
    g[k] = static_cast<float>(std::max(0.0, v[k]) / kGtCacheScale);
  }
  if (max_v <= 0) {
    return bad(
        "the map is all zero (a loader without gaze data may have written it; delete it "
        "or use --gt=generate)");
  }
  if (h_out) *h_out = static_cast<int>(h);
  if (w_out) *w_out = static_cast<int>(w);
  return g;
}

}  // namespace

absl::Status ValidateGtCacheBytes(const std::string& bytes, const std::string& name, int* cache_h,
                                  int* cache_w) {
  auto a = util::ParseNpy(bytes, name);
  if (!a.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": malformed ground-truth cache: ", a.status().message()));
  }
  return GtFromNpy(*a, name, cache_h, cache_w).status();
}

absl::StatusOr<std::vector<float>> ReadGtCache(const std::string& path, int out_h, int out_w,
                                               int* cache_h, int* cache_w) {
  if (auto s = CheckSize(out_h, out_w); !s.ok()) return s;
  // 16384 x 32768 float64 + header at most.
  auto bytes = util::ReadFile(path, (int64_t{16384} * 32768 * 8) + 4096);
  if (!bytes.ok()) return bytes.status();
  auto a = util::ParseNpy(*bytes, path);
  if (!a.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": malformed ground-truth cache: ", a.status().message()));
  }
  int h = 0, w = 0;
  auto g = GtFromNpy(*a, path, &h, &w);
  if (!g.ok()) return g.status();
  if (cache_h) *cache_h = h;
  if (cache_w) *cache_w = w;
  if (h == out_h && w == out_w) return g;
  return ResizeFloat(g->data(), h, w, 1, out_h, out_w);
}

absl::Status WriteGtCache(const std::string& path, const std::vector<float>& map, int h, int w) {
  if (auto s = CheckSize(h, w); !s.ok()) return s;
  if (map.size() != static_cast<size_t>(h) * w) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": map has ", map.size(), " values, not ", h, "x", w));
  }
  std::vector<double> v(map.size());
  for (size_t k = 0; k < map.size(); ++k) v[k] = static_cast<double>(map[k]) * kGtCacheScale;
  return util::WriteNpy(path, util::NpyArray::FromFloat64({1, h, w}, v));
}

}  // namespace sal360::data

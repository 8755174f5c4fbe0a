#include "sphere/tables.h"

#include <algorithm>
#include <functional>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "util/file.h"
#include "util/npy.h"

namespace sal360::sphere {
namespace {

// cos and sin of k·45°, exact at the axes and exactly (anti)symmetric elsewhere, so
// that mirrored neighbours get mirrored offsets bit for bit.
constexpr double kS = 0.70710678118654752440;
constexpr double kCosA[kNumNeighbours] = {1, kS, 0, -kS, -1, -kS, 0, kS};
constexpr double kSinA[kNumNeighbours] = {0, kS, 1, kS, 0, -kS, -1, -kS};

int Taps(TableMode mode) { return mode == TableMode::kBilinear ? 4 : 1; }

// Pixel centres (sphere/erp.h); the seed convention puts them at the pixel corners.
double CentreTheta(const TableSpec& s, int i) {
  return s.convention == Convention::kSeed ? i * kPi / s.height : PixelColatitude(i, s.height);
}
double CentrePhi(const TableSpec& s, int j) {
  return s.convention == Convention::kSeed ? j * 2.0 * kPi / s.width : PixelLongitude(j, s.width);
}

// Neighbour k of a centre at colatitude theta and longitude 0: its colatitude and its
// longitude offset in (-pi, pi].
void RowOffset(double theta, double r, int k, double* theta_q, double* dphi) {
  const double st = std::sin(theta), ct = std::cos(theta), sr = std::sin(r), cr = std::cos(r);
  const double qx = cr * st + sr * kCosA[k] * ct;
  const double qy = sr * kSinA[k];
  const double qz = cr * ct - sr * kCosA[k] * st;
  *theta_q = std::atan2(std::hypot(qx, qy), qz);
  *dphi = std::atan2(qy, qx);
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "sphere: %s\n", what.c_str());
  std::abort();
}

int WrapCol(int64_t c, int w) {
  int64_t m = c % w;
  return static_cast<int>(m < 0 ? m + w : m);
}

}  // namespace

double TableSpec::radius() const { return radius_rows * kPi / height; }

const char* ModeName(TableMode mode) { return mode == TableMode::kBilinear ? "bilinear" : "nearest"; }
const char* ConventionName(Convention c) { return c == Convention::kSeed ? "seed" : "pixel_centre"; }

std::string TableSpec::ToString() const {
  return absl::StrFormat("%dx%d %s %s r=%g", height, width, ModeName(mode), ConventionName(convention),
                         radius_rows);
}

absl::Status ValidateSpec(const TableSpec& s) {
  if (s.height < 1 || s.width < 1 || s.height > kMaxSide || s.width > kMaxSide) {
    return absl::InvalidArgumentError(
        absl::StrCat("table size ", s.height, "x", s.width, " out of range (1..", kMaxSide, " per side)"));
  }
  if (int64_t{s.height} * s.width * 9 * Taps(s.mode) >= (int64_t{1} << 31)) {
    return absl::InvalidArgumentError(absl::StrCat("table size ", s.height, "x", s.width,
                                                   " needs more than 2^31 entries"));
  }
  if (!(s.radius_rows > 0) || !(s.radius_rows <= s.height) || !std::isfinite(s.radius_rows)) {
    return absl::InvalidArgumentError(absl::StrCat("radius of ", s.radius_rows, " rows out of range (0, H = ",
                                                   s.height, "] (at most pi radians)"));
  }
  return absl::OkStatus();
}

SpherePoint PixelCentre(const TableSpec& spec, int i, int j) {
  return {CentreTheta(spec, i), CentrePhi(spec, j)};
}

SpherePoint NeighbourPoint(const TableSpec& spec, int i, int j, int k) {
  double tq, dphi;
  RowOffset(CentreTheta(spec, i), spec.radius(), k, &tq, &dphi);
  double phi = std::fmod(CentrePhi(spec, j) + dphi, 2 * kPi);
  if (phi < 0) phi += 2 * kPi;
  return {tq, phi};
}

namespace {

// Offsets shared by every pixel of row i: the column offset dx (in (-W/2, W/2]) and
// the clamped row y of each neighbour.
struct RowGeometry {
  double dx[kNumNeighbours];
  double y[kNumNeighbours];
};

RowGeometry RowOf(const TableSpec& spec, int i) {
  RowGeometry r;
  const double y_off = spec.convention == Convention::kSeed ? 0.0 : 0.5;
  for (int k = 0; k < kNumNeighbours; ++k) {
    double tq, dphi;
    RowOffset(CentreTheta(spec, i), spec.radius(), k, &tq, &dphi);
    r.dx[k] = dphi * spec.width / (2 * kPi);
    r.y[k] = std::clamp(tq * spec.height / kPi - y_off, 0.0, static_cast<double>(spec.height - 1));
  }
  return r;
}

// Positions within this distance of a pixel centre are snapped onto it, so that no
// bilinear weight is a rounding residue (e.g. 1e-17 on a neighbour that is not read).
constexpr double kSnap = 1e-9;

double Snap(double v) {
  const double r = std::round(v);
  return std::abs(v - r) < kSnap ? r : v;
}

// Writes the taps of one neighbour at (x, y) (x in [0, W), y in [0, H-1]).
void WriteNeighbour(const TableSpec& spec, int taps, double x, double y, int32_t* src, float* weight) {
  const int h = spec.height, w = spec.width;
  x = Snap(x);
  y = Snap(y);
  if (taps == 1) {
    const int col = WrapCol(static_cast<int64_t>(std::floor(x + 0.5)), w);
    const int row = std::min(static_cast<int>(std::floor(y + 0.5)), h - 1);
    src[0] = static_cast<int32_t>(int64_t{row} * w + col);
    weight[0] = 1.0f;
    return;
  }
  const double fx0 = std::floor(x), fy0 = std::floor(y);
  const double fx = x - fx0, fy = y - fy0;
  const int x0 = WrapCol(static_cast<int64_t>(fx0), w), x1 = WrapCol(int64_t{x0} + 1, w);
  const int y0 = std::min(static_cast<int>(fy0), h - 1), y1 = std::min(y0 + 1, h - 1);
  src[0] = static_cast<int32_t>(int64_t{y0} * w + x0);
  src[1] = static_cast<int32_t>(int64_t{y0} * w + x1);
  src[2] = static_cast<int32_t>(int64_t{y1} * w + x0);
  src[3] = static_cast<int32_t>(int64_t{y1} * w + x1);
  weight[0] = static_cast<float>((1 - fy) * (1 - fx));
  weight[1] = static_cast<float>((1 - fy) * fx);
  weight[2] = static_cast<float>(fy * (1 - fx));
  weight[3] = static_cast<float>(fy * fx);
}

double WrapX(double x, int w) {
  x = std::fmod(x, static_cast<double>(w));
  if (x < 0) x += w;
  if (x >= w) x -= w;  // a tiny negative value plus w can round up to w
  return x;
}

GatherTable EmptyTable(const TableSpec& spec) {
  if (absl::Status st = ValidateSpec(spec); !st.ok()) Die(std::string(st.message()));
  const int taps = Taps(spec.mode);
  const int64_t pixels = int64_t{spec.height} * spec.width;
  GatherTable g;
  g.spec = spec;
  g.taps = taps;
  g.src.assign(static_cast<size_t>(pixels * 9 * taps), 0);
  g.weight.assign(g.src.size(), 0.0f);
  for (int64_t p = 0; p < pixels; ++p) {
    const int64_t c = (p * 9 + kCentreTap) * taps;
    for (int t = 0; t < taps; ++t) g.src[c + t] = static_cast<int32_t>(p);
    g.weight[c] = 1.0f;
  }
  return g;
}

}  // namespace

std::vector<double> NeighbourCoords(const TableSpec& spec) {
  if (absl::Status st = ValidateSpec(spec); !st.ok()) Die(std::string(st.message()));
  const int h = spec.height, w = spec.width;
  std::vector<double> out(static_cast<size_t>(h) * w * kNumNeighbours * 2);
  for (int i = 0; i < h; ++i) {
    const RowGeometry r = RowOf(spec, i);
    double* row = out.data() + static_cast<size_t>(i) * w * kNumNeighbours * 2;
    for (int j = 0; j < w; ++j) {
      for (int k = 0; k < kNumNeighbours; ++k) {
        row[(j * kNumNeighbours + k) * 2] = WrapX(j + r.dx[k], w);
        row[(j * kNumNeighbours + k) * 2 + 1] = r.y[k];
      }
    }
  }
  return out;
}

GatherTable GatherTableFromCoords(const TableSpec& spec, const std::vector<double>& coords) {
  GatherTable g = EmptyTable(spec);
  const int64_t pixels = int64_t{spec.height} * spec.width;
  if (static_cast<int64_t>(coords.size()) != pixels * kNumNeighbours * 2) {
    Die(absl::StrCat("GatherTableFromCoords: ", coords.size(), " coordinates for ", spec.ToString()));
  }
  for (int64_t p = 0; p < pixels; ++p) {
    for (int k = 0; k < kNumNeighbours; ++k) {
      const double x = WrapX(coords[(p * kNumNeighbours + k) * 2], spec.width);
      const double y = std::clamp(coords[(p * kNumNeighbours + k) * 2 + 1], 0.0, spec.height - 1.0);
      const int64_t e = (p * 9 + kNeighbourTap[k]) * g.taps;
      WriteNeighbour(spec, g.taps, x, y, &g.src[e], &g.weight[e]);
    }
  }
  return g;
}

GatherTable BuildGatherTable(const TableSpec& spec) {
  // Every pixel of a row shares the neighbour offsets: the first pixel's taps are
  // computed once and shifted along the row (x = j + dx, so the fractional part and
  // the weights are the same for every j; only the columns move).
  GatherTable g = EmptyTable(spec);
  const int w = spec.width, taps = g.taps;
  for (int i = 0; i < spec.height; ++i) {
    const RowGeometry r = RowOf(spec, i);
    int32_t src0[kNumNeighbours][4];
    float wt0[kNumNeighbours][4];
    int32_t base[kNumNeighbours][4], col0[kNumNeighbours][4];
    for (int k = 0; k < kNumNeighbours; ++k) {
      WriteNeighbour(spec, taps, WrapX(r.dx[k], w), r.y[k], src0[k], wt0[k]);
      for (int t = 0; t < taps; ++t) {
        base[k][t] = src0[k][t] / w * w;
        col0[k][t] = src0[k][t] % w;
      }
    }
    for (int j = 0; j < w; ++j) {
      const int64_t p = int64_t{i} * w + j;
      for (int k = 0; k < kNumNeighbours; ++k) {
        const int64_t e = (p * 9 + kNeighbourTap[k]) * taps;
        for (int t = 0; t < taps; ++t) {
          int32_t col = col0[k][t] + j;
          if (col >= w) col -= w;
          g.src[e + t] = base[k][t] + col;
          g.weight[e + t] = wt0[k][t];
        }
      }
    }
  }
  return g;
}

InverseTable BuildInverseTable(const GatherTable& g) {
  const int64_t pixels = int64_t{g.spec.height} * g.spec.width;
  InverseTable inv;
  inv.offsets.assign(static_cast<size_t>(pixels + 1), 0);
  for (int32_t s : g.src) {
    if (s < 0 || s >= pixels) Die(absl::StrCat("BuildInverseTable: source ", s, " outside the grid"));
    ++inv.offsets[s + 1];
  }
  for (int64_t q = 0; q < pixels; ++q) inv.offsets[q + 1] += inv.offsets[q];
  inv.entries.resize(g.src.size());
  std::vector<int32_t> next(inv.offsets.begin(), inv.offsets.end() - 1);
  for (size_t e = 0; e < g.src.size(); ++e) inv.entries[next[g.src[e]]++] = static_cast<int32_t>(e);
  return inv;
}

namespace {

using Key = std::tuple<int, int, int, int, double>;
Key KeyOf(const TableSpec& s) {
  return {s.height, s.width, static_cast<int>(s.mode), static_cast<int>(s.convention), s.radius_rows};
}

struct Cache {
  std::mutex mu;
  std::map<Key, std::unique_ptr<GatherTable>> gather;
  std::map<Key, std::unique_ptr<InverseTable>> inverse;
};
Cache& TheCache() {
  static Cache* c = new Cache;
  return *c;
}

}  // namespace

const GatherTable& CachedGatherTable(const TableSpec& spec) {
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mu);
  std::unique_ptr<GatherTable>& slot = c.gather[KeyOf(spec)];
  if (!slot) slot = std::make_unique<GatherTable>(BuildGatherTable(spec));
  return *slot;
}

const InverseTable& CachedInverseTable(const TableSpec& spec) {
  const GatherTable& g = CachedGatherTable(spec);
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mu);
  std::unique_ptr<InverseTable>& slot = c.inverse[KeyOf(spec)];
  if (!slot) slot = std::make_unique<InverseTable>(BuildInverseTable(g));
  return *slot;
}

void CacheGatherTable(const TableSpec& spec, GatherTable table) {
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.gather[KeyOf(spec)] = std::make_unique<GatherTable>(std::move(table));
  c.inverse.erase(KeyOf(spec));
}

absl::Status CacheTablesFromDir(const std::string& dir, const TableSpec& base, int levels) {
  for (int l = 0; l < levels; ++l) {
    TableSpec s = base;
    s.height = base.height >> l;
    s.width = base.width >> l;
    absl::StatusOr<GatherTable> g = LoadGatherTable(dir, s);
    if (!g.ok()) return g.status();
    CacheGatherTable(s, *std::move(g));
  }
  return absl::OkStatus();
}

std::vector<int32_t> NearestTableCoords(const TableSpec& s) {
  const std::vector<double> coords = NeighbourCoords(s);
  std::vector<int32_t> v(coords.size());
  for (size_t e = 0; e < coords.size(); e += 2) {
    v[e] = WrapCol(static_cast<int64_t>(std::floor(Snap(coords[e]) + 0.5)), s.width);
    v[e + 1] = std::min(static_cast<int32_t>(std::floor(Snap(coords[e + 1]) + 0.5)), s.height - 1);
  }
  return v;
}

std::string TableFileName(int height, int width, TableMode mode) {
  return absl::StrCat(height, "x", width, mode == TableMode::kBilinear ? "_bilinear" : "", ".npy");
}

absl::Status WriteTables(const std::string& dir, const TableSpec& base, int levels) {
  return WriteTablesWith(dir, base, levels, [](const TableSpec& s) -> absl::StatusOr<util::NpyArray> {
    const std::vector<int64_t> shape = {s.height, s.width, kNumNeighbours, 2};
    if (s.mode == TableMode::kNearest) return util::NpyArray::FromInt32(shape, NearestTableCoords(s));
    const std::vector<double> coords = NeighbourCoords(s);
    std::vector<float> v(coords.size());
    for (size_t e = 0; e < coords.size(); ++e) {
      float f = static_cast<float>(coords[e]);
      if (e % 2 == 0 && f >= static_cast<float>(s.width)) f = 0.0f;  // x just below W rounds to W
      v[e] = f;
    }
    return util::NpyArray::FromFloat32(shape, v);
  });
}

absl::Status WriteTablesWith(const std::string& dir, const TableSpec& base, int levels,
                             const std::function<absl::StatusOr<util::NpyArray>(const TableSpec&)>& level_table) {
  if (levels < 1 || levels > 16) return absl::InvalidArgumentError(absl::StrCat("levels ", levels, " out of range 1..16"));
  if (absl::Status st = util::MakeDirs(dir); !st.ok()) return st;
  nlohmann::json meta;
  meta["generator"] = "sal360 gen_coords";
  meta["version"] = kTableVersion;
  meta["mode"] = ModeName(base.mode);
  meta["convention"] = ConventionName(base.convention);
  meta["radius_rows"] = base.radius_rows;
  meta["layout"] = "(H, W, 8, 2): neighbour k = down, down-right, right, up-right, up, up-left, left, down-left; (x=column, y=row)";
  meta["levels"] = nlohmann::json::array();
  for (int l = 0; l < levels; ++l) {
    TableSpec s = base;
    s.height = base.height >> l;
    s.width = base.width >> l;
    if (l > 0 && ((base.height >> (l - 1)) % 2 != 0 || (base.width >> (l - 1)) % 2 != 0)) {
      return absl::InvalidArgumentError(absl::StrCat("level ", l, ": ", base.height >> (l - 1), "x",
                                                     base.width >> (l - 1), " does not halve evenly"));
    }
    if (absl::Status st = ValidateSpec(s); !st.ok()) return absl::InvalidArgumentError(absl::StrCat("level ", l, ": ", st.message()));
    absl::StatusOr<util::NpyArray> a = level_table(s);
    if (!a.ok()) return a.status();
    const std::string name = TableFileName(s.height, s.width, s.mode);
    if (absl::Status st = util::WriteNpy(dir + "/" + name, *a); !st.ok()) return st;
    meta["levels"].push_back({{"height", s.height}, {"width", s.width}, {"file", name}});
  }
  return util::WriteFileAtomically(dir + "/tables.json", meta.dump(2) + "\n");
}

absl::StatusOr<GatherTable> LoadGatherTable(const std::string& dir, const TableSpec& spec) {
  if (absl::Status st = ValidateSpec(spec); !st.ok()) return st;
  const std::string meta_path = dir + "/tables.json";
  absl::StatusOr<std::string> text = util::ReadFile(meta_path, 1 << 20);
  if (!text.ok()) return text.status();
  nlohmann::json meta = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  auto bad_meta = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(meta_path, ": ", what));
  };
  if (!meta.is_object()) return bad_meta("not a JSON object");
  if (!meta.contains("version") || !meta["version"].is_number_integer() || meta["version"].get<int>() != kTableVersion) {
    return bad_meta(absl::StrCat("generator version is not ", kTableVersion, " (regenerate with gen_coords)"));
  }
  auto str = [&](const char* key) -> std::string {
    return meta.contains(key) && meta[key].is_string() ? meta[key].get<std::string>() : std::string();
  };
  if (str("mode") != ModeName(spec.mode)) {
    return bad_meta(absl::StrCat("tables are mode '", str("mode"), "', need '", ModeName(spec.mode), "'"));
  }
  if (str("convention") != ConventionName(spec.convention)) {
    return bad_meta(absl::StrCat("tables use convention '", str("convention"), "', need '",
                                 ConventionName(spec.convention), "'"));
  }
  if (!meta.contains("radius_rows") || !meta["radius_rows"].is_number() ||
      meta["radius_rows"].get<double>() != spec.radius_rows) {
    return bad_meta(absl::StrCat("radius does not match the requested ", spec.radius_rows, " rows"));
  }
  const std::string path = dir + "/" + TableFileName(spec.height, spec.width, spec.mode);
  const int64_t n = int64_t{spec.height} * spec.width * kNumNeighbours * 2;
  absl::StatusOr<util::NpyArray> a = util::ReadNpy(path, n * 4 + 4096);
  if (!a.ok()) return a.status();
  auto bad = [&](const std::string& what) { return absl::InvalidArgumentError(absl::StrCat(path, ": ", what)); };
  const util::DType want = spec.mode == TableMode::kNearest ? util::DType::kInt32 : util::DType::kFloat32;
  if (a->dtype != want) return bad(absl::StrCat("dtype must be ", util::NpyDescr(want)));
  if (a->shape != std::vector<int64_t>{spec.height, spec.width, kNumNeighbours, 2}) {
    std::string s;
    for (int64_t d : a->shape) absl::StrAppend(&s, s.empty() ? "" : ", ", d);
    return bad(absl::StrCat("shape (", s, ") is not (", spec.height, ", ", spec.width, ", 8, 2)"));
  }
  return GatherTableFromFileCoords(spec, a->ToDoubles(), path);
}

absl::StatusOr<GatherTable> GatherTableFromFileCoords(const TableSpec& spec, const std::vector<double>& coords,
                                                      const std::string& path) {
  auto bad = [&](const std::string& what) { return absl::InvalidArgumentError(absl::StrCat(path, ": ", what)); };
  const int64_t n = int64_t{spec.height} * spec.width * kNumNeighbours * 2;
  if (static_cast<int64_t>(coords.size()) != n) {
    return bad(absl::StrCat(coords.size() / 2, " coordinates, expected ", n / 2, " for ", spec.height, "x", spec.width));
  }
  for (int64_t e = 0; e < n; e += 2) {
    const double x = coords[e], y = coords[e + 1];
    if (!std::isfinite(x) || !std::isfinite(y) || x < 0 || x >= spec.width || y < 0 || y > spec.height - 1) {
      const int64_t p = e / 2 / kNumNeighbours;
      return bad(absl::StrFormat("neighbour %d of pixel (%d, %d) is (x=%g, y=%g), outside the %dx%d grid",
                                 static_cast<int>(e / 2 % kNumNeighbours), static_cast<int>(p / spec.width),
                                 static_cast<int>(p % spec.width), x, y, spec.height, spec.width));
    }
  }
  return GatherTableFromCoords(spec, coords);
}

}  // namespace sal360::sphere

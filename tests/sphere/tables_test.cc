// Properties of the neighbour tables, from the geometry written in sphere/tables.h:
// equator = ordinary 3x3, every neighbour on the cap boundary, mirror symmetries, seam
// and poles, the seed-convention pole example, solid angles, inverse tables, files.
#include "sphere/tables.h"

#include <cmath>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/file.h"
#include "util/npy.h"

namespace sal360::sphere {
namespace {

using ::testing::HasSubstr;

constexpr double kPi = 3.14159265358979323846;

TableSpec Spec(int h, int w, TableMode mode = TableMode::kNearest,
               Convention conv = Convention::kPixelCentre, double r = 1.0) {
  TableSpec s;
  s.height = h;
  s.width = w;
  s.mode = mode;
  s.convention = conv;
  s.radius_rows = r;
  return s;
}

double GreatCircle(SpherePoint a, SpherePoint b) {
  const double ax = std::sin(a.theta) * std::cos(a.phi), ay = std::sin(a.theta) * std::sin(a.phi),
               az = std::cos(a.theta);
  const double bx = std::sin(b.theta) * std::cos(b.phi), by = std::sin(b.theta) * std::sin(b.phi),
               bz = std::cos(b.theta);
  const double cx = ay * bz - az * by, cy = az * bx - ax * bz, cz = ax * by - ay * bx;
  return std::atan2(std::sqrt(cx * cx + cy * cy + cz * cz), ax * bx + ay * by + az * bz);
}

// Circular distance between columns.
double ColDist(double a, double b, int w) {
  double d = std::fmod(std::abs(a - b), w);
  return std::min(d, w - d);
}

// Sizes swept by the property tests: square-ish, odd W, tiny H, W != 2H.
const std::vector<std::pair<int, int>> kSizes = {{2, 4}, {3, 5}, {4, 8}, {5, 7}, {6, 12},
                                                 {7, 14}, {8, 15}, {10, 20}, {16, 32}, {1, 3}};

class Sweep : public ::testing::TestWithParam<std::tuple<std::pair<int, int>, TableMode, Convention>> {
 protected:
  TableSpec spec() const {
    const auto [size, mode, conv] = GetParam();
    return Spec(size.first, size.second, mode, conv);
  }
};

TEST_P(Sweep, EveryNeighbourLiesOnTheCapBoundary) {
  const TableSpec s = spec();
  for (int i = 0; i < s.height; ++i)
    for (int j = 0; j < s.width; ++j)
      for (int k = 0; k < kNumNeighbours; ++k) {
        const double d = GreatCircle(PixelCentre(s, i, j), NeighbourPoint(s, i, j, k));
        ASSERT_NEAR(d, s.radius(), 1e-12) << i << "," << j << " k=" << k;
      }
}

TEST_P(Sweep, CoordsAreTheExactPointInPixelUnitsWhereNotClamped) {
  const TableSpec s = spec();
  const std::vector<double> c = NeighbourCoords(s);
  const double y_off = s.convention == Convention::kSeed ? 0.0 : 0.5;
  for (int i = 0; i < s.height; ++i)
    for (int j = 0; j < s.width; ++j)
      for (int k = 0; k < kNumNeighbours; ++k) {
        const size_t e = ((size_t(i) * s.width + j) * kNumNeighbours + k) * 2;
        const double x = c[e], y = c[e + 1];
        ASSERT_GE(x, 0);
        ASSERT_LT(x, s.width);
        ASSERT_GE(y, 0);
        ASSERT_LE(y, s.height - 1);
        const SpherePoint q = NeighbourPoint(s, i, j, k);
        const double want_y = q.theta * s.height / kPi - y_off;
        if (want_y >= 0 && want_y <= s.height - 1) {
          ASSERT_NEAR(y, want_y, 1e-9);
        } else {
          ASSERT_EQ(y, want_y < 0 ? 0.0 : s.height - 1.0) << "clamped";
        }
        // Back on the sphere, the sample point is at distance r from the centre
        // (unless the row was clamped), and x is the point's longitude in pixels.
        const double want_x = q.phi * s.width / (2 * kPi) - (s.convention == Convention::kSeed ? 0 : 0.5);
        ASSERT_NEAR(ColDist(x, want_x, s.width), 0.0, 1e-9) << i << "," << j << " k=" << k;
      }
}

TEST_P(Sweep, TablesStayInRangeAndNearestIsWithinHalfAPixel) {
  const TableSpec s = spec();
  const GatherTable& g = CachedGatherTable(s);
  const int64_t pixels = int64_t{s.height} * s.width;
  ASSERT_EQ(g.taps, s.mode == TableMode::kBilinear ? 4 : 1);
  ASSERT_EQ(static_cast<int64_t>(g.src.size()), pixels * 9 * g.taps);
  for (int32_t v : g.src) ASSERT_TRUE(v >= 0 && v < pixels);
  const std::vector<double> c = NeighbourCoords(s);
  for (int64_t p = 0; p < pixels; ++p) {
    ASSERT_EQ(g.src[(p * 9 + kCentreTap) * g.taps], p);
    ASSERT_EQ(g.weight[(p * 9 + kCentreTap) * g.taps], 1.0f);
    for (int k = 0; k < kNumNeighbours; ++k) {
      const int64_t e = (p * 9 + kNeighbourTap[k]) * g.taps;
      const double x = c[(p * 8 + k) * 2], y = c[(p * 8 + k) * 2 + 1];
      double wsum = 0, mx = 0, my = 0;
      for (int t = 0; t < g.taps; ++t) {
        ASSERT_GE(g.weight[e + t], 0.0f);
        wsum += g.weight[e + t];
        const int row = g.src[e + t] / s.width, col = g.src[e + t] % s.width;
        ASSERT_LE(std::abs(row - y), 1.0 + 1e-9);
        ASSERT_LE(ColDist(col, x, s.width), 1.0 + 1e-9);
        if (g.taps == 1) {
          ASSERT_LE(std::abs(row - y), 0.5 + 1e-9) << "nearest row";
          ASSERT_LE(ColDist(col, x, s.width), 0.5 + 1e-9) << "nearest column";
        }
        my += g.weight[e + t] * row;
        // Column measured relative to x across the seam.
        double dc = col - x;
        if (dc > s.width / 2.0) dc -= s.width;
        if (dc < -s.width / 2.0) dc += s.width;
        mx += g.weight[e + t] * dc;
      }
      ASSERT_NEAR(wsum, 1.0, 1e-6);
      if (g.taps == 4 && s.width > 1) {
        // Bilinear weights reproduce the sample position (y is already clamped).
        ASSERT_NEAR(my, y, 1e-5);
        ASSERT_NEAR(mx, 0.0, 1e-5);
      }
    }
  }
}

TEST_P(Sweep, InverseTableIsAPermutationListingExactlyTheReaders) {
  const TableSpec s = spec();
  const GatherTable& g = CachedGatherTable(s);
  const InverseTable& inv = CachedInverseTable(s);
  const int64_t pixels = int64_t{s.height} * s.width;
  ASSERT_EQ(static_cast<int64_t>(inv.offsets.size()), pixels + 1);
  ASSERT_EQ(inv.entries.size(), g.src.size());
  std::vector<int> seen(g.src.size(), 0);
  for (int64_t q = 0; q < pixels; ++q)
    for (int32_t k = inv.offsets[q]; k < inv.offsets[q + 1]; ++k) {
      ASSERT_EQ(g.src[inv.entries[k]], q);
      if (k > inv.offsets[q]) {
        ASSERT_LT(inv.entries[k - 1], inv.entries[k]);
      }
      ++seen[inv.entries[k]];
    }
  for (int v : seen) ASSERT_EQ(v, 1);
}

std::string SweepName(
    const ::testing::TestParamInfo<std::tuple<std::pair<int, int>, TableMode, Convention>>& info) {
  const std::pair<int, int> size = std::get<0>(info.param);
  return std::to_string(size.first) + "x" + std::to_string(size.second) +
         (std::get<1>(info.param) == TableMode::kNearest ? "Nearest" : "Bilinear") +
         (std::get<2>(info.param) == Convention::kSeed ? "Seed" : "Centre");
}

INSTANTIATE_TEST_SUITE_P(Sizes, Sweep,
                         ::testing::Combine(::testing::ValuesIn(kSizes),
                                            ::testing::Values(TableMode::kNearest, TableMode::kBilinear),
                                            ::testing::Values(Convention::kPixelCentre, Convention::kSeed)),
                         SweepName);

TEST(Tables, EquatorRowsAreTheOrdinaryThreeByThreeNeighbourhood) {
  for (int h : {8, 16, 32, 60, 240}) {
    const int w = 2 * h;
    const GatherTable g = BuildGatherTable(Spec(h, w));
    for (int i : {h / 2 - 1, h / 2}) {
      for (int j = 0; j < w; ++j) {
        const int p = i * w + j;
        for (int tap = 0; tap < 9; ++tap) {
          const int r = tap / 3 - 1, c = tap % 3 - 1;
          const int want = (i + r) * w + (j + c + w) % w;
          ASSERT_EQ(g.src[p * 9 + tap], want) << h << " row " << i << " col " << j << " tap " << tap;
        }
      }
    }
  }
}

TEST(Tables, NeighbourOrderAndKernelPlacementAreAsPublished) {
  // k: down, down-right, right, up-right, up, up-left, left, down-left.
  EXPECT_EQ(kNeighbourTap, (std::array<int, 8>{7, 8, 5, 2, 1, 0, 3, 6}));
  const TableSpec s = Spec(60, 120, TableMode::kBilinear);
  const std::vector<double> c = NeighbourCoords(s);
  const int i = 30, j = 50;
  const double* n = &c[(size_t(i) * 120 + j) * 16];
  const int dy[8] = {1, 1, 0, -1, -1, -1, 0, 1}, dx[8] = {0, 1, 1, 1, 0, -1, -1, -1};
  for (int k = 0; k < 8; ++k) {
    EXPECT_NEAR(n[2 * k], j + dx[k] * (k % 2 ? std::sqrt(0.5) : 1.0), 0.02) << k;
    EXPECT_NEAR(n[2 * k + 1], i + dy[k] * (k % 2 ? std::sqrt(0.5) : 1.0), 0.02) << k;
  }
}

TEST(Tables, MirrorSymmetries) {
  for (auto [h, w] : std::vector<std::pair<int, int>>{{6, 12}, {7, 9}, {16, 32}, {5, 11}}) {
    const TableSpec s = Spec(h, w, TableMode::kBilinear);
    const std::vector<double> c = NeighbourCoords(s);
    auto at = [&](int i, int j, int k, int a) { return c[((size_t(i) * w + j) * 8 + k) * 2 + a]; };
    const int ns[8] = {4, 3, 2, 1, 0, 7, 6, 5};  // down <-> up
    const int ew[8] = {0, 7, 6, 5, 4, 3, 2, 1};  // right <-> left
    for (int i = 0; i < h; ++i)
      for (int j = 0; j < w; ++j)
        for (int k = 0; k < 8; ++k) {
          // North <-> south: (i, j) -> (H-1-i, j), y -> H-1-y.
          ASSERT_NEAR(at(h - 1 - i, j, ns[k], 1), h - 1 - at(i, j, k, 1), 1e-9);
          ASSERT_NEAR(ColDist(at(h - 1 - i, j, ns[k], 0), at(i, j, k, 0), w), 0, 1e-9);
          // East <-> west: (i, j) -> (i, W-1-j), x -> W-1-x.
          ASSERT_NEAR(at(i, w - 1 - j, ew[k], 1), at(i, j, k, 1), 1e-12);
          ASSERT_NEAR(ColDist(at(i, w - 1 - j, ew[k], 0), w - 1 - at(i, j, k, 0), w), 0, 1e-9);
        }
  }
}

TEST(Tables, SeamWrapsAndPolesCrossToTheFarMeridian) {
  const int h = 16, w = 32;
  const GatherTable g = BuildGatherTable(Spec(h, w));
  // Right of the last column is column 0, left of column 0 is the last column.
  for (int i = 4; i < 12; ++i) {
    EXPECT_EQ(g.src[(i * w + w - 1) * 9 + 5], i * w + 0);
    EXPECT_EQ(g.src[(i * w + 0) * 9 + 3], i * w + w - 1);
  }
  // Up from row 0 crosses the pole: row 0 again, half a turn away.
  for (int j = 0; j < w; ++j) {
    EXPECT_EQ(g.src[j * 9 + 1], (j + w / 2) % w) << j;
    EXPECT_EQ(g.src[((h - 1) * w + j) * 9 + 7], (h - 1) * w + (j + w / 2) % w) << j;
  }
  // Near the pole the left/right neighbours spread in longitude (more than a column).
  const std::vector<double> c = NeighbourCoords(Spec(h, w, TableMode::kBilinear));
  const double right_row0 = ColDist(c[(0 * w + 3) * 16 + 2 * 2], 3, w);
  const double right_eq = ColDist(c[(8 * w + 3) * 16 + 2 * 2], 3, w);
  EXPECT_GT(right_row0, 3 * right_eq);
}

TEST(Tables, SeedConventionPoleExampleFromThePublishedDocumentation) {
  // 240x480, seed convention: pixel (0, 0) is the pole; its 8 neighbours sit on row 1,
  // 60 columns (45 degrees) apart. The published table printed columns 479, 59, ...,
  // 419: the same points floored from values a hair below 0, 60, ...; rounding gives
  // 0, 60, ..., 420.
  const TableSpec s = Spec(240, 480, TableMode::kBilinear, Convention::kSeed);
  const std::vector<double> c = NeighbourCoords(s);
  for (int k = 0; k < 8; ++k) {
    EXPECT_NEAR(c[k * 2 + 1], 1.0, 1e-12) << k;
    EXPECT_NEAR(ColDist(c[k * 2], 60.0 * k, 480), 0.0, 1e-9) << k;
    EXPECT_EQ((static_cast<int>(std::floor(c[k * 2] - 1e-9)) + 480) % 480 + 1, (60 * k) % 480 == 0 ? 480 : 60 * k)
        << "the published floor artefact";
  }
  const GatherTable& g = CachedGatherTable(Spec(240, 480, TableMode::kNearest, Convention::kSeed));
  for (int k = 0; k < 8; ++k) EXPECT_EQ(g.src[kNeighbourTap[k]], 480 + 60 * k) << k;
}

TEST(Tables, LargerRadiusScalesTheCap) {
  const TableSpec s = Spec(16, 32, TableMode::kBilinear, Convention::kPixelCentre, 2.0);
  EXPECT_NEAR(GreatCircle(PixelCentre(s, 8, 3), NeighbourPoint(s, 8, 3, 2)), 2 * kPi / 16, 1e-12);
  const GatherTable g = BuildGatherTable(Spec(16, 32, TableMode::kNearest, Convention::kPixelCentre, 2.0));
  EXPECT_EQ(g.src[(8 * 32 + 3) * 9 + 7], 10 * 32 + 3);  // two rows down
}

TEST(Tables, SolidAnglesSumToFourPiAndFollowSine) {
  for (int h : {1, 2, 3, 30, 240, 1001}) {
    const std::vector<double> a = RowSolidAngles(h);
    double sum = 0;
    for (double v : a) sum += v;
    EXPECT_NEAR(sum, 4 * kPi, 1e-12 * h) << h;
    for (int i = 0; i < h; ++i) {
      const double band = 2 * kPi * (std::cos(i * kPi / h) - std::cos((i + 1) * kPi / h));
      EXPECT_NEAR(a[i], band, 1e-12) << h << " " << i;
      EXPECT_NEAR(a[i] / a[0], std::sin((i + 0.5) * kPi / h) / std::sin(0.5 * kPi / h), 1e-9);
    }
  }
  // The published loss weights are the trapezoid rule for the same areas, per pixel.
  const int h = 240, w = 480;
  const std::vector<double> lw = PublishedLossRowWeights(h, w);
  double sum = 0;
  for (double v : lw) sum += v * w;
  EXPECT_NEAR(sum, 4 * kPi, 4 * kPi * 2e-5);  // trapezoid error ~ pi^2/(12 H^2)
  EXPECT_NEAR(lw[0], (2 * kPi / w) * (kPi / h) * std::sin(kPi / h) / 2, 1e-15);
}

TEST(Tables, ValidateSpecRejectsBadSizesAndRadii) {
  EXPECT_FALSE(ValidateSpec(Spec(0, 8)).ok());
  EXPECT_FALSE(ValidateSpec(Spec(8, -1)).ok());
  EXPECT_FALSE(ValidateSpec(Spec(8, kMaxSide + 1)).ok());
  EXPECT_FALSE(ValidateSpec(Spec(8, 16, TableMode::kNearest, Convention::kPixelCentre, 0)).ok());
  EXPECT_FALSE(ValidateSpec(Spec(8, 16, TableMode::kNearest, Convention::kPixelCentre, 9)).ok());
  EXPECT_FALSE(ValidateSpec(Spec(8, 16, TableMode::kNearest, Convention::kPixelCentre, NAN)).ok());
  EXPECT_FALSE(ValidateSpec(Spec(20000, 30000, TableMode::kBilinear)).ok());
  EXPECT_TRUE(ValidateSpec(Spec(240, 480)).ok());
}

std::string TmpDir(const std::string& name) {
  const char* t = std::getenv("TEST_TMPDIR");
  const std::string d = std::string(t ? t : "/tmp") + "/" + name;
  EXPECT_TRUE(util::MakeDirs(d).ok());
  return d;
}

TEST(TableFiles, WriteThenLoadReproducesTheBuiltTables) {
  for (TableMode mode : {TableMode::kNearest, TableMode::kBilinear}) {
    const std::string dir = TmpDir(std::string("files_") + ModeName(mode));
    const TableSpec base = Spec(16, 32, mode, Convention::kSeed);
    ASSERT_TRUE(WriteTables(dir, base, 3).ok());
    for (int l = 0; l < 3; ++l) {
      TableSpec s = base;
      s.height >>= l;
      s.width >>= l;
      auto a = util::ReadNpy(dir + "/" + TableFileName(s.height, s.width, mode));
      ASSERT_TRUE(a.ok()) << a.status();
      EXPECT_EQ(a->dtype, mode == TableMode::kNearest ? util::DType::kInt32 : util::DType::kFloat32);
      EXPECT_EQ(a->shape, (std::vector<int64_t>{s.height, s.width, 8, 2}));
      auto loaded = LoadGatherTable(dir, s);
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      const GatherTable built = BuildGatherTable(s);
      ASSERT_EQ(loaded->src.size(), built.src.size());
      // float32 files move positions by ~1e-5 pixel, which can move a bilinear corner
      // across an integer: compare the sampled positions, not the entries.
      const int taps = built.taps;
      for (size_t q = 0; q < built.src.size() / taps; ++q) {
        double row[2] = {0, 0}, col[2] = {0, 0};
        const int ref_col = built.src[q * taps] % s.width;
        for (int t = 0; t < taps; ++t) {
          const GatherTable* g[2] = {&built, &*loaded};
          for (int m = 0; m < 2; ++m) {
            const int32_t src = g[m]->src[q * taps + t];
            double dc = src % s.width - ref_col;
            if (dc > s.width / 2.0) dc -= s.width;
            if (dc < -s.width / 2.0) dc += s.width;
            row[m] += g[m]->weight[q * taps + t] * (src / s.width);
            col[m] += g[m]->weight[q * taps + t] * dc;
          }
        }
        ASSERT_NEAR(row[0], row[1], 1e-4) << q;
        ASSERT_NEAR(col[0], col[1], 1e-4) << q;
      }
    }
    const std::string json = *util::ReadFile(dir + "/tables.json", 1 << 20);
    EXPECT_THAT(json, HasSubstr("\"version\": 1"));
    EXPECT_THAT(json, HasSubstr("\"convention\": \"seed\""));
  }
  EXPECT_FALSE(WriteTables(TmpDir("odd"), Spec(6, 10), 3).ok()) << "6x10 -> 3x5 does not halve";
}

TEST(TableFiles, LoadingNamesTheFileAndTheProblem) {
  const std::string dir = TmpDir("bad_tables");
  const TableSpec s = Spec(4, 8);
  ASSERT_TRUE(WriteTables(dir, s, 1).ok());
  const std::string file = dir + "/4x8.npy";
  auto expect_error = [&](const TableSpec& spec, const std::string& where, const std::string& what) {
    auto r = LoadGatherTable(dir, spec);
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(where));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(what));
  };
  expect_error(Spec(4, 8, TableMode::kBilinear), "tables.json", "mode");
  expect_error(Spec(4, 8, TableMode::kNearest, Convention::kSeed), "tables.json", "convention");
  expect_error(Spec(4, 8, TableMode::kNearest, Convention::kPixelCentre, 2), "tables.json", "radius");
  expect_error(Spec(2, 4), "2x4.npy", "");
  // Out-of-range neighbour, wrong dtype, wrong shape, truncation.
  std::vector<int32_t> v(4 * 8 * 16, 0);
  v[5 * 2] = 8;
  ASSERT_TRUE(util::WriteNpy(file, util::NpyArray::FromInt32({4, 8, 8, 2}, v)).ok());
  expect_error(s, "4x8.npy", "outside the 4x8 grid");
  ASSERT_TRUE(util::WriteNpy(file, util::NpyArray::FromFloat32({4, 8, 8, 2}, std::vector<float>(512))).ok());
  expect_error(s, "4x8.npy", "dtype");
  ASSERT_TRUE(util::WriteNpy(file, util::NpyArray::FromInt32({4, 8, 8}, std::vector<int32_t>(256))).ok());
  expect_error(s, "4x8.npy", "shape (4, 8, 8)");
  const std::string full = util::SerializeNpy(util::NpyArray::FromInt32({4, 8, 8, 2}, std::vector<int32_t>(512)));
  ASSERT_TRUE(util::WriteFileAtomically(file, full.substr(0, full.size() - 1)).ok());
  expect_error(s, "4x8.npy", "truncated");
  ASSERT_TRUE(util::WriteFileAtomically(dir + "/tables.json", "{\"version\": 99}").ok());
  expect_error(s, "tables.json", "version");
  ASSERT_TRUE(util::WriteFileAtomically(dir + "/tables.json", "{not json").ok());
  expect_error(s, "tables.json", "not a JSON object");
}

TEST(TableFiles, CacheTablesFromDirFeedsCachedGatherTable) {
  const std::string dir = TmpDir("cache_dir");
  const TableSpec s = Spec(8, 16, TableMode::kNearest, Convention::kPixelCentre, 1.5);
  ASSERT_TRUE(WriteTables(dir, s, 2).ok());
  ASSERT_TRUE(CacheTablesFromDir(dir, s, 2).ok());
  EXPECT_EQ(CachedGatherTable(s).src, BuildGatherTable(s).src);
  EXPECT_FALSE(CacheTablesFromDir(dir, s, 3).ok());
}

}  // namespace
}  // namespace sal360::sphere

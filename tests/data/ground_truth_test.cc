// Tests of ground-truth maps, fixation maps and the _gt.npy cache (data/ground_truth.h).
#include "data/ground_truth.h"

#include <cmath>
#include <cstdlib>
#include <limits>

#include "data/image.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/file.h"
#include "util/npy.h"

namespace sal360::data {
namespace {

using ::testing::HasSubstr;

constexpr double kPi = 3.14159265358979323846;

std::string TmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

std::vector<GazePoint> RandomGaze(int n, uint64_t seed) {
  std::vector<GazePoint> g;
  uint64_t s = seed;
  auto u = [&] {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (s >> 11) * (1.0 / 9007199254740992.0);
  };
  for (int k = 0; k < n; ++k) g.push_back({u(), u()});
  return g;
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t k = 0; k < a.size(); ++k) m = std::max(m, std::abs(a[k] - b[k]));
  return m;
}

// The fast path (table in cos d) against direct double evaluation of the definition,
// at odd sizes, with points at the seam and the poles, for the table and direct paths.
TEST(GroundTruthTest, MatchesDirectEvaluation) {
  std::vector<GazePoint> gaze = RandomGaze(6, 7);
  gaze.push_back({0.0, 0.5});    // on the seam
  gaze.push_back({0.999, 0.3});  // just left of the seam
  gaze.push_back({0.3, 0.0});    // north pole
  gaze.push_back({0.7, 1.0});    // south pole
  gaze.push_back({0.5, 0.02});   // near the pole
  for (double sigma : {kDefaultGazeSigma, 0.05, 0.3, 0.6 /* direct path: 8σ > 3 */}) {
    for (auto [h, w] : {std::pair{24, 48}, std::pair{31, 61}, std::pair{9, 100}, std::pair{1, 1},
                        std::pair{3, 2}, std::pair{64, 5}}) {
      auto fast = GroundTruthMap(gaze, h, w, {sigma});
      ASSERT_TRUE(fast.ok()) << fast.status();
      const std::vector<double> ref = GroundTruthMapDirect(gaze, h, w, sigma);
      EXPECT_LT(MaxAbsDiff(*fast, ref), 2e-7) << "sigma " << sigma << " " << h << "x" << w;
    }
  }
}

// Peak 1 at the gaze point: a viewer looking at a pixel centre gives exactly 1 there
// (d = 0), and the maximum of any single-viewer map is at the pixel centre nearest to
// the gaze direction.
TEST(GroundTruthTest, PeakAtTheGazePoint) {
  const int h = 20, w = 40;
  auto m = GroundTruthMap({{(7 + 0.5) / w, (13 + 0.5) / h}}, h, w);
  ASSERT_TRUE(m.ok());
  EXPECT_NEAR((*m)[13 * w + 7], 1.0f, 1e-6);
  EXPECT_EQ(std::max_element(m->begin(), m->end()) - m->begin(), 13 * w + 7);
  for (const GazePoint& g : RandomGaze(20, 3)) {
    auto mg = GroundTruthMap({g}, h, w);
    ASSERT_TRUE(mg.ok());
    const std::vector<double> ref = GroundTruthMapDirect({g}, h, w, kDefaultGazeSigma);
    const int argmax_ref = std::max_element(ref.begin(), ref.end()) - ref.begin();
    EXPECT_NEAR((*mg)[argmax_ref], *std::max_element(mg->begin(), mg->end()), 1e-6);
    EXPECT_LE(*std::max_element(mg->begin(), mg->end()), 1.0f + 1e-6f);
  }
}

// Moving every gaze point by k columns rolls the map by k columns: the map is invariant
// under rotations about the polar axis, including across the seam.
TEST(GroundTruthTest, LongitudeShiftRollsTheMap) {
  const int h = 16, w = 32;
  const std::vector<GazePoint> gaze = RandomGaze(5, 11);
  auto base = GroundTruthMap(gaze, h, w);
  ASSERT_TRUE(base.ok());
  for (int k : {1, 5, 17, 31}) {
    std::vector<GazePoint> shifted;
    for (GazePoint g : gaze) {
      g.x += static_cast<double>(k) / w;
      if (g.x >= 1) g.x -= 1;
      shifted.push_back(g);
    }
    auto m = GroundTruthMap(shifted, h, w);
    ASSERT_TRUE(m.ok());
    for (int i = 0; i < h; ++i) {
      for (int j = 0; j < w; ++j) {
        ASSERT_NEAR((*m)[i * w + (j + k) % w], (*base)[i * w + j], 2e-6)
            << k << " " << i << " " << j;
      }
    }
  }
}

// A viewer on the seam: the map is mirror-symmetric about the seam and continuous
// across it (the two edge columns are equal and both near the peak).
TEST(GroundTruthTest, WrapsAcrossTheSeam) {
  const int h = 18, w = 36;
  auto m = GroundTruthMap({{0.0, 0.5}}, h, w);
  ASSERT_TRUE(m.ok());
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < w; ++j) ASSERT_NEAR((*m)[i * w + j], (*m)[i * w + (w - 1 - j)], 1e-6);
  }
  // Row 9's centre is half a pixel (π/36) below the equator and column 0's half a pixel
  // east of the seam: d ≈ 0.123 rad, G = exp(−d²/2σ²) ≈ 0.735.
  const int mid = h / 2;
  EXPECT_GT((*m)[mid * w + 0], 0.7f);
  EXPECT_EQ((*m)[mid * w + 0], (*m)[mid * w + w - 1]);
  EXPECT_LT((*m)[mid * w + w / 2], 1e-6f);  // the antipodal meridian is far away
}

TEST(GroundTruthTest, PoleGazeIsConstantAlongRows) {
  const int h = 16, w = 32;
  auto m = GroundTruthMap({{0.37, 0.0}}, h, w);
  ASSERT_TRUE(m.ok());
  for (int i = 0; i < h; ++i) {
    for (int j = 1; j < w; ++j) ASSERT_NEAR((*m)[i * w + j], (*m)[i * w], 1e-6);
    if (i > 0) {
      EXPECT_LE((*m)[i * w], (*m)[(i - 1) * w] + 1e-7);
    }
  }
}

// Normalisation: a per-viewer mean of peak-1 Gaussians. Duplicating every viewer changes
// nothing; the map of two groups of equal size is the mean of their maps.
TEST(GroundTruthTest, NormalisedAsAMeanOverViewers) {
  const int h = 12, w = 24;
  const std::vector<GazePoint> a = RandomGaze(3, 1), b = RandomGaze(3, 2);
  std::vector<GazePoint> aa = a, ab = a;
  aa.insert(aa.end(), a.begin(), a.end());
  ab.insert(ab.end(), b.begin(), b.end());
  auto ma = GroundTruthMap(a, h, w), mb = GroundTruthMap(b, h, w), maa = GroundTruthMap(aa, h, w),
       mab = GroundTruthMap(ab, h, w);
  ASSERT_TRUE(ma.ok() && mb.ok() && maa.ok() && mab.ok());
  for (int k = 0; k < h * w; ++k) {
    EXPECT_NEAR((*maa)[k], (*ma)[k], 1e-6);
    EXPECT_NEAR((*mab)[k], 0.5 * ((*ma)[k] + (*mb)[k]), 1e-6);
    EXPECT_GE((*mab)[k], 0.0f);
    EXPECT_LE((*mab)[k], 1.0f);
  }
}

// The integral over the sphere (Σ G · solid angle of the pixel) equals the spherical
// Gaussian's integral 2π ∫_0^π exp(−θ²/2σ²) sin θ dθ (1-D quadrature): checks the
// distances everywhere, not only near the peak.
TEST(GroundTruthTest, SphereIntegralMatchesQuadrature) {
  const int h = 180, w = 360;
  const double sigma = kDefaultGazeSigma;
  auto m = GroundTruthMap({{0.3, 0.35}}, h, w);
  ASSERT_TRUE(m.ok());
  double integral = 0;
  for (int i = 0; i < h; ++i) {
    const double solid = (2 * kPi / w) * (std::cos(kPi * i / h) - std::cos(kPi * (i + 1) / h));
    for (int j = 0; j < w; ++j) integral += (*m)[i * w + j] * solid;
  }
  double ref = 0;
  const int n = 200000;
  for (int k = 0; k < n; ++k) {
    const double t = (k + 0.5) * kPi / n;
    ref += std::exp(-t * t / (2 * sigma * sigma)) * std::sin(t) * (kPi / n);
  }
  ref *= 2 * kPi;
  EXPECT_NEAR(integral / ref, 1.0, 2e-3);
}

TEST(GroundTruthTest, InvalidInputsAreErrors) {
  EXPECT_THAT(std::string(GroundTruthMap({}, 4, 8).status().message()), HasSubstr("no gaze"));
  auto r = GroundTruthMap({{0.5, 0.5}, {1.5, 0.2}}, 4, 8);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("gaze point 1 (1.5, 0.2"));
  EXPECT_FALSE(GroundTruthMap({{std::nan(""), 0.2}}, 4, 8).ok());
  EXPECT_FALSE(GroundTruthMap({{0.5, 0.5}}, 0, 8).ok());
  EXPECT_FALSE(GroundTruthMap({{0.5, 0.5}}, 4, 8, {0.0}).ok());
  EXPECT_TRUE(ValidateGaze({{0, 0}, {1, 1}}, "x").ok());
}

// The published rule: column = min(int(x·W + 0.5), W − 1), row likewise.
TEST(FixationMapTest, PublishedRoundingRule) {
  const int h = 10, w = 20;
  int r, c;
  GazePixel({0.0, 0.0}, h, w, &r, &c);
  EXPECT_EQ(r, 0);
  EXPECT_EQ(c, 0);
  GazePixel({1.0, 1.0}, h, w, &r, &c);
  EXPECT_EQ(r, h - 1);
  EXPECT_EQ(c, w - 1);
  GazePixel({0.49 / w, 0.51 / h}, h, w, &r, &c);
  EXPECT_EQ(c, 0);
  EXPECT_EQ(r, 1);
  GazePixel({3.5 / w, 2.49 / h}, h, w, &r, &c);
  EXPECT_EQ(c, 4);
  EXPECT_EQ(r, 2);
  const std::vector<uint8_t> f = FixationMap({{0.0, 0.0}, {0.01, 0.01}, {0.5, 0.5}}, h, w);
  int ones = 0;
  for (uint8_t v : f) ones += v;
  EXPECT_EQ(ones, 2);  // the first two share pixel (0, 0)
  EXPECT_EQ(f[5 * w + 10], 1);
}

TEST(GtCacheTest, RoundTripInThePublishedScale) {
  const int h = 8, w = 16;
  auto g = GroundTruthMap(RandomGaze(4, 5), h, w);
  ASSERT_TRUE(g.ok());
  const std::string path = TmpDir() + "/0001_gt.npy";
  ASSERT_TRUE(WriteGtCache(path, *g, h, w).ok());
  // On disk: float64 (1, H, W) holding 10·G.
  auto raw = util::ReadNpy(path);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->dtype, util::DType::kFloat64);
  EXPECT_EQ(raw->shape, (std::vector<int64_t>{1, h, w}));
  const std::vector<double> v = raw->ToDoubles();
  for (int k = 0; k < h * w; ++k) ASSERT_NEAR(v[k], 10.0 * (*g)[k], 1e-6);
  int ch = 0, cw = 0;
  auto back = ReadGtCache(path, h, w, &ch, &cw);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ch, h);
  EXPECT_EQ(cw, w);
  for (int k = 0; k < h * w; ++k) ASSERT_NEAR((*back)[k], (*g)[k], 1e-6);
  // Read at another size: resized like any map.
  auto big = ReadGtCache(path, 2 * h, 2 * w);
  ASSERT_TRUE(big.ok());
  const std::vector<float> want = ResizeFloat(g->data(), h, w, 1, 2 * h, 2 * w);
  for (size_t k = 0; k < want.size(); ++k) ASSERT_NEAR((*big)[k], want[k], 1e-6);
}

TEST(GtCacheTest, MalformedCachesAreErrorsNamingTheFile) {
  const std::string dir = TmpDir();
  struct Case {
    std::string name;
    util::NpyArray array;
    const char* want;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> ok(2 * 4, 0.5);
  std::vector<Case> cases = {
      {"int.npy", util::NpyArray::FromInt32({1, 2, 4}, std::vector<int32_t>(8, 1)), "dtype"},
      {"shape.npy", util::NpyArray::FromFloat64({2, 2, 4}, std::vector<double>(16, 1.0)),
       "shape (2, 2, 4) is not (1, H, W)"},
      {"nan.npy", util::NpyArray::FromFloat64({1, 2, 4}, {1, 1, nan, 1, 1, 1, 1, 1}), "non-finite"},
      {"neg.npy", util::NpyArray::FromFloat64({1, 2, 4}, {1, 1, 1, -2, 1, 1, 1, 1}), "negative"},
      {"zero.npy", util::NpyArray::FromFloat64({1, 2, 4}, std::vector<double>(8, 0.0)), "all zero"},
  };
  for (const Case& c : cases) {
    const std::string path = dir + "/" + c.name;
    ASSERT_TRUE(util::WriteNpy(path, c.array).ok());
    auto r = ReadGtCache(path, 4, 8);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_THAT(std::string(r.status().message()),
                HasSubstr(path + ": malformed ground-truth cache"));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.want));
  }
  // (H, W) without the leading 1 and float32 are accepted.
  ASSERT_TRUE(util::WriteNpy(dir + "/hw.npy",
                             util::NpyArray::FromFloat32({2, 4}, std::vector<float>(8, 5.f)))
                  .ok());
  auto hw = ReadGtCache(dir + "/hw.npy", 2, 4);
  ASSERT_TRUE(hw.ok()) << hw.status();
  EXPECT_NEAR((*hw)[0], 0.5f, 1e-7);
  // Not an .npy at all, and a truncated one.
  ASSERT_TRUE(util::WriteFileAtomically(dir + "/junk.npy", "not numpy").ok());
  auto junk = ReadGtCache(dir + "/junk.npy", 2, 4);
  ASSERT_FALSE(junk.ok());
  EXPECT_THAT(std::string(junk.status().message()), HasSubstr("junk.npy"));
  const std::string full = util::SerializeNpy(util::NpyArray::FromFloat64({1, 2, 4}, ok));
  ASSERT_TRUE(util::WriteFileAtomically(dir + "/cut.npy", full.substr(0, full.size() - 3)).ok());
  EXPECT_FALSE(ReadGtCache(dir + "/cut.npy", 2, 4).ok());
  EXPECT_FALSE(ValidateGtCacheBytes(full.substr(0, full.size() - 3), "cut").ok());
  EXPECT_TRUE(ValidateGtCacheBytes(full, "full").ok());
  EXPECT_FALSE(ReadGtCache(dir + "/missing_gt.npy", 2, 4).ok());
}

}  // namespace
}  // namespace sal360::data

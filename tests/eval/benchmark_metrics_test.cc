// AUC-Borji, shuffled AUC, InfoGain, the KL directions and the Salient360! weighting
// (issue #15), on small cases computed by hand from the written definitions
// (data/metrics.h; MIT benchmark AUC_Borji.m, AUC_shuffled.m, InfoGain.m; Salient360!).
#include <cmath>
#include <string>
#include <vector>

#include "data/metrics.h"
#include "gtest/gtest.h"

namespace sal360::data {
namespace {

using Map = std::vector<double>;
MapRef Ref(const Map& m, int h, int w) { return MapRef{m.data(), h, w}; }

TEST(Salient360Weights, SinOfLinspace) {
  const std::vector<double> w = RowWeightsFor(SphereWeighting::kSalient360, 5);
  ASSERT_EQ(w.size(), 5u);
  EXPECT_EQ(w[0], 0.0);
  EXPECT_NEAR(w[1], std::sqrt(0.5), 1e-15);
  EXPECT_NEAR(w[2], 1.0, 1e-15);
  EXPECT_EQ(w[4], 0.0);
  const std::vector<double> a = RowWeightsFor(SphereWeighting::kArea, 2);
  EXPECT_NEAR(a[0], std::sin(M_PI / 4), 1e-15);
}

// 3x1 maps: P = [5; 1; 2], G = [1; 2; 3].
//   salient360 (weights [0, 1, 0] first): P' = [0, 1, 0], G' = [0, 2, 0] -> both [0, 1, 0]: SIM 1.
//   area (weights [.5, 1, .5] after min-max): P -> [1, 0, .25] -> [.8, 0, .2];
//     G -> [0, .5, 1] -> [0, .5, .5]; SIM = 0 + 0 + .2.
TEST(Salient360Weights, SimWeightsBeforeMinMax) {
  const Map p = {5, 1, 2}, g = {1, 2, 3};
  EXPECT_NEAR(SimWeightsFirst(Ref(p, 3, 1), Ref(g, 3, 1), RowWeightsFor(SphereWeighting::kSalient360, 3), nullptr),
              1.0, 1e-15);
  EXPECT_NEAR(Sim(Ref(p, 3, 1), Ref(g, 3, 1), RowWeightsFor(SphereWeighting::kArea, 3), nullptr), 0.2, 1e-15);
  MetricOptions o;
  o.sphere_weights = SphereWeighting::kSalient360;
  EXPECT_NEAR(ComputeMetrics(p.data(), g.data(), nullptr, 3, 1, o).sim_sphere, 1.0, 1e-15);
  EXPECT_NEAR(ComputeMetrics(p.data(), g.data(), nullptr, 3, 1).sim_sphere, 0.2, 1e-15);
}

// 1x2: p = [.25, .75], g = [.5, .5]. KL(g||p) = .5 ln(.5/.25) + .5 ln(.5/.75);
// KL(p||g) = .25 ln(.25/.5) + .75 ln(.75/.5).
TEST(KldDirection, ThreeDirections) {
  const Map p = {1, 3}, g = {1, 1};
  const double gp = 0.5 * std::log(2.0) + 0.5 * std::log(0.5 / 0.75);
  const double pg = 0.25 * std::log(0.5) + 0.75 * std::log(1.5);
  const std::vector<double> flat;
  EXPECT_NEAR(KldDirected(Ref(p, 1, 2), Ref(g, 1, 2), flat, KldDirection::kGtPred, nullptr), gp, 1e-12);
  EXPECT_NEAR(KldDirected(Ref(p, 1, 2), Ref(g, 1, 2), flat, KldDirection::kPredGt, nullptr), pg, 1e-12);
  EXPECT_NEAR(KldDirected(Ref(p, 1, 2), Ref(g, 1, 2), flat, KldDirection::kSymmetric, nullptr), (gp + pg) / 2, 1e-12);
  // The constant map is G: reversing the direction must still call it the ground truth.
  uint32_t warn = 0;
  KldDirected(Ref(p, 1, 2), Ref(g, 1, 2), flat, KldDirection::kPredGt, &warn);
  EXPECT_EQ(warn, 0u);  // g = [1, 1] has mass, so no constant warning in KLD
  const Map zero = {0, 0};
  warn = 0;
  KldDirected(Ref(p, 1, 2), Ref(zero, 1, 2), flat, KldDirection::kPredGt, &warn);
  EXPECT_TRUE(warn & kWarnConstantGt);
  EXPECT_FALSE(warn & kWarnConstantPred);
}

// 1x4: S = [0, 1/3, 2/3, 1]... take P = [0, .25, .5, 1] (min-max leaves it).
TEST(AucShuffled, HandComputedCurves) {
  const Map p = {0, 0.25, 0.5, 1};
  const Map fix2 = {0, 0, 1, 0}, fix1 = {0, 1, 0, 0};
  // Positive .5, negative .25: thresholds .5 .4 .3 .2 .1 0; TPR 1 from the first, FPR 1
  // from .2: (0,0) (0,1) (0,1) (0,1) (1,1) ... -> area 1.
  EXPECT_NEAR(AucShuffled(Ref(p, 1, 4), Ref(fix2, 1, 4), Ref(fix1, 1, 4), 10, 0.1, 7, nullptr), 1.0, 1e-15);
  // Swapped: FPR reaches 1 before TPR rises: area 0.
  EXPECT_NEAR(AucShuffled(Ref(p, 1, 4), Ref(fix1, 1, 4), Ref(fix2, 1, 4), 10, 0.1, 7, nullptr), 0.0, 1e-15);
  // Same pixel as positive and negative: the diagonal, 0.5.
  EXPECT_NEAR(AucShuffled(Ref(p, 1, 4), Ref(fix2, 1, 4), Ref(fix2, 1, 4), 10, 0.1, 7, nullptr), 0.5, 1e-15);
  // No other fixations: NaN, flagged.
  uint32_t warn = 0;
  const Map none = {0, 0, 0, 0};
  EXPECT_TRUE(std::isnan(AucShuffled(Ref(p, 1, 4), Ref(fix2, 1, 4), Ref(none, 1, 4), 10, 0.1, 7, &warn)));
  EXPECT_TRUE(warn & kWarnNoOtherFixations);
}

// One fixation on the maximum (S = 1) of P = [0, .25, .5, 1]; one random negative per
// split: the area is 1 unless the negative is the fixated pixel (then (FPR, TPR) jumps
// to (1, 1) at once: 0.5). So AUC-Borji = 1 − (fraction of splits that drew pixel 3)/2.
TEST(AucBorji, FromTheDefinition) {
  const Map p = {0, 0.25, 0.5, 1}, f = {0, 0, 0, 1};
  const std::vector<double> flat;
  const double a = AucBorji(Ref(p, 1, 4), Ref(f, 1, 4), flat, 100, 0.1, 1, nullptr);
  const double k = (1 - a) * 2 * 100;  // splits that drew pixel 3
  EXPECT_NEAR(k, std::round(k), 1e-9);
  EXPECT_EQ(a, AucBorji(Ref(p, 1, 4), Ref(f, 1, 4), flat, 100, 0.1, 1, nullptr));  // seeded
  // Many splits: the fraction tends to 1/4, so the AUC to 0.875.
  EXPECT_NEAR(AucBorji(Ref(p, 1, 4), Ref(f, 1, 4), flat, 20000, 0.1, 2, nullptr), 0.875, 0.01);
  // A constant map is chance exactly (the references give NaN), flagged.
  uint32_t warn = 0;
  const Map c = {2, 2, 2, 2};
  EXPECT_EQ(AucBorji(Ref(c, 1, 4), Ref(f, 1, 4), flat, 100, 0.1, 1, &warn), 0.5);
  EXPECT_TRUE(warn & kWarnConstantPred);
}

// Sphere variant: negatives uniform on the sphere. 2x1 map, rows weighted [0, 1]
// (salient360, H = 2): every negative is row 1. Fixation at row 0 with S = 0 < S(row 1) = 1:
// area 0. Flat: negatives from both rows, area in (0, 0.5].
TEST(AucBorji, SphereNegativesFollowTheWeights) {
  const Map p = {0, 1}, f = {1, 0};
  const std::vector<double> w = {0, 1};
  EXPECT_EQ(AucBorji(Ref(p, 2, 1), Ref(f, 2, 1), w, 50, 0.1, 3, nullptr), 0.0);
  const double flat = AucBorji(Ref(p, 2, 1), Ref(f, 2, 1), {}, 50, 0.1, 3, nullptr);
  EXPECT_GT(flat, 0.0);
  EXPECT_LE(flat, 0.5);
}

// InfoGain. P = [1, 3] -> min-max [0, 1] -> p = [0, 1]; baseline constant -> uniform [.5, .5].
// Fixation on pixel 1: log2(eps + 1) − log2(eps + .5) ≈ 1; on pixel 0: log2(eps) − log2(.5) ≈ −51.
TEST(InfoGain, HandComputed) {
  const Map p = {1, 3}, b = {4, 4}, f1 = {0, 1}, f0 = {1, 0};
  const double eps = kKldEps;
  uint32_t warn = 0;
  EXPECT_NEAR(InfoGain(Ref(p, 1, 2), Ref(b, 1, 2), Ref(f1, 1, 2), {}, &warn),
              std::log2(eps + 1) - std::log2(eps + 0.5), 1e-15);
  EXPECT_TRUE(warn & kWarnConstantBaseline);
  EXPECT_NEAR(InfoGain(Ref(p, 1, 2), Ref(b, 1, 2), Ref(f0, 1, 2), {}, nullptr), -52 - std::log2(eps + 0.5), 1e-12);
  // Sphere (area weights of H = 3: [.5, 1, .5]); column P = [0; 1; 1], uniform baseline,
  // fixation on row 2: p = [0, 2/3, 1/3], b = [1/4, 1/2, 1/4] -> log2((1/3) / (1/4)).
  // Flat: p = [0, 1/2, 1/2], b = 1/3 -> log2(1.5).
  const Map q = {0, 1, 1}, u = {1, 1, 1}, f = {0, 0, 1};
  EXPECT_NEAR(InfoGain(Ref(q, 3, 1), Ref(u, 3, 1), Ref(f, 3, 1), RowWeightsFor(SphereWeighting::kArea, 3), nullptr),
              std::log2(4.0 / 3.0), 1e-12);
  EXPECT_NEAR(InfoGain(Ref(q, 3, 1), Ref(u, 3, 1), Ref(f, 3, 1), {}, nullptr), std::log2(1.5), 1e-12);
}

TEST(ComputeMetrics, OptionalMetricsAndConventions) {
  const Map p = {0, 0.25, 0.5, 1}, g = {1, 2, 3, 4}, f = {0, 0, 1, 0}, other = {0, 1, 0, 0}, base = {1, 1, 2, 2};
  MetricOptions o;
  o.other_fixations = other.data();
  o.baseline = base.data();
  const MetricSet m = ComputeMetrics(p.data(), g.data(), f.data(), 1, 4, o);
  EXPECT_TRUE(m.has_sauc);
  EXPECT_TRUE(m.has_info_gain);
  EXPECT_NEAR(m.sauc, 1.0, 1e-15);
  EXPECT_EQ(m.Items().size(), static_cast<size_t>(kNumMetrics));
  const MetricSet plain = ComputeMetrics(p.data(), g.data(), f.data(), 1, 4);
  EXPECT_EQ(plain.Items().size(), static_cast<size_t>(kNumMetrics - 3));
  bool has_kld = false, has_weights = false;
  for (const auto& [k, v] : MetricConventions(o)) {
    has_kld = has_kld || (k == "kld" && v.find("KL(gt || pred)") != std::string::npos);
    has_weights = has_weights || (k == "sphere_weights" && v.rfind("area", 0) == 0);
  }
  EXPECT_TRUE(has_kld && has_weights);
  SphereWeighting sw;
  KldDirection kd;
  EXPECT_TRUE(ParseSphereWeighting("salient360", &sw) && sw == SphereWeighting::kSalient360);
  EXPECT_TRUE(ParseKldDirection("symmetric", &kd) && kd == KldDirection::kSymmetric);
  EXPECT_FALSE(ParseKldDirection("backwards", &kd));
}

}  // namespace
}  // namespace sal360::data

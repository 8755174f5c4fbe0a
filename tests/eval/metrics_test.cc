// Saliency metrics: hand-checked values, the MIT reference algorithms (ported here as
// slow, literal references), the tie rule of AUC-Judd against an exhaustive enumeration
// of tie orders, sphere weighting (scale invariance, row replication, direction on
// pole-heavy maps) and every degenerate input of metrics.h.
#include "data/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace sal360::data {
namespace {

using Map = std::vector<double>;
const std::vector<double> kFlat;

MapRef Ref(const Map& m, int h, int w) { return MapRef{m.data(), h, w}; }

Map RandomMap(int n, uint32_t seed, double lo = 0.0, double hi = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  Map m(n);
  for (double& v : m) v = u(rng);
  return m;
}

Map RandomFixations(int n, int count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::shuffle(idx.begin(), idx.end(), rng);
  Map f(n, 0.0);
  for (int k = 0; k < count; ++k) f[idx[k]] = 1.0;
  return f;
}

// ---- literal ports of the MIT benchmark's MATLAB code (no ties: no jitter needed) ----

// AUC_Judd.m with jitter = 0 (valid when all values are distinct).
double ReferenceAucJudd(const Map& s, const Map& f) {
  std::vector<double> th;
  for (size_t k = 0; k < s.size(); ++k) {
    if (f[k] > 0) th.push_back(s[k]);
  }
  std::sort(th.rbegin(), th.rend());
  const double nf = th.size(), np = s.size();
  std::vector<double> tp{0}, fp{0};
  for (size_t i = 0; i < th.size(); ++i) {
    double above = 0;
    for (double v : s) above += v >= th[i];
    tp.push_back((i + 1) / nf);
    fp.push_back((above - (i + 1)) / (np - nf));
  }
  tp.push_back(1);
  fp.push_back(1);
  double area = 0;  // trapz(fp, tp)
  for (size_t i = 1; i < tp.size(); ++i) area += (fp[i] - fp[i - 1]) * (tp[i] + tp[i - 1]) / 2;
  return area;
}

double ReferenceCc(const Map& a, const Map& b) {
  const double n = a.size();
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n;
  const double mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double c = 0, va = 0, vb = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    c += (a[k] - ma) * (b[k] - mb);
    va += (a[k] - ma) * (a[k] - ma);
    vb += (b[k] - mb) * (b[k] - mb);
  }
  return c / std::sqrt(va * vb);
}

// ---- hand-checked values ----

TEST(Cc, HandValues) {
  const Map p{1, 2, 3, 4};
  EXPECT_NEAR(Cc(Ref(p, 1, 4), Ref(Map{2, 4, 6, 8}, 1, 4), kFlat, nullptr), 1.0, 1e-15);
  EXPECT_NEAR(Cc(Ref(p, 1, 4), Ref(Map{4, 3, 2, 1}, 1, 4), kFlat, nullptr), -1.0, 1e-15);
  // dx = dy' = (-1.5, -.5, .5, 1.5) vs (-1.5, .5, -.5, 1.5): cov 4, variances 5.
  EXPECT_NEAR(Cc(Ref(p, 2, 2), Ref(Map{1, 3, 2, 4}, 2, 2), kFlat, nullptr), 0.8, 1e-15);
}

TEST(Cc, MatchesPearsonOnRandomMaps) {
  const Map a = RandomMap(15 * 22, 1), b = RandomMap(15 * 22, 2);
  EXPECT_NEAR(Cc(Ref(a, 15, 22), Ref(b, 15, 22), kFlat, nullptr), ReferenceCc(a, b), 1e-13);
}

TEST(Kld, HandValueAndDirection) {
  // p = (1/4, 3/4), g = (1/2, 1/2): KL(g‖p) = ½ log 2 + ½ log(2/3) = ½ log(4/3).
  // (The other direction KL(p‖g) would be ¼ log ½ + ¾ log 1.5 = 0.1308.)
  const double v = Kld(Ref(Map{1, 3}, 1, 2), Ref(Map{1, 1}, 1, 2), kFlat, nullptr);
  EXPECT_NEAR(v, 0.5 * std::log(4.0 / 3.0), 1e-14);
}

TEST(Kld, UniformPredictionAgainstOnePixelTruthIsLogN) {
  for (auto [h, w] : {std::pair{1, 2}, {4, 8}, {7, 13}, {60, 120}}) {
    const int n = h * w;
    Map g(n, 0.0);
    g[n / 3] = 5.0;
    const Map p(n, 0.25);
    // log N up to the eps of the definition: exactly log(eps + 1/(1/N + eps)) ≈ log N − N·eps.
    const double kld = Kld(Ref(p, h, w), Ref(g, h, w), kFlat, nullptr);
    EXPECT_NEAR(kld, std::log(double(n)), 2 * n * kKldEps + 1e-14) << h << "x" << w;
    EXPECT_NEAR(kld, std::log(kKldEps + 1 / (1.0 / n + kKldEps)), 1e-14) << h << "x" << w;
  }
}

TEST(Kld, IdenticalMapsGiveZeroAndScaleDoesNotMatter) {
  const Map a = RandomMap(9 * 10, 3);
  Map scaled = a;
  for (double& v : scaled) v *= 17.5;
  EXPECT_NEAR(Kld(Ref(a, 9, 10), Ref(a, 9, 10), kFlat, nullptr), 0.0, 1e-13);
  EXPECT_NEAR(Kld(Ref(scaled, 9, 10), Ref(a, 9, 10), kFlat, nullptr), 0.0, 1e-13);
}

TEST(Nss, HandValuesUseTheNMinusOneStd) {
  // mean 1; Σ(x − 1)² = 12; std with N − 1 = sqrt(12/3) = 2 (with N it would be √3).
  const Map p{0, 0, 0, 4};
  EXPECT_NEAR(Nss(Ref(p, 1, 4), Ref(Map{0, 0, 0, 1}, 1, 4), kFlat, nullptr), 1.5, 1e-15);
  EXPECT_NEAR(Nss(Ref(p, 2, 2), Ref(Map{7, 0, 0, -1}, 2, 2), kFlat, nullptr), 0.5, 1e-15);
}

TEST(Sim, HandValues) {
  // P -> (0, 1/6, 1/3, 1/2), G -> (1/2, 1/3, 1/6, 0); Σ min = 1/3.
  EXPECT_NEAR(Sim(Ref(Map{0, 1, 2, 3}, 1, 4), Ref(Map{3, 2, 1, 0}, 1, 4), kFlat, nullptr),
              1.0 / 3.0, 1e-15);
  // Min-max first: an offset and a scale change nothing.
  EXPECT_NEAR(Sim(Ref(Map{10, 12, 14, 16}, 2, 2), Ref(Map{3, 2, 1, 0}, 2, 2), kFlat, nullptr),
              1.0 / 3.0, 1e-15);
  const Map a = RandomMap(40, 4);
  EXPECT_NEAR(Sim(Ref(a, 5, 8), Ref(a, 5, 8), kFlat, nullptr), 1.0, 1e-14);
}

TEST(AucJudd, HandValueWithoutTies) {
  // Fixations on 0.4 and 0.8. Curve (0,0), (0,.5), (.5,1), (1,1): area .375 + .5 = .875.
  const Map p{0.1, 0.4, 0.5, 0.8}, f{0, 1, 0, 1};
  EXPECT_NEAR(AucJudd(Ref(p, 1, 4), Ref(f, 1, 4), nullptr), 0.875, 1e-15);
  EXPECT_NEAR(ReferenceAucJudd(p, f), 0.875, 1e-15);
}

TEST(AucJudd, HandValueWithATie) {
  // Fixations on 0.5 (pixel 0) and 0.9; the non-fixated pixel 1 ties with pixel 0.
  // Pixel 1 above pixel 0: credit (1 + ½)/2 = .75; below: 1 (below every fixation).
  // Expected credit .875; pixel 2 (0.2) gets 1. AUC = (.875 + 1)/2 = .9375.
  const Map p{0.5, 0.5, 0.2, 0.9}, f{1, 0, 0, 1};
  EXPECT_NEAR(AucJudd(Ref(p, 2, 2), Ref(f, 2, 2), nullptr), 0.9375, 1e-15);
}

TEST(AucJudd, ExtremesForOneFixation) {
  // On the unique maximum: 1. On the unique minimum: the curve (0,0)-(1,1), area 0.5.
  const Map p{0.3, 0.9, 0.1, 0.5};
  EXPECT_NEAR(AucJudd(Ref(p, 1, 4), Ref(Map{0, 1, 0, 0}, 1, 4), nullptr), 1.0, 1e-15);
  EXPECT_NEAR(AucJudd(Ref(p, 1, 4), Ref(Map{0, 0, 1, 0}, 1, 4), nullptr), 0.5, 1e-15);
}

TEST(AucJudd, EqualsTheReferenceWhenValuesAreDistinct) {
  for (uint32_t seed = 0; seed < 20; ++seed) {
    const int h = 7 + seed % 5, w = 9 + seed % 7, n = h * w;
    const Map p = RandomMap(n, 100 + seed);
    const Map f = RandomFixations(n, 1 + seed % 11, 200 + seed);
    EXPECT_NEAR(AucJudd(Ref(p, h, w), Ref(f, h, w), nullptr), ReferenceAucJudd(p, f), 1e-13)
        << "seed " << seed;
  }
}

// The tie rule is the mean of the reference over every order of the tied values: break
// ties by each permutation of the 8 pixels in turn (all 8! orders, each equally likely).
TEST(AucJudd, TieRuleIsTheMeanOverAllTieOrders) {
  const std::vector<Map> maps = {{2, 2, 1, 2, 1, 2, 3, 2},
                                 {1, 1, 1, 1, 1, 1, 1, 1},
                                 {0, 5, 5, 0, 5, 0, 5, 5},
                                 {3, 1, 2, 2, 1, 3, 2, 1}};
  const std::vector<Map> fixes = {{1, 0, 0, 1, 0, 0, 0, 0},
                                  {0, 1, 0, 0, 0, 0, 0, 0},
                                  {1, 1, 0, 0, 1, 0, 0, 0},
                                  {0, 0, 1, 0, 1, 0, 1, 0},
                                  {1, 1, 1, 1, 1, 1, 1, 0}};
  for (const Map& p : maps) {
    for (const Map& f : fixes) {
      std::vector<int> order(8);
      std::iota(order.begin(), order.end(), 0);
      double sum = 0;
      int count = 0;
      do {  // order[k] = tie-break rank of pixel k; tiny enough not to cross distinct values
        Map jittered(8);
        for (int k = 0; k < 8; ++k) jittered[k] = p[k] + 1e-3 * order[k];
        sum += ReferenceAucJudd(jittered, f);
        ++count;
      } while (std::next_permutation(order.begin(), order.end()));
      EXPECT_NEAR(AucJudd(Ref(p, 2, 4), Ref(f, 2, 4), nullptr), sum / count, 1e-12);
    }
  }
}

TEST(AucJudd, ConstantMapGivesTheTieRuleValue) {
  for (int nf : {1, 3, 10}) {
    const Map p(60, 0.5), f = RandomFixations(60, nf, nf);
    uint32_t warn = 0;
    EXPECT_NEAR(AucJudd(Ref(p, 6, 10), Ref(f, 6, 10), &warn), (nf + 2.0) / (2.0 * nf + 2.0), 1e-14);
    EXPECT_TRUE(warn & kWarnConstantPred);
  }
}

TEST(AucJudd, LargeMapWithManyFixationsAndTiesMatchesTheClosedFormByGroups) {
  // 200x400 with values from 50 levels (many ties) and 5000 fixations: compare against
  // a second evaluation of the closed form that counts per value level (independent
  // bookkeeping: histograms instead of binary searches).
  const int h = 200, w = 400, n = h * w, levels = 50;
  std::mt19937 rng(7);
  Map p(n);
  for (double& v : p) v = static_cast<double>(rng() % levels);
  const Map f = RandomFixations(n, 5000, 8);
  std::vector<double> fix_at(levels, 0), non_at(levels, 0);
  for (int k = 0; k < n; ++k) (f[k] ? fix_at : non_at)[static_cast<int>(p[k])] += 1;
  const double nf = 5000, nn = n - nf;
  double total = 0, above = 0;
  for (int l = levels - 1; l >= 0; --l) {
    const double t = fix_at[l];
    double c = above + t / 2 + 0.5;
    if (above + t == nf) c -= 0.5 / (t + 1);
    total += non_at[l] * c;
    above += t;
  }
  EXPECT_NEAR(AucJudd(Ref(p, h, w), Ref(f, h, w), nullptr), total / (nf * nn), 1e-12);
}

// ---- sphere weighting ----

TEST(SphereRowWeights, ProportionalToTheExactSolidAngleOfEachRow) {
  for (int h : {1, 2, 5, 240}) {
    const std::vector<double> w = SphereRowWeights(h);
    ASSERT_EQ(static_cast<int>(w.size()), h);
    const double ratio0 = (std::cos(0.0) - std::cos(M_PI / h)) / w[0];
    for (int i = 0; i < h; ++i) {
      const double solid = std::cos(i * M_PI / h) - std::cos((i + 1) * M_PI / h);
      EXPECT_NEAR(solid / w[i], ratio0, 1e-12 * ratio0) << "row " << i << " of " << h;
    }
  }
}

TEST(SphereWeighting, EqualWeightsGiveTheFlatMetrics) {
  const int h = 9, w = 14, n = h * w;
  const Map p = RandomMap(n, 11), g = RandomMap(n, 12), f = RandomFixations(n, 7, 13);
  const std::vector<double> equal(h, 3.7);
  EXPECT_NEAR(Cc(Ref(p, h, w), Ref(g, h, w), equal, nullptr), ReferenceCc(p, g), 1e-13);
  EXPECT_NEAR(Kld(Ref(p, h, w), Ref(g, h, w), equal, nullptr),
              Kld(Ref(p, h, w), Ref(g, h, w), kFlat, nullptr), 1e-13);
  EXPECT_NEAR(Sim(Ref(p, h, w), Ref(g, h, w), equal, nullptr),
              Sim(Ref(p, h, w), Ref(g, h, w), kFlat, nullptr), 1e-13);
  // NSS: the reliability-weighted variance equals the N − 1 variance; check against a
  // direct standardisation.
  const double mean = std::accumulate(p.begin(), p.end(), 0.0) / n;
  double ss = 0;
  for (double v : p) ss += (v - mean) * (v - mean);
  const double sd = std::sqrt(ss / (n - 1));
  double z = 0;
  int nf = 0;
  for (int k = 0; k < n; ++k) {
    if (f[k]) z += (p[k] - mean) / sd, ++nf;
  }
  EXPECT_NEAR(Nss(Ref(p, h, w), Ref(f, h, w), equal, nullptr), z / nf, 1e-12);
  EXPECT_NEAR(Nss(Ref(p, h, w), Ref(f, h, w), kFlat, nullptr), z / nf, 1e-12);
}

// Integer weights act as repeated rows: the weighted metric on the map equals the flat
// metric on the map with row i repeated w_i times.
TEST(SphereWeighting, IntegerWeightsEqualRepeatedRows) {
  const int h = 6, w = 11;
  const std::vector<double> weights{1, 3, 2, 5, 1, 4};
  const Map p = RandomMap(h * w, 21), g = RandomMap(h * w, 22);
  Map rp, rg;
  int rows = 0;
  for (int i = 0; i < h; ++i) {
    for (int r = 0; r < weights[i]; ++r, ++rows) {
      rp.insert(rp.end(), p.begin() + i * w, p.begin() + (i + 1) * w);
      rg.insert(rg.end(), g.begin() + i * w, g.begin() + (i + 1) * w);
    }
  }
  EXPECT_NEAR(Cc(Ref(p, h, w), Ref(g, h, w), weights, nullptr),
              Cc(Ref(rp, rows, w), Ref(rg, rows, w), kFlat, nullptr), 1e-13);
  EXPECT_NEAR(Kld(Ref(p, h, w), Ref(g, h, w), weights, nullptr),
              Kld(Ref(rp, rows, w), Ref(rg, rows, w), kFlat, nullptr), 1e-12);
  EXPECT_NEAR(Sim(Ref(p, h, w), Ref(g, h, w), weights, nullptr),
              Sim(Ref(rp, rows, w), Ref(rg, rows, w), kFlat, nullptr), 1e-13);
  // And the weighted mean/std of NSS are the weighted moments.
  double sw = 0, swx = 0;
  for (int k = 0; k < h * w; ++k) sw += weights[k / w], swx += weights[k / w] * p[k];
  const double mean = swx / sw;
  double ss = 0, sw2 = 0;
  for (int k = 0; k < h * w; ++k) {
    ss += weights[k / w] * (p[k] - mean) * (p[k] - mean);
    sw2 += weights[k / w] * weights[k / w];
  }
  const double sd = std::sqrt(ss / (sw - sw2 / sw));
  Map f(h * w, 0.0);
  f[5] = f[40] = 1;
  EXPECT_NEAR(Nss(Ref(p, h, w), Ref(f, h, w), weights, nullptr),
              ((p[5] - mean) / sd + (p[40] - mean) / sd) / 2, 1e-12);
}

// A prediction that is right near the equator and wrong only near the poles: the
// wrong pixels cover little of the sphere, so the sphere-weighted scores are better.
TEST(SphereWeighting, ErrorsNearThePolesCountLess) {
  const int h = 24, w = 48, n = h * w;
  Map g(n), p(n);
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < w; ++j) {
      const double lat = (i + 0.5) / h - 0.5, lon = (j + 0.5) / w - 0.5;
      g[i * w + j] = std::exp(-(lat * lat + lon * lon) / 0.02);  // equator blob
      const double pole = (i < 3 || i >= h - 3) ? 1.5 : 0.0;     // polar rows
      p[i * w + j] = g[i * w + j] + pole * (0.5 + 0.5 * std::cos(j * 0.7));
    }
  }
  const MetricSet m = ComputeMetrics(p.data(), g.data(), nullptr, h, w);
  EXPECT_GT(m.cc_sphere, m.cc + 0.05);
  EXPECT_LT(m.kld_sphere, m.kld - 0.05);
  EXPECT_GT(m.sim_sphere, m.sim + 0.05);
  // The reverse: an error at the equator on an otherwise polar map counts more.
  Map g2(n), p2(n);
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < w; ++j) {
      g2[i * w + j] = (i < 4 || i >= h - 4) ? 1.0 + 0.5 * std::sin(j * 0.3) : 0.05;
      p2[i * w + j] = g2[i * w + j] + ((i == h / 2 || i == h / 2 - 1) ? 2.0 : 0.0);
    }
  }
  const MetricSet m2 = ComputeMetrics(p2.data(), g2.data(), nullptr, h, w);
  EXPECT_LT(m2.cc_sphere, m2.cc - 0.05);
  EXPECT_GT(m2.kld_sphere, m2.kld + 0.05);
  EXPECT_LT(m2.sim_sphere, m2.sim - 0.05);
}

TEST(SphereWeighting, NssUsesWeightedMomentsButAnUnweightedAverage) {
  // A map with high values only near the poles has a low weighted mean: a fixation at
  // the equator scores higher under the sphere mean than the flat mean.
  const int h = 10, w = 4, n = h * w;
  Map p(n, 0.0), f(n, 0.0);
  for (int j = 0; j < w; ++j) p[j] = p[(h - 1) * w + j] = 10.0, p[5 * w + j] = 1.0;
  f[5 * w + 1] = 1;
  const MetricSet m = ComputeMetrics(p.data(), p.data(), f.data(), h, w);
  EXPECT_GT(m.nss_sphere, m.nss);
}

// ---- degenerate inputs: defined values and warnings, never a crash ----

TEST(Degenerate, NonFinitePredictionOrTruthMakesEveryMetricNaN) {
  const int h = 4, w = 5, n = h * w;
  const Map good = RandomMap(n, 31), f = RandomFixations(n, 3, 32);
  for (double bad : {std::nan(""), double{INFINITY}, -double{INFINITY}}) {
    Map p = good;
    p[7] = bad;
    for (int which = 0; which < 2; ++which) {
      const MetricSet m = which == 0 ? ComputeMetrics(p.data(), good.data(), f.data(), h, w)
                                     : ComputeMetrics(good.data(), p.data(), f.data(), h, w);
      for (const auto& [key, value] : m.Items()) {
        if (which == 1 && (key == "nss" || key == "nss_sphere" || key == "auc_judd" || key == "auc_borji" ||
                           key == "auc_borji_sphere")) {
          EXPECT_FALSE(std::isnan(value)) << key;  // they do not read the truth
        } else {
          EXPECT_TRUE(std::isnan(value)) << key;
        }
      }
      EXPECT_TRUE(m.warnings & kWarnNonFinite);
    }
  }
}

TEST(Degenerate, NonFiniteFixationsMakeFixationMetricsNaN) {
  const int n = 12;
  const Map p = RandomMap(n, 33);
  Map f(n, 0.0);
  f[2] = std::nan("");
  const MetricSet m = ComputeMetrics(p.data(), p.data(), f.data(), 3, 4);
  EXPECT_TRUE(std::isnan(m.nss) && std::isnan(m.nss_sphere) && std::isnan(m.auc_judd));
  EXPECT_NEAR(m.cc, 1.0, 1e-14);
  EXPECT_TRUE(m.warnings & kWarnNonFiniteFixations);
}

TEST(Degenerate, NoFixationsAndAllFixated) {
  const Map p = RandomMap(12, 34), none(12, 0.0), all(12, 1.0);
  const MetricSet a = ComputeMetrics(p.data(), p.data(), none.data(), 3, 4);
  EXPECT_TRUE(std::isnan(a.nss) && std::isnan(a.nss_sphere) && std::isnan(a.auc_judd));
  EXPECT_TRUE(a.warnings & kWarnNoFixations);
  EXPECT_TRUE(a.has_fixations);
  const MetricSet b = ComputeMetrics(p.data(), p.data(), all.data(), 3, 4);
  EXPECT_TRUE(std::isnan(b.auc_judd));
  EXPECT_NEAR(b.nss, 0.0, 1e-12);  // the mean of Z over every pixel
  EXPECT_TRUE(b.warnings & kWarnAllFixated);
}

TEST(Degenerate, ConstantPrediction) {
  const int h = 3, w = 4, n = h * w;
  const Map p(n, 2.5), g{0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0, 0}, f = RandomFixations(n, 2, 35);
  const MetricSet m = ComputeMetrics(p.data(), g.data(), f.data(), h, w);
  EXPECT_EQ(m.cc, 0.0);
  EXPECT_EQ(m.cc_sphere, 0.0);
  EXPECT_EQ(m.nss, 0.0);
  EXPECT_EQ(m.nss_sphere, 0.0);
  EXPECT_TRUE(m.warnings & kWarnConstantPred);
  // SIM: the uniform 1/12 against g = (1/3 at pixel 2, ... 1 at pixel 6) min-max ->
  // (0, 1/3, 1) / (4/3) = 1/4 and 3/4: Σ min = 1/12 + 1/12.
  EXPECT_NEAR(m.sim, 2.0 / 12.0, 1e-15);
  // KLD of uniform p: Σ g log(g·12) with g = (1/4, 3/4).
  EXPECT_NEAR(m.kld, 0.25 * std::log(3.0) + 0.75 * std::log(9.0), 1e-13);
  EXPECT_NEAR(m.auc_judd, 4.0 / 6.0, 1e-15);  // (Nf + 2)/(2 Nf + 2), Nf = 2
}

TEST(Degenerate, ConstantTruth) {
  const Map p = RandomMap(12, 36), g(12, 0.0);
  const MetricSet m = ComputeMetrics(p.data(), g.data(), nullptr, 3, 4);
  EXPECT_EQ(m.cc, 0.0);
  EXPECT_TRUE(m.warnings & kWarnConstantGt);
  // An all-zero truth is read as uniform for KLD and SIM, so they stay finite.
  EXPECT_TRUE(std::isfinite(m.kld) && std::isfinite(m.sim) && std::isfinite(m.kld_sphere));
  const MetricSet u = ComputeMetrics(p.data(), Map(12, 1.0).data(), nullptr, 3, 4);
  EXPECT_DOUBLE_EQ(m.kld, u.kld);
  EXPECT_DOUBLE_EQ(m.sim, u.sim);
}

TEST(Degenerate, AllZeroPredictionIsUniformForKld) {
  Map g(8, 0.0);
  g[3] = 1;
  uint32_t warn = 0;
  EXPECT_NEAR(Kld(Ref(Map(8, 0.0), 2, 4), Ref(g, 2, 4), kFlat, &warn), std::log(8.0), 1e-12);
  EXPECT_TRUE(warn & kWarnConstantPred);
}

TEST(Degenerate, NegativeValuesAreClampedForKld) {
  uint32_t warn = 0;
  const double v = Kld(Ref(Map{-5, 1, 3, -1}, 1, 4), Ref(Map{0, 1, 1, 0}, 1, 4), kFlat, &warn);
  // a = (0, 1, 3, 0) -> p = (0, ¼, ¾, 0); g = (0, ½, ½, 0): ½ log 2 + ½ log(2/3).
  EXPECT_NEAR(v, 0.5 * std::log(4.0 / 3.0), 1e-14);
  EXPECT_TRUE(warn & kWarnNegativeValues);
}

TEST(Degenerate, SinglePixelMap) {
  const Map one{3.0}, fix{1.0};
  const MetricSet m = ComputeMetrics(one.data(), one.data(), fix.data(), 1, 1);
  EXPECT_EQ(m.cc, 0.0);
  EXPECT_NEAR(m.kld, 0.0, 1e-15);
  EXPECT_NEAR(m.sim, 1.0, 1e-15);
  EXPECT_EQ(m.nss, 0.0);
  EXPECT_TRUE(std::isnan(m.auc_judd));
}

// ---- the MetricSet API ----

TEST(MetricSet, ItemsFollowTheKeyOrderAndOmitFixationKeysWithoutFixations) {
  const Map p = RandomMap(20, 41), g = RandomMap(20, 42), f = RandomFixations(20, 3, 43);
  const MetricSet with = ComputeMetrics(p.data(), g.data(), f.data(), 4, 5);
  const MetricSet without = ComputeMetrics(p.data(), g.data(), nullptr, 4, 5);
  std::vector<std::string> keys;
  for (const auto& [k, v] : with.Items()) keys.push_back(k);
  // sauc and info_gain* need other fixations and a baseline (MetricOptions).
  std::vector<std::string> want;
  for (const char* k : kMetricKeys) {
    if (std::string(k) != "sauc" && std::string(k).rfind("info_gain", 0) != 0) want.push_back(k);
  }
  EXPECT_EQ(keys, want);
  keys.clear();
  for (const auto& [k, v] : without.Items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"cc", "kld", "sim", "cc_sphere", "kld_sphere",
                                            "sim_sphere"}));
  EXPECT_TRUE(std::isnan(without.Get("nss")));
  EXPECT_EQ(with.Get("auc_judd"), with.auc_judd);
  EXPECT_TRUE(std::isnan(with.Get("no_such_metric")));
}

TEST(MetricSet, FloatAndDoubleInputsAgree) {
  const int h = 12, w = 24, n = h * w;
  const Map p = RandomMap(n, 51), g = RandomMap(n, 52), f = RandomFixations(n, 9, 53);
  const std::vector<float> pf(p.begin(), p.end()), gf(g.begin(), g.end()), ff(f.begin(), f.end());
  const Map pd(pf.begin(), pf.end()), gd(gf.begin(), gf.end());
  const MetricSet a = ComputeMetrics(pf.data(), gf.data(), ff.data(), h, w);
  const MetricSet b = ComputeMetrics(pd.data(), gd.data(), f.data(), h, w);
  for (const auto& [key, value] : a.Items()) EXPECT_EQ(value, b.Get(key)) << key;
}

// Issue #18: a map scaled by 1e308 used to give "cc: null" (overflowing squares) and
// by 1e-320 (subnormal) "constant". Every metric is scale invariant; the scan rescales
// such maps by a power of two, so they score as the unscaled map does.
TEST(MetricSet, ExtremeScalesScoreAsTheUnscaledMap) {
  const int h = 12, w = 24, n = h * w;
  const Map p = RandomMap(n, 61), g = RandomMap(n, 62), f = RandomFixations(n, 9, 63);
  MetricOptions o;
  o.baseline = g.data();
  const MetricSet ref = ComputeMetrics(p.data(), g.data(), f.data(), h, w, o);
  for (double scale : {1e308, 1e-300, 1e-320, std::ldexp(1.0, -1060)}) {
    Map ps = p, gs = g;
    for (double& v : ps) v *= scale;
    for (double& v : gs) v *= scale;
    for (bool both : {false, true}) {
      const MetricSet m = ComputeMetrics(ps.data(), both ? gs.data() : g.data(), f.data(), h, w, o);
      EXPECT_EQ(m.warnings, ref.warnings) << scale;
      // Subnormal maps keep only a few digits of each value.
      const double tol = scale < 1e-307 ? 2e-2 : 1e-12;
      for (const auto& [key, value] : ref.Items()) {
        ASSERT_TRUE(std::isfinite(m.Get(key))) << key << " at scale " << scale;
        EXPECT_NEAR(m.Get(key), value, tol * std::max(1.0, std::fabs(value))) << key << " at scale " << scale;
      }
    }
  }
  // Powers of two in the safe range change nothing, to the bit.
  Map p2 = p;
  for (double& v : p2) v = std::ldexp(v, 150);
  const MetricSet m2 = ComputeMetrics(p2.data(), g.data(), f.data(), h, w, o);
  for (const auto& [key, value] : ref.Items()) EXPECT_EQ(m2.Get(key), value) << key;
}

TEST(MetricWarnings, Text) {
  EXPECT_EQ(MetricWarningText(0), "");
  EXPECT_EQ(MetricWarningText(kWarnConstantPred | kWarnNoFixations), "no_fixations, constant_pred");
  for (int b = 0; b < kNumMetricWarnings; ++b) EXPECT_STRNE(MetricWarningName(1u << b), "");
}

TEST(LowerIsBetter, OnlyKld) {
  for (const char* key : kMetricKeys) {
    EXPECT_EQ(LowerIsBetter(key), std::string(key).rfind("kld", 0) == 0) << key;
  }
}

}  // namespace
}  // namespace sal360::data

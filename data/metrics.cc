// Saliency metrics; definitions and degenerate-input rules in metrics.h.
//
// Every metric is written once, with a weight per image row (flat = all weights 1), and
// accumulates in double in a fixed order, so results are deterministic.
#include "data/metrics.h"
#include "sphere/erp.h"
#include "util/splitmix.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace sal360::data {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Misuse of the API (not bad data): abort loudly, naming the problem.
#define SAL_METRICS_CHECK(cond, msg)                                                     \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: metrics: %s (%s)\n", __FILE__, __LINE__, msg, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

void Warn(uint32_t* warnings, uint32_t bit) {
  if (warnings != nullptr) *warnings |= bit;
}

void CheckMap(MapRef m) {
  SAL_METRICS_CHECK(m.data != nullptr, "null map");
  SAL_METRICS_CHECK(m.height > 0 && m.width > 0, "map size must be positive");
}

void CheckSameSize(MapRef a, MapRef b) {
  CheckMap(a);
  CheckMap(b);
  SAL_METRICS_CHECK(a.height == b.height && a.width == b.width, "maps differ in size");
}

// Row weights: `row_weights` empty (flat) or one positive finite weight per row.
class RowWeights {
 public:
  RowWeights(const std::vector<double>& w, int height) : w_(w) {
    SAL_METRICS_CHECK(w.empty() || static_cast<int>(w.size()) == height,
                      "row_weights must have one entry per row");
    double sum = 0;
    for (double x : w) {
      SAL_METRICS_CHECK(std::isfinite(x) && x >= 0, "row weights must be finite and >= 0");
      sum += x;
    }
    SAL_METRICS_CHECK(w.empty() || sum > 0, "row weights must not all be 0");
  }
  bool flat() const { return w_.empty(); }
  double operator[](int i) const { return w_.empty() ? 1.0 : w_[i]; }

 private:
  const std::vector<double>& w_;
};

// A map with the facts of one pass over it: finiteness, range, sign, non-zero count.
// ComputeMetrics scans each map once and hands the result to every metric.
//
// Scale safety (issue #18): every metric is invariant to a positive scale of its maps,
// but squares and sums of values near 1e308 overflow and values near 1e-320 (subnormal)
// lose their digits. A map whose largest |value| lies outside [2^-200, 2^200] is
// therefore scaled by a power of two that brings it to [1, 2): exact for every value
// that stays normal, so the metrics of ordinary maps do not change by a bit.
struct Scanned {
  MapRef map;
  bool finite = true;
  bool negative = false;
  double min = 0, max = 0;
  int64_t nonzero = 0;
  std::shared_ptr<const std::vector<double>> rescaled;  // owns map.data when scaled
  bool constant() const { return min == max; }
};

constexpr int kSafeExponent = 200;

Scanned Scan(MapRef m) {
  Scanned s{m};
  const int64_t n = int64_t{m.height} * m.width;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  double poison = 0;  // stays 0 unless some value is NaN or ±Inf (then v − v is NaN)
  int64_t nonzero = 0;
  for (int64_t k = 0; k < n; ++k) {
    const double v = m.data[k];
    poison += v - v;
    lo = std::min(lo, v);  // a NaN never wins a comparison, so it never lands here
    hi = std::max(hi, v);
    nonzero += v != 0;
  }
  s.finite = poison == 0;
  if (!s.finite) return s;
  const double peak = std::max(std::fabs(lo), std::fabs(hi));
  if (peak > 0 && std::abs(std::ilogb(peak)) > kSafeExponent) {
    const int e = -std::ilogb(peak);
    auto v = std::make_shared<std::vector<double>>(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) (*v)[k] = std::ldexp(m.data[k], e);
    s.map.data = v->data();
    s.rescaled = std::move(v);
    lo = std::ldexp(lo, e);
    hi = std::ldexp(hi, e);
    nonzero = 0;
    for (int64_t k = 0; k < n; ++k) nonzero += s.map.data[k] != 0;
  }
  s.min = lo;
  s.max = hi;
  s.negative = lo < 0;
  s.nonzero = nonzero;
  return s;
}

// Σ_k w_k·x_k and Σ_k w_k over the map (w_k = weight of k's row).
void WeightedSums(MapRef m, const RowWeights& w, double* sum_wx, double* sum_w) {
  double swx = 0, sw = 0;
  for (int i = 0; i < m.height; ++i) {
    const double* row = m.data + int64_t{i} * m.width;  // (W)
    double r = 0;
    for (int j = 0; j < m.width; ++j) r += row[j];
    swx += w[i] * r;
    sw += w[i] * m.width;
  }
  *sum_wx = swx;
  *sum_w = sw;
}

// Σ_k w_k over all pixels.
double TotalWeight(const RowWeights& w, int height, int width) {
  double sw = 0;
  for (int i = 0; i < height; ++i) sw += w[i] * width;
  return sw;
}

}  // namespace

const char* MetricWarningName(uint32_t bit) {
  switch (bit) {
    case kWarnNonFinite:
      return "non_finite";
    case kWarnNonFiniteFixations:
      return "non_finite_fixations";
    case kWarnNoFixations:
      return "no_fixations";
    case kWarnAllFixated:
      return "all_fixated";
    case kWarnConstantPred:
      return "constant_pred";
    case kWarnConstantGt:
      return "constant_gt";
    case kWarnNegativeValues:
      return "negative_values";
    case kWarnConstantBaseline:
      return "constant_baseline";
    case kWarnNoOtherFixations:
      return "no_other_fixations";
    default:
      return "";
  }
}

std::string MetricWarningText(uint32_t warnings) {
  std::string out;
  for (int b = 0; b < kNumMetricWarnings; ++b) {
    if ((warnings & (1u << b)) == 0) continue;
    if (!out.empty()) out += ", ";
    out += MetricWarningName(1u << b);
  }
  return out;
}

bool IsFixationMetric(const std::string& key) {
  return key == "nss" || key == "auc_judd" || key == "nss_sphere" || key == "auc_borji" ||
         key == "auc_borji_sphere" || key == "sauc" || key == "info_gain" || key == "info_gain_sphere";
}

bool ParseSphereWeighting(const std::string& s, SphereWeighting* out) {
  if (s == "area") *out = SphereWeighting::kArea;
  else if (s == "salient360") *out = SphereWeighting::kSalient360;
  else return false;
  return true;
}

bool ParseKldDirection(const std::string& s, KldDirection* out) {
  if (s == "gt_pred") *out = KldDirection::kGtPred;
  else if (s == "pred_gt") *out = KldDirection::kPredGt;
  else if (s == "symmetric") *out = KldDirection::kSymmetric;
  else return false;
  return true;
}

const char* SphereWeightingName(SphereWeighting w) { return w == SphereWeighting::kArea ? "area" : "salient360"; }

const char* KldDirectionName(KldDirection d) {
  return d == KldDirection::kGtPred ? "gt_pred" : d == KldDirection::kPredGt ? "pred_gt" : "symmetric";
}

std::vector<std::pair<std::string, std::string>> MetricConventions(const MetricOptions& o) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%d splits, threshold step %g, seed %llu (splitmix64)", o.borji_splits,
                o.borji_step, static_cast<unsigned long long>(o.seed));
  return {{"sphere_weights", o.sphere_weights == SphereWeighting::kArea
                                 ? "area: sin((i+0.5)pi/H), after SIM's min-max"
                                 : "salient360: sin(i pi/(H-1)), before SIM's min-max"},
          {"kld", o.kld == KldDirection::kGtPred   ? "gt_pred: KL(gt || pred)"
                  : o.kld == KldDirection::kPredGt ? "pred_gt: KL(pred || gt)"
                                                   : "symmetric: (KL(gt || pred) + KL(pred || gt)) / 2"},
          {"kld_eps", "2^-52"},
          {"info_gain_eps", "2^-52"},
          {"auc_borji", buf}};
}

std::vector<double> RowWeightsFor(SphereWeighting weighting, int height) {
  SAL_METRICS_CHECK(height > 0, "height must be positive");
  return weighting == SphereWeighting::kArea ? sphere::RowSinColatitude(height)
                                             : sphere::Salient360RowWeights(height);
}

bool LowerIsBetter(const std::string& key) { return key == "kld" || key == "kld_sphere"; }

std::vector<std::pair<std::string, double>> MetricSet::Items() const {
  std::vector<std::pair<std::string, double>> out;
  for (const char* key : kMetricKeys) {
    const std::string k = key;
    if (IsFixationMetric(k) && !has_fixations) continue;
    if (k == "sauc" && !has_sauc) continue;
    if ((k == "info_gain" || k == "info_gain_sphere") && !has_info_gain) continue;
    out.emplace_back(key, Get(key));
  }
  return out;
}

double MetricSet::Get(const std::string& key) const {
  if (key == "cc") return cc;
  if (key == "kld") return kld;
  if (key == "sim") return sim;
  if (key == "cc_sphere") return cc_sphere;
  if (key == "kld_sphere") return kld_sphere;
  if (key == "sim_sphere") return sim_sphere;
  if (!has_fixations) return kNaN;
  if (key == "nss") return nss;
  if (key == "auc_judd") return auc_judd;
  if (key == "nss_sphere") return nss_sphere;
  if (key == "auc_borji") return auc_borji;
  if (key == "auc_borji_sphere") return auc_borji_sphere;
  if (key == "sauc") return has_sauc ? sauc : kNaN;
  if (key == "info_gain") return has_info_gain ? info_gain : kNaN;
  if (key == "info_gain_sphere") return has_info_gain ? info_gain_sphere : kNaN;
  return kNaN;
}

// The solid angle of a pixel of row i is (2π/W)(cos θ_i⁻ − cos θ_i⁺) with θ_i± = (i + ½ ±
// ½)π/H, i.e. (4π/W)·sin(π/2H)·sin((i + ½)π/H): proportional to the weight below.
std::vector<double> SphereRowWeights(int height) {
  SAL_METRICS_CHECK(height > 0, "height must be positive");
  return sphere::RowSinColatitude(height);  // (H)
}

namespace {

double CcImpl(const Scanned& sp, const Scanned& sg, const RowWeights& w, uint32_t* warnings) {
  const MapRef pred = sp.map, gt = sg.map;
  if (!sp.finite || !sg.finite) {
    Warn(warnings, kWarnNonFinite);
    return kNaN;
  }
  if (sp.constant() || sg.constant()) {  // standardised map := 0, so the product is 0
    if (sp.constant()) Warn(warnings, kWarnConstantPred);
    if (sg.constant()) Warn(warnings, kWarnConstantGt);
    return 0.0;
  }
  double sx, sy, sw;
  WeightedSums(pred, w, &sx, &sw);
  WeightedSums(gt, w, &sy, &sw);
  const double mx = sx / sw, my = sy / sw;
  double cov = 0, vx = 0, vy = 0;
  for (int i = 0; i < pred.height; ++i) {
    const double* x = pred.data + int64_t{i} * pred.width;  // (W)
    const double* y = gt.data + int64_t{i} * gt.width;      // (W)
    double rc = 0, rx = 0, ry = 0;
    for (int j = 0; j < pred.width; ++j) {
      const double dx = x[j] - mx, dy = y[j] - my;
      rc += dx * dy;
      rx += dx * dx;
      ry += dy * dy;
    }
    cov += w[i] * rc;
    vx += w[i] * rx;
    vy += w[i] * ry;
  }
  if (vx <= 0 || vy <= 0) return 0.0;  // not reachable for non-constant maps; defensive
  return cov / std::sqrt(vx * vy);
}

double KldImpl(const Scanned& sp, const Scanned& sg, const RowWeights& w, uint32_t* warnings) {
  const MapRef pred = sp.map, gt = sg.map;
  if (!sp.finite || !sg.finite) {
    Warn(warnings, kWarnNonFinite);
    return kNaN;
  }
  if (sp.negative || sg.negative) Warn(warnings, kWarnNegativeValues);
  // Weighted sums of the clamped maps a = max(P, 0), b = max(G, 0).
  double sa = 0, sb = 0;
  for (int i = 0; i < pred.height; ++i) {
    const double* x = pred.data + int64_t{i} * pred.width;  // (W)
    const double* y = gt.data + int64_t{i} * gt.width;      // (W)
    double ra = 0, rb = 0;
    for (int j = 0; j < pred.width; ++j) {
      ra += std::max(x[j], 0.0);
      rb += std::max(y[j], 0.0);
    }
    sa += w[i] * ra;
    sb += w[i] * rb;
  }
  // A map with no mass is read as the uniform distribution: a := 1 everywhere.
  const bool uniform_p = !(sa > 0), uniform_g = !(sb > 0);
  if (uniform_p) Warn(warnings, kWarnConstantPred);
  if (uniform_g) Warn(warnings, kWarnConstantGt);
  if (uniform_p) sa = TotalWeight(w, pred.height, pred.width);
  if (uniform_g) sb = TotalWeight(w, gt.height, gt.width);
  double kld = 0;
  for (int i = 0; i < pred.height; ++i) {
    const double* x = pred.data + int64_t{i} * pred.width;  // (W)
    const double* y = gt.data + int64_t{i} * gt.width;      // (W)
    const double fp = w[i] / sa, fg = w[i] / sb;            // p = fp·a, g = fg·b
    double row = 0;
    for (int j = 0; j < pred.width; ++j) {
      const double g = fg * (uniform_g ? 1.0 : std::max(y[j], 0.0));
      if (g == 0) continue;  // 0·log(eps + 0) = 0
      const double p = fp * (uniform_p ? 1.0 : std::max(x[j], 0.0));
      row += g * std::log(kKldEps + g / (p + kKldEps));
    }
    kld += row;
  }
  return kld;
}

double SimImpl(const Scanned& sp, const Scanned& sg, const RowWeights& w, uint32_t* warnings) {
  const MapRef pred = sp.map, gt = sg.map;
  if (!sp.finite || !sg.finite) {
    Warn(warnings, kWarnNonFinite);
    return kNaN;
  }
  if (sp.constant()) Warn(warnings, kWarnConstantPred);
  if (sg.constant()) Warn(warnings, kWarnConstantGt);
  // Min-max to [0,1]; a constant map becomes all ones (the uniform distribution).
  auto minmax = [](double v, const Scanned& s) {
    return s.constant() ? 1.0 : (v - s.min) / (s.max - s.min);
  };
  double sa = 0, sb = 0;  // Σ w·P', Σ w·G'
  for (int i = 0; i < pred.height; ++i) {
    const double* x = pred.data + int64_t{i} * pred.width;  // (W)
    const double* y = gt.data + int64_t{i} * gt.width;      // (W)
    double ra = 0, rb = 0;
    for (int j = 0; j < pred.width; ++j) {
      ra += minmax(x[j], sp);
      rb += minmax(y[j], sg);
    }
    sa += w[i] * ra;
    sb += w[i] * rb;
  }
  double sim = 0;
  for (int i = 0; i < pred.height; ++i) {
    const double* x = pred.data + int64_t{i} * pred.width;  // (W)
    const double* y = gt.data + int64_t{i} * gt.width;      // (W)
    const double fp = w[i] / sa, fg = w[i] / sb;
    double row = 0;
    for (int j = 0; j < pred.width; ++j)
      row += std::min(fp * minmax(x[j], sp), fg * minmax(y[j], sg));
    sim += row;
  }
  return sim;
}

double NssImpl(const Scanned& sp, const Scanned& sf, const RowWeights& w, uint32_t* warnings) {
  const MapRef pred = sp.map, fixations = sf.map;
  if (!sp.finite) Warn(warnings, kWarnNonFinite);
  if (!sf.finite) Warn(warnings, kWarnNonFiniteFixations);
  if (!sp.finite || !sf.finite) return kNaN;
  const int64_t n = int64_t{pred.height} * pred.width;
  const int64_t nfix = sf.nonzero;
  if (nfix == 0) {
    Warn(warnings, kWarnNoFixations);
    return kNaN;
  }
  if (sp.constant()) {  // Z := 0
    Warn(warnings, kWarnConstantPred);
    return 0.0;
  }
  double sx, sw;
  WeightedSums(pred, w, &sx, &sw);
  const double mean = sx / sw;
  double ss = 0, sw2 = 0;  // Σ w (x − mean)², Σ_k w_k²
  for (int i = 0; i < pred.height; ++i) {
    const double* x = pred.data + int64_t{i} * pred.width;  // (W)
    double r = 0;
    for (int j = 0; j < pred.width; ++j) r += (x[j] - mean) * (x[j] - mean);
    ss += w[i] * r;
    sw2 += w[i] * w[i] * pred.width;
  }
  const double denom = sw - sw2 / sw;  // N − 1 for equal weights
  const double var = ss / denom;
  if (!(denom > 0) || !(var > 0)) return 0.0;  // a single pixel; defensive
  const double sd = std::sqrt(var);
  double z = 0;
  for (int64_t k = 0; k < n; ++k) {
    if (fixations.data[k] != 0) z += (pred.data[k] - mean) / sd;
  }
  return z / static_cast<double>(nfix);
}

// Counts of sorted values below v (< v) and at most v (≤ v) by a branch-free binary
// search: the pixels come in no particular order, so a branching search would mispredict
// at almost every level.
int64_t CountBelow(const double* sorted, int64_t n, double v) {
  const double* base = sorted;
  while (n > 1) {
    const int64_t half = n / 2;
    base = (base[half] < v) ? base + half : base;
    n -= half;
  }
  return (base - sorted) + (*base < v);
}

int64_t CountAtMost(const double* sorted, int64_t n, double v) {
  const double* base = sorted;
  while (n > 1) {
    const int64_t half = n / 2;
    base = (base[half] <= v) ? base + half : base;
    n -= half;
  }
  return (base - sorted) + (*base <= v);
}

double AucJuddImpl(const Scanned& sp, const Scanned& sf, uint32_t* warnings) {
  const MapRef pred = sp.map, fixations = sf.map;
  if (!sp.finite) Warn(warnings, kWarnNonFinite);
  if (!sf.finite) Warn(warnings, kWarnNonFiniteFixations);
  if (!sp.finite || !sf.finite) return kNaN;
  const int64_t n = int64_t{pred.height} * pred.width;
  std::vector<double> fix;  // values of P at the fixated pixels, sorted ascending (Nf)
  fix.reserve(sf.nonzero);
  for (int64_t k = 0; k < n; ++k) {
    if (fixations.data[k] != 0) fix.push_back(pred.data[k]);
  }
  const int64_t nf = static_cast<int64_t>(fix.size()), nn = n - nf;
  if (nf == 0) {
    Warn(warnings, kWarnNoFixations);
    return kNaN;
  }
  if (nn == 0) {
    Warn(warnings, kWarnAllFixated);
    return kNaN;
  }
  if (sp.constant()) Warn(warnings, kWarnConstantPred);
  std::sort(fix.begin(), fix.end());
  const double fix_min = fix.front();
  // Σ over non-fixated pixels of Nf·credit (see metrics.h):
  //   Nf·credit = A + T/2 + 1/2 − [A + T = Nf]/(2(T + 1)).
  double total = 0;
  for (int64_t k = 0; k < n; ++k) {
    if (fixations.data[k] != 0) continue;
    const double v = pred.data[k];
    if (v < fix_min) {  // below every fixation: credit 1
      total += static_cast<double>(nf);
      continue;
    }
    const int64_t hi = CountAtMost(fix.data(), nf, v);                           // # ≤ v
    const int64_t lo = (fix[hi - 1] == v) ? CountBelow(fix.data(), nf, v) : hi;  // # < v
    const int64_t above = nf - hi, tied = hi - lo;
    double c = above + 0.5 * tied + 0.5;
    if (lo == 0) c -= 0.5 / static_cast<double>(tied + 1);  // A + T = Nf
    total += c;
  }
  return total / (static_cast<double>(nf) * static_cast<double>(nn));
}

// KL in a direction: KldImpl is KL(second ‖ first); swapping the maps swaps the
// meaning of the constant_* bits, which are swapped back.
double KldDirectedImpl(const Scanned& sp, const Scanned& sg, const RowWeights& w, KldDirection d,
                       uint32_t* warnings) {
  auto reversed = [&] {
    uint32_t wr = 0;
    const double v = KldImpl(sg, sp, w, &wr);
    uint32_t fixed = wr & ~(kWarnConstantPred | kWarnConstantGt);
    if (wr & kWarnConstantPred) fixed |= kWarnConstantGt;
    if (wr & kWarnConstantGt) fixed |= kWarnConstantPred;
    Warn(warnings, fixed);
    return v;
  };
  switch (d) {
    case KldDirection::kGtPred:
      return KldImpl(sp, sg, w, warnings);
    case KldDirection::kPredGt:
      return reversed();
    case KldDirection::kSymmetric:
      return 0.5 * (KldImpl(sp, sg, w, warnings) + reversed());
  }
  return kNaN;
}

// Salient360!'s SIM: each map times its row weights, then min-max, then Σ-normalised.
double SimWeightsFirstImpl(const Scanned& sp, const Scanned& sg, const RowWeights& w, uint32_t* warnings) {
  if (!sp.finite || !sg.finite) {
    Warn(warnings, kWarnNonFinite);
    return kNaN;
  }
  const MapRef pred = sp.map, gt = sg.map;
  const int64_t n = int64_t{pred.height} * pred.width;
  std::vector<double> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
  for (int i = 0; i < pred.height; ++i) {
    for (int j = 0; j < pred.width; ++j) {
      const int64_t k = int64_t{i} * pred.width + j;
      a[k] = w[i] * pred.data[k];
      b[k] = w[i] * gt.data[k];
    }
  }
  const Scanned wa = Scan(MapRef{a.data(), pred.height, pred.width}), wb = Scan(MapRef{b.data(), gt.height, gt.width});
  const std::vector<double> none;
  return SimImpl(wa, wb, RowWeights(none, pred.height), warnings);
}

// The negatives' random stream (util/splitmix.h: the same on every platform).
struct SplitMix {
  uint64_t s;
  uint64_t Next() { return util::SplitMix64(s); }
  int64_t Below(int64_t n) { return static_cast<int64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64); }
  double Unit() { return util::SplitMixUnit(s); }
};

// min-max of P to [0,1]; a constant map becomes all 0.
std::vector<double> MinMax(const Scanned& sp) {
  const int64_t n = int64_t{sp.map.height} * sp.map.width;
  std::vector<double> s(static_cast<size_t>(n), 0.0);
  if (sp.constant()) return s;
  for (int64_t k = 0; k < n; ++k) s[k] = (sp.map.data[k] - sp.min) / (sp.max - sp.min);
  return s;
}

// The MIT curve for positives and one split's negatives: thresholds k·step for k =
// floor(max/step) .. 0, points (0,0), (FPR, TPR) per threshold, (1,1); trapezoids.
double BorjiCurveArea(const std::vector<double>& pos, const std::vector<double>& neg, double step) {
  double mx = 0;
  for (double v : pos) mx = std::max(mx, v);
  for (double v : neg) mx = std::max(mx, v);
  const int kmax = static_cast<int>(std::floor(mx / step + 1e-9));
  double area = 0, prev_tp = 0, prev_fp = 0;
  for (int k = kmax; k >= -1; --k) {
    double tp = 1, fp = 1;
    if (k >= 0) {
      const double t = k * step;
      int64_t a = 0, b = 0;
      for (double v : pos) a += v >= t;
      for (double v : neg) b += v >= t;
      tp = static_cast<double>(a) / pos.size();
      fp = static_cast<double>(b) / neg.size();
    }
    area += (fp - prev_fp) * (tp + prev_tp) / 2;
    prev_tp = tp;
    prev_fp = fp;
  }
  return area;
}

double AucBorjiImpl(const Scanned& sp, const Scanned& sf, const RowWeights& w, int splits, double step,
                    uint64_t seed, uint32_t* warnings) {
  if (!sp.finite) Warn(warnings, kWarnNonFinite);
  if (!sf.finite) Warn(warnings, kWarnNonFiniteFixations);
  if (!sp.finite || !sf.finite) return kNaN;
  const int h = sp.map.height, wd = sp.map.width;
  const int64_t n = int64_t{h} * wd;
  if (sf.nonzero == 0) {
    Warn(warnings, kWarnNoFixations);
    return kNaN;
  }
  if (sp.constant()) Warn(warnings, kWarnConstantPred);
  const std::vector<double> s = MinMax(sp);
  std::vector<double> pos;
  for (int64_t k = 0; k < n; ++k) {
    if (sf.map.data[k] != 0) pos.push_back(s[k]);
  }
  std::vector<double> cum(static_cast<size_t>(h));  // rows' cumulative weight (sphere)
  double total = 0;
  for (int i = 0; i < h; ++i) cum[i] = total += w[i];
  SplitMix rng{seed};
  std::vector<double> neg(pos.size());
  double sum = 0;
  for (int sp_i = 0; sp_i < splits; ++sp_i) {
    for (double& v : neg) {
      int64_t k;
      if (w.flat()) {
        k = rng.Below(n);
      } else {
        const double u = rng.Unit() * total;
        const int row = std::min<int>(h - 1, static_cast<int>(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin()));
        k = int64_t{row} * wd + rng.Below(wd);
      }
      v = s[k];
    }
    sum += BorjiCurveArea(pos, neg, step);
  }
  return sum / splits;
}

double AucShuffledImpl(const Scanned& sp, const Scanned& sf, const Scanned& so, int splits, double step,
                       uint64_t seed, uint32_t* warnings) {
  if (!sp.finite) Warn(warnings, kWarnNonFinite);
  if (!sf.finite || !so.finite) Warn(warnings, kWarnNonFiniteFixations);
  if (!sp.finite || !sf.finite || !so.finite) return kNaN;
  const int64_t n = int64_t{sp.map.height} * sp.map.width;
  if (sf.nonzero == 0) {
    Warn(warnings, kWarnNoFixations);
    return kNaN;
  }
  if (so.nonzero == 0) {
    Warn(warnings, kWarnNoOtherFixations);
    return kNaN;
  }
  if (sp.constant()) Warn(warnings, kWarnConstantPred);
  const std::vector<double> s = MinMax(sp);
  std::vector<double> pos;
  std::vector<int64_t> others;
  for (int64_t k = 0; k < n; ++k) {
    if (sf.map.data[k] != 0) pos.push_back(s[k]);
    if (so.map.data[k] != 0) others.push_back(k);
  }
  const size_t m = std::min(pos.size(), others.size());
  SplitMix rng{seed};
  std::vector<double> neg(m);
  double sum = 0;
  for (int split = 0; split < splits; ++split) {
    // The first m of a uniform random permutation (partial Fisher-Yates).
    for (size_t i = 0; i < m; ++i) {
      const size_t j = i + static_cast<size_t>(rng.Below(static_cast<int64_t>(others.size() - i)));
      std::swap(others[i], others[j]);
      neg[i] = s[others[i]];
    }
    sum += BorjiCurveArea(pos, neg, step);
  }
  return sum / splits;
}

double InfoGainImpl(const Scanned& sp, const Scanned& sb, const Scanned& sf, const RowWeights& w,
                    uint32_t* warnings) {
  if (!sp.finite || !sb.finite) Warn(warnings, kWarnNonFinite);
  if (!sf.finite) Warn(warnings, kWarnNonFiniteFixations);
  if (!sp.finite || !sb.finite || !sf.finite) return kNaN;
  if (sf.nonzero == 0) {
    Warn(warnings, kWarnNoFixations);
    return kNaN;
  }
  if (sp.constant()) Warn(warnings, kWarnConstantPred);
  if (sb.constant()) Warn(warnings, kWarnConstantBaseline);
  const int h = sp.map.height, wd = sp.map.width;
  // min-max then normalised to mass (with the row weights); constant: uniform.
  auto normalised = [&](const Scanned& x) {
    std::vector<double> v = MinMax(x);
    if (x.constant()) std::fill(v.begin(), v.end(), 1.0);
    double total = 0;
    for (int i = 0; i < h; ++i) {
      for (int j = 0; j < wd; ++j) total += w[i] * v[int64_t{i} * wd + j];
    }
    for (int i = 0; i < h; ++i) {
      for (int j = 0; j < wd; ++j) v[int64_t{i} * wd + j] *= w[i] / total;
    }
    return v;
  };
  const std::vector<double> p = normalised(sp), b = normalised(sb);
  double sum = 0;
  for (int64_t k = 0; k < int64_t{h} * wd; ++k) {
    if (sf.map.data[k] != 0) sum += std::log2(kKldEps + p[k]) - std::log2(kKldEps + b[k]);
  }
  return sum / static_cast<double>(sf.nonzero);
}

MetricSet ComputeOnDoubles(const double* pred, const double* gt, const double* fix, int height,
                           int width, const MetricOptions& o) {
  SAL_METRICS_CHECK(o.borji_splits >= 1 && o.borji_step > 0, "bad AUC-Borji options");
  const Scanned p = Scan(MapRef{pred, height, width}), g = Scan(MapRef{gt, height, width});
  const std::vector<double> flat_w, sphere_w = RowWeightsFor(o.sphere_weights, height);
  const RowWeights flat(flat_w, height), sphere(sphere_w, height);
  MetricSet m;
  uint32_t warn = 0;
  m.cc = CcImpl(p, g, flat, &warn);
  m.kld = KldDirectedImpl(p, g, flat, o.kld, &warn);
  m.sim = SimImpl(p, g, flat, &warn);
  m.cc_sphere = CcImpl(p, g, sphere, &warn);
  m.kld_sphere = KldDirectedImpl(p, g, sphere, o.kld, &warn);
  m.sim_sphere = o.sphere_weights == SphereWeighting::kArea ? SimImpl(p, g, sphere, &warn)
                                                            : SimWeightsFirstImpl(p, g, sphere, &warn);
  if (fix != nullptr) {
    const Scanned f = Scan(MapRef{fix, height, width});
    m.has_fixations = true;
    m.nss = NssImpl(p, f, flat, &warn);
    m.auc_judd = AucJuddImpl(p, f, &warn);
    m.nss_sphere = NssImpl(p, f, sphere, &warn);
    m.auc_borji = AucBorjiImpl(p, f, flat, o.borji_splits, o.borji_step, o.seed, &warn);
    m.auc_borji_sphere = AucBorjiImpl(p, f, sphere, o.borji_splits, o.borji_step, o.seed, &warn);
    if (o.other_fixations != nullptr) {
      m.has_sauc = true;
      m.sauc = AucShuffledImpl(p, f, Scan(MapRef{o.other_fixations, height, width}), o.borji_splits, o.borji_step,
                               o.seed, &warn);
    }
    if (o.baseline != nullptr) {
      const Scanned b = Scan(MapRef{o.baseline, height, width});
      m.has_info_gain = true;
      m.info_gain = InfoGainImpl(p, b, f, flat, &warn);
      m.info_gain_sphere = InfoGainImpl(p, b, f, sphere, &warn);
    }
  }
  m.warnings = warn;
  return m;
}

std::vector<double> ToDoubles(const float* x, int64_t n) { return std::vector<double>(x, x + n); }

}  // namespace

double Cc(MapRef pred, MapRef gt, const std::vector<double>& row_weights, uint32_t* warnings) {
  CheckSameSize(pred, gt);
  return CcImpl(Scan(pred), Scan(gt), RowWeights(row_weights, pred.height), warnings);
}

double Kld(MapRef pred, MapRef gt, const std::vector<double>& row_weights, uint32_t* warnings) {
  CheckSameSize(pred, gt);
  return KldImpl(Scan(pred), Scan(gt), RowWeights(row_weights, pred.height), warnings);
}

double Sim(MapRef pred, MapRef gt, const std::vector<double>& row_weights, uint32_t* warnings) {
  CheckSameSize(pred, gt);
  return SimImpl(Scan(pred), Scan(gt), RowWeights(row_weights, pred.height), warnings);
}

double Nss(MapRef pred, MapRef fixations, const std::vector<double>& row_weights,
           uint32_t* warnings) {
  CheckSameSize(pred, fixations);
  return NssImpl(Scan(pred), Scan(fixations), RowWeights(row_weights, pred.height), warnings);
}

double AucJudd(MapRef pred, MapRef fixations, uint32_t* warnings) {
  CheckSameSize(pred, fixations);
  return AucJuddImpl(Scan(pred), Scan(fixations), warnings);
}

double AucBorji(MapRef pred, MapRef fixations, const std::vector<double>& row_weights, int splits, double step,
                uint64_t seed, uint32_t* warnings) {
  CheckSameSize(pred, fixations);
  SAL_METRICS_CHECK(splits >= 1 && step > 0, "bad AUC-Borji options");
  return AucBorjiImpl(Scan(pred), Scan(fixations), RowWeights(row_weights, pred.height), splits, step, seed,
                      warnings);
}

double AucShuffled(MapRef pred, MapRef fixations, MapRef other_fixations, int splits, double step, uint64_t seed,
                   uint32_t* warnings) {
  CheckSameSize(pred, fixations);
  CheckSameSize(pred, other_fixations);
  SAL_METRICS_CHECK(splits >= 1 && step > 0, "bad sAUC options");
  return AucShuffledImpl(Scan(pred), Scan(fixations), Scan(other_fixations), splits, step, seed, warnings);
}

double InfoGain(MapRef pred, MapRef baseline, MapRef fixations, const std::vector<double>& row_weights,
                uint32_t* warnings) {
  CheckSameSize(pred, fixations);
  CheckSameSize(pred, baseline);
  return InfoGainImpl(Scan(pred), Scan(baseline), Scan(fixations), RowWeights(row_weights, pred.height), warnings);
}

double KldDirected(MapRef pred, MapRef gt, const std::vector<double>& row_weights, KldDirection direction,
                   uint32_t* warnings) {
  CheckSameSize(pred, gt);
  return KldDirectedImpl(Scan(pred), Scan(gt), RowWeights(row_weights, pred.height), direction, warnings);
}

double SimWeightsFirst(MapRef pred, MapRef gt, const std::vector<double>& row_weights, uint32_t* warnings) {
  CheckSameSize(pred, gt);
  return SimWeightsFirstImpl(Scan(pred), Scan(gt), RowWeights(row_weights, pred.height), warnings);
}

MetricSet ComputeMetrics(const double* pred, const double* gt, const double* fixations, int height,
                         int width, const MetricOptions& options) {
  SAL_METRICS_CHECK(height > 0 && width > 0, "map size must be positive");
  SAL_METRICS_CHECK(pred != nullptr && gt != nullptr, "null map");
  return ComputeOnDoubles(pred, gt, fixations, height, width, options);
}

MetricSet ComputeMetrics(const float* pred, const float* gt, const float* fixations, int height,
                         int width, const MetricOptions& options) {
  SAL_METRICS_CHECK(height > 0 && width > 0, "map size must be positive");
  SAL_METRICS_CHECK(pred != nullptr && gt != nullptr, "null map");
  const int64_t n = int64_t{height} * width;
  const std::vector<double> p = ToDoubles(pred, n), g = ToDoubles(gt, n);
  std::vector<double> f;
  if (fixations != nullptr) f = ToDoubles(fixations, n);
  return ComputeOnDoubles(p.data(), g.data(), fixations != nullptr ? f.data() : nullptr, height,
                          width, options);
}

}  // namespace sal360::data

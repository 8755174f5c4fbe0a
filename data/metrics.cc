// Saliency metrics; definitions and degenerate-input rules in metrics.h.
//
// Every metric is written once, with a weight per image row (flat = all weights 1), and
// accumulates in double in a fixed order, so results are deterministic.
#include "data/metrics.h"
#include "sphere/erp.h"

#include <algorithm>
#include <cmath>
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
    for (double x : w) SAL_METRICS_CHECK(std::isfinite(x) && x > 0, "row weights must be > 0");
  }
  double operator[](int i) const { return w_.empty() ? 1.0 : w_[i]; }

 private:
  const std::vector<double>& w_;
};

// A map with the facts of one pass over it: finiteness, range, sign, non-zero count.
// ComputeMetrics scans each map once and hands the result to every metric.
struct Scanned {
  MapRef map;
  bool finite = true;
  bool negative = false;
  double min = 0, max = 0;
  int64_t nonzero = 0;
  bool constant() const { return min == max; }
};

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
  return key == "nss" || key == "auc_judd" || key == "nss_sphere";
}

bool LowerIsBetter(const std::string& key) { return key == "kld" || key == "kld_sphere"; }

std::vector<std::pair<std::string, double>> MetricSet::Items() const {
  std::vector<std::pair<std::string, double>> out;
  for (const char* key : kMetricKeys) {
    if (IsFixationMetric(key) && !has_fixations) continue;
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

MetricSet ComputeOnDoubles(const double* pred, const double* gt, const double* fix, int height,
                           int width) {
  const Scanned p = Scan(MapRef{pred, height, width}), g = Scan(MapRef{gt, height, width});
  const std::vector<double> flat_w, sphere_w = SphereRowWeights(height);
  const RowWeights flat(flat_w, height), sphere(sphere_w, height);
  MetricSet m;
  uint32_t warn = 0;
  m.cc = CcImpl(p, g, flat, &warn);
  m.kld = KldImpl(p, g, flat, &warn);
  m.sim = SimImpl(p, g, flat, &warn);
  m.cc_sphere = CcImpl(p, g, sphere, &warn);
  m.kld_sphere = KldImpl(p, g, sphere, &warn);
  m.sim_sphere = SimImpl(p, g, sphere, &warn);
  if (fix != nullptr) {
    const Scanned f = Scan(MapRef{fix, height, width});
    m.has_fixations = true;
    m.nss = NssImpl(p, f, flat, &warn);
    m.auc_judd = AucJuddImpl(p, f, &warn);
    m.nss_sphere = NssImpl(p, f, sphere, &warn);
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

MetricSet ComputeMetrics(const double* pred, const double* gt, const double* fixations, int height,
                         int width) {
  SAL_METRICS_CHECK(height > 0 && width > 0, "map size must be positive");
  SAL_METRICS_CHECK(pred != nullptr && gt != nullptr, "null map");
  return ComputeOnDoubles(pred, gt, fixations, height, width);
}

MetricSet ComputeMetrics(const float* pred, const float* gt, const float* fixations, int height,
                         int width) {
  SAL_METRICS_CHECK(height > 0 && width > 0, "map size must be positive");
  SAL_METRICS_CHECK(pred != nullptr && gt != nullptr, "null map");
  const int64_t n = int64_t{height} * width;
  const std::vector<double> p = ToDoubles(pred, n), g = ToDoubles(gt, n);
  std::vector<double> f;
  if (fixations != nullptr) f = ToDoubles(fixations, n);
  return ComputeOnDoubles(p.data(), g.data(), fixations != nullptr ? f.data() : nullptr, height,
                          width);
}

}  // namespace sal360::data

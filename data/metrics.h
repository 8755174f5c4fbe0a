// Saliency metrics on equirectangular (ERP) maps: the MIT saliency benchmark's
// definitions, and sphere-weighted versions that weight each image row by its solid
// angle. Plain host arrays, no devices, no I/O.
//
// Inputs, all row-major (H, W): P = predicted map, G = ground-truth density, F =
// fixation map (a pixel is fixated when F != 0). N = H·W pixels; Nf = fixated pixels.
//
// Flat metrics (MIT benchmark conventions, https://saliency.tuebingen.ai code):
//   CC   Pearson correlation of P and G over all pixels.
//   KLD  p = P/ΣP, g = G/ΣG;  KLD = Σ g · log(eps + g/(p + eps)),  eps = 2^-52.
//        Direction KL(G ‖ P): lower is better, 0 for p = g.
//   NSS  Z = (P − mean P) / std P (std with N − 1); NSS = mean of Z over fixated pixels.
//   SIM  P and G each min-max normalised to [0,1], then divided by their sum;
//        SIM = Σ min(p, g). 1 for identical distributions, 0 for disjoint ones.
//   AUC-Judd  thresholds t_1 ≥ ... ≥ t_Nf at the values of P on the fixated pixels;
//        TPR_i = i/Nf, FPR_i = (#{pixels with P ≥ t_i} − i)/(N − Nf); the curve
//        (0,0), (FPR_1,TPR_1), ..., (FPR_Nf,TPR_Nf), (1,1); trapezoidal area.
//        Ties: the reference adds random jitter (< 1e-7) to P, so its value depends on
//        the jitter wherever values tie. We return the EXPECTED value over all orders of
//        exactly equal values (each order equally likely: the limit of the jittered
//        reference as the jitter goes to 0). Without ties this is the reference's value
//        exactly. Closed form used (O(N log Nf): sort the fixated values once, one
//        binary search per non-fixated pixel): for a non-fixated pixel with A fixated
//        values strictly above it and T equal to it,
//          credit = (A + T/2 + 1/2)/Nf − [A + T = Nf] · 1/(2·Nf·(T + 1)),
//        AUC = mean credit over the N − Nf non-fixated pixels. (Without ties a pixel
//        below a of the fixations gets (a + 1/2)/Nf, or 1 if below all: the trapezoids.)
//        Note the reference curve's known optimism for few fixations: a constant or
//        random map scores (Nf + 2)/(2·Nf + 2), e.g. 0.75 for one fixation.
//
// Sphere-weighted metrics: row i gets weight w_i ∝ sin((i + 0.5)·π/H), exactly
// proportional to the solid angle of its pixels (sphere::RowSolidAngles). Every metric
// is invariant to a common scale of the weights, and with equal weights each equals
// its flat version (one implementation serves both: flat = all weights 1). With
// W = Σ_k w_k over all pixels k (w_k = weight of k's row):
//   cc_sphere   weighted Pearson: mean_w X = Σ w X / W,
//               cov_w = Σ w (P − mean_w P)(G − mean_w G); cc = cov_w / sqrt(var_w P·var_w G).
//   kld_sphere  p = w·P / Σ w·P, g = w·G / Σ w·G (probability mass per pixel when P, G
//               are densities per solid angle); KLD formula as above on p, g.
//   sim_sphere  min-max as above, then p = w·P / Σ w·P, g likewise; Σ min(p, g).
//   nss_sphere  mean_w as above; var_w = Σ w (P − mean_w)² / (W − Σw²/W) (unbiased
//               "reliability weights": equals the N − 1 std when weights are equal);
//               NSS = unweighted mean over fixated pixels of (P − mean_w)/std_w.
// With integer weights, cc/kld/sim_sphere equal the flat metrics on the map with each
// row repeated w_i times (tested). AUC-Judd has no sphere variant (ranks do not change).
//
// Benchmark metrics (MIT saliency benchmark code: AUC_Borji.m, AUC_shuffled.m, InfoGain.m):
//   AUC-Borji  S = min-max(P); positives: S at the Nf fixated pixels; per split, Nf
//        negatives: S at pixels drawn uniformly with replacement (sphere variant: drawn
//        uniformly on the sphere, i.e. rows with probability ∝ their weight). Thresholds
//        k·0.1 for k = floor(max(positives ∪ negatives)/0.1) down to 0 (MIT: 0:0.1:max); TPR, FPR
//        = fraction of positives / negatives ≥ threshold; curve (0,0), ..., (1,1); area by
//        trapezoids; mean over the splits (100, seeded: MetricOptions::seed, splitmix64).
//   sAUC  as AUC-Borji with negatives S at min(Nf, No) pixels drawn without replacement
//        from the No pixels of MetricOptions::other_fixations (fixations of other frames or
//        videos: the centre bias cancels). One variant (negatives are fixations already).
//   InfoGain  p = min-max(P)/Σ, b = min-max(B)/Σ for the baseline B; mean over fixated
//        pixels of log2(eps + p) − log2(eps + b), eps = 2^-52 (bits per fixation over the
//        baseline). Sphere variant: p, b normalised with the row weights (mass per pixel).
//
// Options (MetricOptions; every output states them, MetricConventions):
//   sphere_weights  area: w_i ∝ sin((i + ½)π/H) (exact band areas), weights applied
//                   after SIM's min-max; salient360: w_i = sin(iπ/(H−1)) (the Salient360!
//                   toolbox; first and last rows weigh 0), applied to the map BEFORE SIM's
//                   min-max, as that toolbox does.
//   kld             gt_pred: KL(G ‖ P) (MIT), pred_gt: KL(P ‖ G), symmetric: their mean.
//
// Degenerate inputs never crash; each gives the value below and sets a warning bit:
//   non-finite value in P or G         -> every metric NaN           kNonFinite
//   non-finite value in F              -> nss*, auc_judd NaN          kNonFiniteFixations
//   no fixated pixel                   -> nss*, auc_judd NaN          kNoFixations
//   every pixel fixated                -> auc_judd NaN (no negatives) kAllFixated
//   constant P or G (std 0)            -> CC 0, NSS 0 (Z := 0)        kConstantPred/Gt
//   constant map in SIM, ΣP = 0 or ΣG = 0 in KLD -> that map is taken as the uniform
//                                         distribution (w/Σw)         kConstantPred/Gt
//   negative values in P or G (KLD)    -> clamped to 0 for KLD only   kNegativeValues
//   constant P in AUC-Judd: all ties, the tie rule gives (Nf+2)/(2Nf+2) (no warning
//                                         beyond kConstantPred).
//   constant P in AUC-Borji/sAUC: S := 0, every threshold passes all → 0.5 (chance);
//     the references give NaN (0/0 in the min-max).                kConstantPred
//   constant P or B in InfoGain: taken as uniform (references: NaN) kConstantPred/Baseline
//   no pixel in other_fixations: sAUC NaN                           kNoOtherFixations
// NaN means "undefined"; JSON writers print it as null and averages skip it (counted).
#ifndef SAL360_DATA_METRICS_H_
#define SAL360_DATA_METRICS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sal360::data {

inline constexpr double kKldEps = 2.220446049250313e-16;  // 2^-52, as the MIT code

// Warning bits of MetricSet::warnings.
enum MetricWarning : uint32_t {
  kWarnNonFinite = 1u << 0,           // NaN/Inf in the prediction or ground truth
  kWarnNonFiniteFixations = 1u << 1,  // NaN/Inf in the fixation map
  kWarnNoFixations = 1u << 2,
  kWarnAllFixated = 1u << 3,
  kWarnConstantPred = 1u << 4,
  kWarnConstantGt = 1u << 5,
  kWarnNegativeValues = 1u << 6,
  kWarnConstantBaseline = 1u << 7,
  kWarnNoOtherFixations = 1u << 8,
};
inline constexpr int kNumMetricWarnings = 9;
// Short names of the set bits, e.g. "constant_pred, no_fixations" ("" when none).
std::string MetricWarningText(uint32_t warnings);
// Name of one bit (e.g. "constant_pred"), or "" for an unknown bit.
const char* MetricWarningName(uint32_t bit);

// The metric keys, in the order every table/CSV/JSON uses (the keys of tools:eval).
// Fixation-based keys (nss, auc_judd, nss_sphere) exist only when a fixation map is
// given. Higher is better except for kld and kld_sphere.
// auc_borji* need fixations; sauc also MetricOptions::other_fixations; info_gain* also
// MetricOptions::baseline.
inline constexpr const char* kMetricKeys[] = {
    "cc",        "kld",        "nss",        "auc_judd",         "auc_borji",        "sauc",      "info_gain",
    "sim",       "cc_sphere",  "kld_sphere", "nss_sphere",       "auc_borji_sphere", "info_gain_sphere",
    "sim_sphere"};
inline constexpr int kNumMetrics = 14;
bool IsFixationMetric(const std::string& key);
bool LowerIsBetter(const std::string& key);

enum class SphereWeighting { kArea, kSalient360 };
enum class KldDirection { kGtPred, kPredGt, kSymmetric };
struct MetricOptions {
  SphereWeighting sphere_weights = SphereWeighting::kArea;
  KldDirection kld = KldDirection::kGtPred;
  int borji_splits = 100;
  double borji_step = 0.1;
  uint64_t seed = 0;  // AUC-Borji's and sAUC's random negatives
  // (H, W) maps valid during the call, or null: the InfoGain baseline and the other
  // frames' fixations for sAUC.
  const double* baseline = nullptr;
  const double* other_fixations = nullptr;
};
// "area" | "salient360", "gt_pred" | "pred_gt" | "symmetric"; errors name the flag.
bool ParseSphereWeighting(const std::string& s, SphereWeighting* out);
bool ParseKldDirection(const std::string& s, KldDirection* out);
const char* SphereWeightingName(SphereWeighting w);
const char* KldDirectionName(KldDirection d);
// What the numbers mean, for every output: sphere_weights, kld direction, kld_eps,
// auc_borji (splits, step, seed), info_gain (eps, baseline name given by the caller).
std::vector<std::pair<std::string, std::string>> MetricConventions(const MetricOptions& options);
// The row weights of a weighting (kArea: SphereRowWeights).
std::vector<double> RowWeightsFor(SphereWeighting weighting, int height);

struct MetricSet {
  // Map-based metrics: always computed.
  double cc = 0, kld = 0, sim = 0;
  double cc_sphere = 0, kld_sphere = 0, sim_sphere = 0;
  // Fixation-based metrics: meaningful only when has_fixations.
  bool has_fixations = false;
  double nss = 0, auc_judd = 0, nss_sphere = 0;
  double auc_borji = 0, auc_borji_sphere = 0;
  bool has_sauc = false;       // other_fixations given
  double sauc = 0;
  bool has_info_gain = false;  // baseline given
  double info_gain = 0, info_gain_sphere = 0;
  uint32_t warnings = 0;  // MetricWarning bits

  // The present metrics as (key, value) in kMetricKeys order.
  std::vector<std::pair<std::string, double>> Items() const;
  // Value by key; NaN for an absent or unknown key.
  double Get(const std::string& key) const;
};

// Weights ∝ sin((i + 0.5)·π/H), i = 0..H−1 (the per-row solid angle of the ERP grid).
std::vector<double> SphereRowWeights(int height);

// Every metric for one frame. `fixations` may be null (then has_fixations = false).
// Sizes must be positive; arrays hold height·width values.
MetricSet ComputeMetrics(const float* pred, const float* gt, const float* fixations, int height,
                         int width, const MetricOptions& options = {});
MetricSet ComputeMetrics(const double* pred, const double* gt, const double* fixations, int height,
                         int width, const MetricOptions& options = {});

// The single-metric functions behind ComputeMetrics. `row_weights` has `height` entries
// (positive, finite) for the weighted variant, or is empty for the flat metric.
// `warnings` (may be null) receives MetricWarning bits. Maps are (height, width).
struct MapRef {
  const double* data;
  int height;
  int width;
};
double Cc(MapRef pred, MapRef gt, const std::vector<double>& row_weights, uint32_t* warnings);
double Kld(MapRef pred, MapRef gt, const std::vector<double>& row_weights, uint32_t* warnings);
double Sim(MapRef pred, MapRef gt, const std::vector<double>& row_weights, uint32_t* warnings);
double Nss(MapRef pred, MapRef fixations, const std::vector<double>& row_weights,
           uint32_t* warnings);
double AucJudd(MapRef pred, MapRef fixations, uint32_t* warnings);
// row_weights empty: negatives uniform over pixels; else uniform on the sphere.
double AucBorji(MapRef pred, MapRef fixations, const std::vector<double>& row_weights, int splits, double step,
                uint64_t seed, uint32_t* warnings);
double AucShuffled(MapRef pred, MapRef fixations, MapRef other_fixations, int splits, double step, uint64_t seed,
                   uint32_t* warnings);
double InfoGain(MapRef pred, MapRef baseline, MapRef fixations, const std::vector<double>& row_weights,
                uint32_t* warnings);
// KLD in a direction (Kld above is kGtPred).
double KldDirected(MapRef pred, MapRef gt, const std::vector<double>& row_weights, KldDirection direction,
                   uint32_t* warnings);
// SIM with the Salient360! order: weights applied to each map before its min-max.
double SimWeightsFirst(MapRef pred, MapRef gt, const std::vector<double>& row_weights, uint32_t* warnings);

}  // namespace sal360::data

#endif  // SAL360_DATA_METRICS_H_

// Baselines shown beside the model in every report, so that its numbers have meaning:
//   "uniform"  a constant map (no information; CC = NSS = 0 by definition),
//   "equator"  the equator-bias prior: the mean training ground truth
//              (MeanMapAccumulator), or LatitudePrior when no training maps exist,
//   "prev_gt"  the ground truth of the previous frame (what the temporal input gives the
//              model for free); the caller passes that map as the prediction.
// Plain host arrays, row-major (H, W).
#ifndef SAL360_DATA_BASELINES_H_
#define SAL360_DATA_BASELINES_H_

#include <cstdint>
#include <vector>

namespace sal360::data {

inline constexpr char kBaselineUniform[] = "uniform";
inline constexpr char kBaselineEquator[] = "equator";
inline constexpr char kBaselinePrevGt[] = "prev_gt";

// A constant map of ones, (height, width).
std::vector<float> UniformMap(int height, int width);

// exp(−lat² / (2σ²)) per row (lat = π/2 − (i + 0.5)·π/H), constant along a row: a
// stand-in equator prior when no training ground truth is at hand.
std::vector<float> LatitudePrior(int height, int width, double sigma_radians = 0.35);

// Mean of training ground-truth maps, each first normalised to sum 1 so that every
// frame counts equally. Maps with a non-finite value or a non-positive sum are skipped
// (counted in skipped()).
class MeanMapAccumulator {
 public:
  MeanMapAccumulator(int height, int width);
  void Add(const float* map);   // (height, width)
  void Add(const double* map);  // (height, width)
  // The mean map, normalised to sum 1; the uniform map while nothing was added.
  std::vector<float> Mean() const;
  int64_t count() const { return count_; }
  int64_t skipped() const { return skipped_; }
  int height() const { return height_; }
  int width() const { return width_; }

 private:
  template <typename T>
  void AddImpl(const T* map);
  int height_, width_;
  std::vector<double> sum_;  // (height, width)
  int64_t count_ = 0, skipped_ = 0;
};

}  // namespace sal360::data

#endif  // SAL360_DATA_BASELINES_H_

// Evaluation of a model on a split's test videos, as //tools:test runs it: every test
// video frame by frame through the inference loop (infer/sequence.h) with the chosen
// temporal input (and, with `both`, the other of pred/gt as a second model), every
// metric against the ground truth and fixations (data/metrics.h; AUC-Borji, sAUC against
// the other test videos' fixations, InfoGain over the equator baseline), the baselines
// uniform, equator (mean training map) and prev_gt, and into `out_dir`: metrics.json,
// videos.json, frames.csv, report.html (data/report.h) and, with `save_maps`,
// maps/<video>/NNNN.npy (float32 (H, W), network scale) with NNNN_overlay.png.
#ifndef SAL360_INFER_EVALUATE_H_
#define SAL360_INFER_EVALUATE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/metrics.h"
#include "data/source.h"
#include "infer/sequence.h"
#include "nn/model.h"

namespace sal360::infer {

struct EvaluateOptions {
  TemporalInput input = TemporalInput::kPrediction;
  bool both = true;        // also the other of pred/gt, as "model_prev_gt" / "model_prev_pred"
  std::string out_dir;     // created
  std::string checkpoint;  // shown in the report
  bool save_maps = true;
  int gallery = 8;         // frames in the report's gallery, spread over the set
  int max_frames = 0;      // per video; 0 = all
  // Conventions of the metrics (sphere weighting, KL direction, AUC-Borji seed); the
  // pointers are set per frame: InfoGain over the equator baseline, sAUC with the
  // fixations of the same frame id in the other test videos as negatives.
  data::MetricOptions metric;
  bool info_gain = true;
  bool sauc = true;
};

struct EvaluateResult {
  int64_t frames = 0;
  std::vector<std::string> model_names;  // "model" first
  std::map<std::string, double> mean_cc;  // models and baselines
};

// `d.sample` gives the size, the ground truth and the temporal options (interval,
// first frames). Errors name the file or frame.
absl::StatusOr<EvaluateResult> EvaluateTestSplit(nn::SphericalUNet& model, const data::OpenedData& d,
                                                 const EvaluateOptions& options);

}  // namespace sal360::infer

#endif  // SAL360_INFER_EVALUATE_H_

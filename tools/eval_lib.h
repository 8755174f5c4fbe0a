// The scoring behind //tools:eval, as a library so that tests can drive it in-process:
// pair prediction, ground-truth and fixation files (single files or matching
// directories), read them (data/map_file.h), optionally resize the prediction to the
// ground truth, and compute every metric (data/metrics.h).
//
// Directories are walked recursively; only .npy and .png files count (others are
// ignored). A file's key is its path relative to the directory without the extension,
// and without one trailing "_gt", "_pred", "_sal", "_fix" or "_fixations" in the file
// name, so that pred/0001.npy pairs with gt/0001_gt.npy (the dataset's cached ground
// truth). Every ground-truth key needs a prediction (and a fixation map when --fix is a
// directory), otherwise it is an error listing them; predictions without ground truth
// are ignored with a warning. Two files with one key in the same directory are an error.
//
// JSON (printed to stdout by tools:eval):
//   single pair: {"cc": .., "kld": .., "sim": .., "cc_sphere": .., "kld_sphere": ..,
//                 "sim_sphere": .., and with fixations "nss", "auc_judd", "nss_sphere",
//                 "auc_borji", "auc_borji_sphere" (+ "sauc", "info_gain",
//                 "info_gain_sphere" when asked for), "conventions": {...}}
//   Two Salient360! NAME_WxHxN_32b.bin files (N > 1) are N pairs, one per map.
//   directories: {"pairs": [{"name": key, "pred": path, "gt": path, ["fix": path,]
//                 <metrics>}, ...], "mean": {<metric>: mean}, "count": n,
//                 "undefined": {<metric>: frames where it is NaN}, "conventions": {...}}
// Keys follow data::kMetricKeys order; an undefined value (NaN) is null and is left out
// of the means.
//
// Dataset mode (--data=ROOT instead of --gt/--fix): --pred is a directory whose files
// are keyed "<video>/<NNNN>" (e.g. pred/syn003/0017.npy, suffixes stripped as above);
// each is scored against that frame of the dataset: the ground truth G is made at the
// prediction's size (from the gaze points, or from NNNN_gt.npy with
// gt_source = "cache", data/loader.h FrameGroundTruth) and the fixation map from the
// gaze points (ground_truth.h FixationMap), so every metric, nss and auc_judd included,
// is computed. Files whose key is not a frame of the dataset are ignored with a
// warning; how many of the dataset's frames were scored is reported as a warning too.
// Rows carry "name", "pred", "video" and "frame" (no "gt"/"fix" paths).
#ifndef SAL360_TOOLS_EVAL_LIB_H_
#define SAL360_TOOLS_EVAL_LIB_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/dataset.h"
#include "data/metrics.h"
#include "nlohmann/json.hpp"

namespace sal360::tools {

struct EvalOptions {
  std::string pred, gt, fix;  // fix may be empty; a map, or a Salient360! fixation list
  // (.txt/.csv, data/salient360.h) rasterised at the ground truth's size
  double fix_fps = 0;  // frame rate for fixation lists timed in ms (N-map .bin videos)
  std::string data;           // dataset root: replaces gt and fix (dataset mode)
  std::string gt_source = "generate";  // dataset mode: "generate" | "cache"
  double gaze_sigma = 3.14159265358979323846 / 20;  // dataset mode: σ of G
  bool resize = false;        // resize predictions to the ground truth's size
  int64_t max_file_bytes = int64_t{1} << 30;
  int64_t max_files = 1000000;  // per directory walk
  // Conventions and the optional metrics (docs/eval.md): sphere weighting, KL direction,
  // AUC-Borji splits/step/seed (the pointers of MetricOptions are set per pair).
  data::MetricOptions metric;
  // InfoGain's baseline: "none" | "centre" (data::CentrePriorMap) | "equator"
  // (data::LatitudePrior) | a map file (resized to the ground truth's size).
  std::string baseline = "none";
  // sAUC's negatives. Dataset mode: "none" | "other_videos" (the fixations of the same
  // frame id in every other video) | "other_frames" (every other frame of the video).
  // File/directory mode: "none" or a fixation map file used for every pair.
  std::string sauc = "none";
};

// The sphere weighting, KL direction, epsilons, AUC-Borji parameters, baseline and sAUC
// negatives of a run, for every output.
nlohmann::ordered_json EvalConventions(const EvalOptions& options);

struct EvalPair {
  std::string name;            // the key (directories) or the gt file name
  std::string pred, gt, fix;   // paths; fix may be empty
  std::string video;           // dataset mode: the frame scored
  int frame = 0;
  int64_t map_index = 0;       // the map of an N-map Salient360! .bin (pred and gt)
  bool video_map = false;      // one map of an N-map (N > 1) .bin: a fixation list
                                 // gives that frame's fixations, else all of them
};

// Pairs for the options (one pair for single files). `warn` receives non-fatal notes.
// Dataset mode needs the opened dataset of options.data.
absl::StatusOr<std::vector<EvalPair>> MatchEvalPairs(
    const EvalOptions& options, const std::function<void(const std::string&)>& warn,
    const data::Dataset* dataset = nullptr);

// Reads and scores one pair (dataset mode: against `dataset`).
absl::StatusOr<data::MetricSet> ScoreEvalPair(const EvalPair& pair, const EvalOptions& options,
                                              const data::Dataset* dataset = nullptr);

// The whole evaluation as the JSON above. `warn` receives per-pair metric warnings and
// pairing notes; `progress(done, total)` is called after each pair (may be empty).
absl::StatusOr<nlohmann::ordered_json> RunEval(
    const EvalOptions& options, const std::function<void(const std::string&)>& warn,
    const std::function<void(int64_t, int64_t)>& progress = {});

// The metrics of one MetricSet as a JSON object (NaN -> null).
nlohmann::ordered_json MetricsToJson(const data::MetricSet& m);

}  // namespace sal360::tools

#endif  // SAL360_TOOLS_EVAL_LIB_H_

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
//                 "sim_sphere": .., and with fixations "nss", "auc_judd", "nss_sphere"}
//   directories: {"pairs": [{"name": key, "pred": path, "gt": path, ["fix": path,]
//                 <metrics>}, ...], "mean": {<metric>: mean}, "count": n,
//                 "undefined": {<metric>: frames where it is NaN}}
// Keys follow data::kMetricKeys order; an undefined value (NaN) is null and is left out
// of the means.
#ifndef SAL360_TOOLS_EVAL_LIB_H_
#define SAL360_TOOLS_EVAL_LIB_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/metrics.h"
#include "nlohmann/json.hpp"

namespace sal360::tools {

struct EvalOptions {
  std::string pred, gt, fix;  // fix may be empty
  bool resize = false;        // resize predictions to the ground truth's size
  int64_t max_file_bytes = int64_t{1} << 30;
  int64_t max_files = 1000000;  // per directory walk
};

struct EvalPair {
  std::string name;            // the key (directories) or the gt file name
  std::string pred, gt, fix;   // paths; fix may be empty
};

// Pairs for the options (one pair for single files). `warn` receives non-fatal notes.
absl::StatusOr<std::vector<EvalPair>> MatchEvalPairs(
    const EvalOptions& options, const std::function<void(const std::string&)>& warn);

// Reads and scores one pair.
absl::StatusOr<data::MetricSet> ScoreEvalPair(const EvalPair& pair, const EvalOptions& options);

// The whole evaluation as the JSON above. `warn` receives per-pair metric warnings and
// pairing notes; `progress(done, total)` is called after each pair (may be empty).
absl::StatusOr<nlohmann::ordered_json> RunEval(
    const EvalOptions& options, const std::function<void(const std::string&)>& warn,
    const std::function<void(int64_t, int64_t)>& progress = {});

// The metrics of one MetricSet as a JSON object (NaN -> null).
nlohmann::ordered_json MetricsToJson(const data::MetricSet& m);

}  // namespace sal360::tools

#endif  // SAL360_TOOLS_EVAL_LIB_H_

// Validation of a dataset before a long run (the library behind //tools:check_data).
//
// Checks, in this order:
//   1. Dataset::Open: vinfo.pkl readable and well formed, folders == pickle keys
//      (failure here is fatal: nothing else can be checked);
//   2. every frame (NNNN.jpg with a gaze entry) decodes completely (image.h), frame sizes;
//   3. every NNNN_gt.npy present is a well-formed cache (ground_truth.h);
//   4. gaze points in [0,1]² and non-empty (issues from Dataset::Open), viewers per frame;
//   5. every frame with id > prev_interval has a previous map source (gaze entry or cache);
//   6. the split (seed or file) can be made.
// Optionally writes the missing _gt.npy caches (generated from the gaze points).
//
// Report (one JSON object):
//   {"root", "usable", "videos", "frames", "gaze_points",
//    "viewers_per_frame": {"min", "mean", "max"},
//    "frame_sizes": {"WxH": count, ...},
//    "gt_caches": {"present", "written", "sizes": {"WxH": count}},
//    "problems": {"errors", "notes", "by_kind": {kind: count}, "list": [{"severity", "kind",
//                 "path", "message"}, ...] (first max_listed), "listed_all": bool},
//    "split": {"train": [...], "val": [...], "test": [...]},
//    "seconds"}
// "usable" is false when there is any error-severity problem (the loader would fail on
// it, or silently skip it with --skip_bad) or a fatal one ("fatal": message, with the
// other fields possibly missing).
#ifndef SAL360_DATA_CHECK_H_
#define SAL360_DATA_CHECK_H_

#include <cstdint>
#include <functional>
#include <string>

#include "data/ground_truth.h"
#include "data/split.h"
#include "nlohmann/json.hpp"

namespace sal360::data {

struct CheckOptions {
  std::string root;
  std::string split = "seed";  // seed | file
  std::string split_file;      // for split = file
  SeedSplitOptions seed_split;
  int prev_interval = 5;
  int threads = 2;
  int max_listed = 100;         // problems listed in full
  bool write_gt_cache = false;  // write missing NNNN_gt.npy
  int gt_cache_height = 128, gt_cache_width = 256;
  GroundTruthOptions gt_options;
};

// Runs every check; `progress(done, total)` counts frames. Never fails: problems go into
// the report.
nlohmann::ordered_json CheckDataset(
    const CheckOptions& options, const std::function<void(int64_t, int64_t)>& progress = nullptr);

}  // namespace sal360::data

#endif  // SAL360_DATA_CHECK_H_

// Scores saliency maps against ground truth with every metric of data/metrics.h and
// prints JSON to stdout (format: tools/eval_lib.h, docs/eval.md).
//
//   bazel run //tools:eval -- --pred=P.npy --gt=G.npy [--fix=F.png]
//   bazel run //tools:eval -- --pred=preds/ --gt=gts/ --fix=fixations/ --resize
//   bazel run //tools:eval -- --pred=preds/ --data=DATASET_ROOT    # preds/<video>/<NNNN>.npy
//
// Exit status: 0 on success, 1 on bad input (the message on stderr names the file and
// the problem), 2 on bad usage.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "tools/eval_lib.h"
#include "tools/flags.h"
#include "util/progress.h"
#include "util/file.h"

ABSL_FLAG(std::string, pred, "", "Predicted map: .npy ((H,W) or (1,H,W)) or 8/16-bit PNG, or a "
                                 "directory of them");
ABSL_FLAG(std::string, gt, "", "Ground-truth density map(s), same formats (file or directory)");
ABSL_FLAG(std::string, fix, "",
          "Optional fixation map(s): non-zero pixels are fixated (enables nss, auc_judd, "
          "nss_sphere, auc_borji); or Salient360! fixation lists (.txt/.csv, normalised "
          "longitude/latitude; docs/eval.md), rasterised at the ground truth's size");
ABSL_FLAG(double, fix_fps, 0,
          "Frame rate of the video, for fixation lists timed in ms scored against an N-map "
          "NAME_WxHxN_32b.bin (map k covers [k, k+1)/fps seconds)");
ABSL_FLAG(std::string, data, "",
          "Dataset root (vinfo.pkl + video folders): score --pred=DIR/<video>/<NNNN>.npy|.png "
          "against the dataset's frames (ground truth and fixations from the gaze points, at "
          "each prediction's size) instead of --gt/--fix");
ABSL_FLAG(std::string, gt_source, "generate",
          "With --data: generate (ground truth from the gaze points) or cache (NNNN_gt.npy "
          "when present, resized)");
ABSL_FLAG(double, gaze_sigma, 3.14159265358979323846 / 20,
          "With --data: sigma (radians) of the spherical Gaussian of the ground truth");
ABSL_FLAG(bool, resize, false,
          "Resize predictions to the ground truth's size (area average when shrinking, "
          "bilinear when enlarging; longitude wraps) instead of failing on a size mismatch");
ABSL_FLAG(int64_t, max_file_mb, 1024, "Largest map file read, in MiB");
ABSL_FLAG(std::string, baseline, "none",
          "InfoGain's baseline: none | centre | equator | a map file (resized to the ground truth)");
ABSL_FLAG(std::string, sauc, "none",
          "Shuffled AUC's negatives: with --data, other_videos (same frame id in the other videos) | "
          "other_frames (the video's other frames); else a fixation map file; none: no sAUC");
// And //tools:metric_flags: --sphere_weights, --kld, --metric_seed.

int main(int argc, char** argv) {
  sal360::tools::SetToolUsage(
      "Scores saliency maps: --pred=PATH --gt=PATH [--fix=PATH] [--resize], or --pred=DIR "
      "--data=DATASET_ROOT; JSON to stdout.");
  ::sal360::tools::ParseCommandLine(argc, argv);
  sal360::tools::EvalOptions o;
  o.pred = sal360::util::UserPath(absl::GetFlag(FLAGS_pred));
  o.gt = sal360::util::UserPath(absl::GetFlag(FLAGS_gt));
  o.fix = sal360::util::UserPath(absl::GetFlag(FLAGS_fix));
  o.data = sal360::util::UserPath(absl::GetFlag(FLAGS_data));
  o.gt_source = absl::GetFlag(FLAGS_gt_source);
  o.gaze_sigma = absl::GetFlag(FLAGS_gaze_sigma);
  o.resize = absl::GetFlag(FLAGS_resize);
  o.fix_fps = absl::GetFlag(FLAGS_fix_fps);
  if (!(o.fix_fps >= 0) || !std::isfinite(o.fix_fps)) {
    std::fprintf(stderr, "eval: --fix_fps must be >= 0 (0: not given)\n");
    return 2;
  }
  const int64_t mb = absl::GetFlag(FLAGS_max_file_mb);
  if (o.pred.empty() || (o.gt.empty() && o.data.empty()) || mb <= 0 ||
      mb > (int64_t{1} << 20)) {
    std::fprintf(stderr,
                 "eval: --pred and --gt (or --data) are required (and 0 < --max_file_mb <= "
                 "1048576); see --help\n");
    return 2;
  }
  if (!o.data.empty() && (!o.gt.empty() || !o.fix.empty() || o.resize)) {
    std::fprintf(stderr,
                 "eval: --data replaces --gt, --fix and --resize (ground truth and fixations "
                 "come from the gaze points, at each prediction's size); see --help\n");
    return 2;
  }
  if (o.gt_source != "generate" && o.gt_source != "cache") {
    std::fprintf(stderr, "eval: --gt_source must be generate or cache\n");
    return 2;
  }
  o.max_file_bytes = mb << 20;
  if (absl::Status st = sal360::tools::ReadMetricFlags(o.metric); !st.ok()) {
    std::fprintf(stderr, "eval: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  o.baseline = absl::GetFlag(FLAGS_baseline);
  if (o.baseline != "none" && o.baseline != "centre" && o.baseline != "equator") {
    o.baseline = sal360::util::UserPath(o.baseline);
  }
  o.sauc = absl::GetFlag(FLAGS_sauc);
  const bool sauc_mode = o.sauc == "other_videos" || o.sauc == "other_frames";
  if (!o.data.empty() && o.sauc != "none" && !sauc_mode) {
    std::fprintf(stderr, "eval: with --data, --sauc must be none, other_videos or other_frames\n");
    return 2;
  }
  if (o.data.empty() && sauc_mode) {
    std::fprintf(stderr, "eval: --sauc=%s needs --data (else give a fixation map file)\n", o.sauc.c_str());
    return 2;
  }
  if (o.data.empty() && o.sauc != "none") o.sauc = sal360::util::UserPath(o.sauc);
  std::unique_ptr<sal360::util::ProgressLine> bar;
  auto warn = [](const std::string& msg) { std::fprintf(stderr, "eval: warning: %s\n", msg.c_str()); };
  auto progress = [&bar](int64_t done, int64_t total) {
    if (total < 2) return;
    if (!bar) bar = std::make_unique<sal360::util::ProgressLine>("eval", total, "maps");
    bar->Update(done);
    if (done == total) bar->Finish();
  };
  absl::StatusOr<nlohmann::ordered_json> out = sal360::tools::RunEval(o, warn, progress);
  if (!out.ok()) {
    std::fprintf(stderr, "eval: error: %s\n", std::string(out.status().message()).c_str());
    return 1;
  }
  std::printf("%s\n", out->dump(2).c_str());
  return 0;
}

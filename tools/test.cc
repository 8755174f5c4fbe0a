// test: evaluates a checkpoint on the test videos with every metric and baseline.
//
//   bazel run -c opt //tools:test                       # runs/train/best.safetensors on the synthetic test split
//   bazel run -c opt //tools:test -- --checkpoint=run/best.safetensors --data=/data/vr --prev=gt
//
// Each test video is run frame by frame in order. --prev chooses the temporal input:
//   pred  the model's own prediction for frame k - prev_interval (the honest setting for
//         deployment; default). The first frames get the dataset's first-frames map.
//   gt    the ground truth of frame k - prev_interval (the published protocol).
//   none  zeros.
// With --both (default), the other of pred/gt is evaluated too and reported as the
// second model ("model_prev_gt" or "model_prev_pred").
//
// Writes into --out: metrics.json ({"model": {metric: mean}, "baselines": {"uniform",
// "equator", "prev_gt"}, "frames": N, ...}), videos.json, frames.csv, report.html
// (data/report.h), and maps/<video>/NNNN.npy (the model's output, float32 (H, W), the
// network's x10 scale) with maps/<video>/NNNN_overlay.png. Baselines: uniform, equator
// (mean training ground truth), prev_gt (the previous frame's ground truth).
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/baselines.h"
#include "data/ground_truth.h"
#include "data/heatmap.h"
#include "data/loader.h"
#include "data/metrics.h"
#include "data/report.h"
#include "data/source.h"
#include "nn/model.h"
#include "infer/model.h"
#include "infer/evaluate.h"
#include "infer/sequence.h"
#include "tools/flags.h"
#include "util/file.h"
#include "util/npy.h"
#include "util/progress.h"

ABSL_FLAG(std::string, out, "runs/train/test", "Output directory (metrics.json, report.html, maps/)");
ABSL_FLAG(std::string, prev, "pred", "Temporal input: pred (own previous prediction) | gt (published protocol) | none");
ABSL_FLAG(bool, both, true, "Also evaluate the other of pred/gt and report it as a second model");
ABSL_FLAG(std::string, save_maps, "all", "Per-frame .npy maps and PNG overlays: all | none");
ABSL_FLAG(int, gallery, 8, "Frames shown in the report's gallery (spread over the test set)");
ABSL_FLAG(int, max_frames, 0, "Evaluate at most this many frames per video (0: all)");
// And the shared flags: --checkpoint, --device, --height, ... (//tools:infer_flags),
// --data, --split, ..., --prev_interval, --first_frames (//tools:data_flags).

namespace sal360::tools {
namespace {


int Main(int argc, char** argv) {
  SetToolUsage(
      "Evaluates a checkpoint on the test videos with every metric and baseline; writes "
      "metrics.json, report.html and maps into --out. See docs/model.md.");
  ::sal360::tools::ParseCommandLine(argc, argv);
  auto fail = [](const absl::Status& s, int code = 1) {
    std::fprintf(stderr, "test: %s\n", std::string(s.message()).c_str());
    return code;
  };
  absl::StatusOr<infer::TemporalInput> mode = infer::ParseTemporalInput(absl::GetFlag(FLAGS_prev));
  if (!mode.ok()) return fail(mode.status(), 2);
  const std::string save_maps = absl::GetFlag(FLAGS_save_maps);
  if (save_maps != "all" && save_maps != "none") {
    return fail(absl::InvalidArgumentError(absl::StrCat("--save_maps must be all or none, not '", save_maps, "'")), 2);
  }
  if (absl::GetFlag(FLAGS_gallery) < 0 || absl::GetFlag(FLAGS_max_frames) < 0) {
    return fail(absl::InvalidArgumentError("--gallery and --max_frames must be >= 0"), 2);
  }
  data::MetricOptions metric;
  if (absl::Status s = ReadMetricFlags(metric); !s.ok()) return fail(s, 2);
  const infer::InferConfig ic = InferConfigFromFlags();
  data::DataConfig dc = DataConfigFromFlags();
  if (absl::Status s = infer::ValidateInferConfig(ic); !s.ok()) return fail(s, 2);
  if (absl::Status s = data::ValidateDataConfig(dc); !s.ok()) return fail(s, 2);
  absl::StatusOr<nn::Device> device = infer::ParseDeviceAndMath(ic.device, ic.gpu_engine, ic.precision);
  if (!device.ok()) return fail(device.status(), 2);
  absl::StatusOr<infer::LoadedModel> loaded =
      infer::LoadModel(util::UserPath(ic.checkpoint), *device, ic.table_mode, ic.convention);
  if (!loaded.ok()) return fail(loaded.status());
  const std::string& ckpt = loaded->path;
  absl::StatusOr<std::pair<int, int>> size = infer::Resolution(ic, *loaded);
  if (!size.ok()) return fail(size.status(), 2);
  const auto [h, w] = *size;
  // The evaluation runs batches of up to infer::SequenceOptions' default max_batch (8).
  if (absl::Status s = infer::CheckMemory(infer::SequenceOptions{}.max_batch, h, w, loaded->model->config().table_mode,
                                          *device, "--height/--width");
      !s.ok()) {
    return fail(s);
  }
  if (absl::Status s = infer::LoadTablesDir(ic.tables_dir, h, w, loaded->model->config()); !s.ok()) return fail(s);
  absl::StatusOr<data::OpenedData> d = data::OpenData(dc, h, w);
  if (!d.ok()) return fail(d.status());
  infer::EvaluateOptions eo;
  eo.input = *mode;
  eo.both = absl::GetFlag(FLAGS_both);
  eo.out_dir = util::UserPath(absl::GetFlag(FLAGS_out));
  eo.checkpoint = ckpt;
  eo.save_maps = save_maps == "all";
  eo.gallery = absl::GetFlag(FLAGS_gallery);
  eo.max_frames = absl::GetFlag(FLAGS_max_frames);
  eo.metric = metric;
  absl::StatusOr<infer::EvaluateResult> r = infer::EvaluateTestSplit(*loaded->model, *d, eo);
  if (!r.ok()) return fail(r.status());
  const std::string& out_dir = eo.out_dir;
  const std::vector<std::string>& model_names = r->model_names;
  std::string summary = absl::StrFormat("test: %lld frames; CC model %.4f", static_cast<long long>(r->frames),
                                        r->mean_cc.at("model"));
  if (model_names.size() > 1) absl::StrAppendFormat(&summary, ", %s %.4f", model_names[1], r->mean_cc.at(model_names[1]));
  for (const char* b : {data::kBaselineUniform, data::kBaselineEquator, data::kBaselinePrevGt}) {
    absl::StrAppendFormat(&summary, ", %s %.4f", b, r->mean_cc.at(b));
  }
  std::fprintf(stderr, "%s\ntest: wrote %s/metrics.json and %s/report.html\n", summary.c_str(), out_dir.c_str(),
               out_dir.c_str());
  return 0;
}

}  // namespace
}  // namespace sal360::tools

int main(int argc, char** argv) { return sal360::tools::GuardedMain(sal360::tools::Main, argc, argv); }

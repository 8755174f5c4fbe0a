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
#include "absl/strings/match.h"
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


std::vector<float> Bytes01ToFloats(const std::vector<uint8_t>& v) {
  return std::vector<float>(v.begin(), v.end());
}

std::vector<uint8_t> ToRgb8(const std::vector<float>& rgb) {
  std::vector<uint8_t> out(rgb.size());
  for (size_t i = 0; i < rgb.size(); ++i) {
    out[i] = static_cast<uint8_t>(std::clamp(rgb[i] * 255.0f + 0.5f, 0.0f, 255.0f));
  }
  return out;
}

int Main(int argc, char** argv) {
  SetToolUsage(
      "Evaluates a checkpoint on the test videos with every metric and baseline; writes "
      "metrics.json, report.html and maps into --out. See docs/model.md.");
  absl::ParseCommandLine(argc, argv);
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
  const infer::InferConfig ic = InferConfigFromFlags();
  data::DataConfig dc = DataConfigFromFlags();
  if (absl::Status s = infer::ValidateInferConfig(ic); !s.ok()) return fail(s, 2);
  if (absl::Status s = data::ValidateDataConfig(dc); !s.ok()) return fail(s, 2);
  absl::StatusOr<infer::LoadedModel> loaded = infer::LoadModel(ic);
  if (!loaded.ok()) return fail(loaded.status(), absl::IsInvalidArgument(loaded.status()) && absl::StartsWith(loaded.status().message(), "--") ? 2 : 1);
  const std::string& ckpt = loaded->path;
  absl::StatusOr<std::pair<int, int>> size = infer::Resolution(ic, *loaded);
  if (!size.ok()) return fail(size.status(), 2);
  const auto [h, w] = *size;
  if (absl::Status s = infer::LoadTablesDir(ic.tables_dir, h, w, loaded->model->config()); !s.ok()) return fail(s);
  absl::StatusOr<data::OpenedData> d = data::OpenData(dc, h, w);
  if (!d.ok()) return fail(d.status());
  if (d->split.test.empty()) return fail(absl::FailedPreconditionError("the split has no test videos"));
  absl::StatusOr<std::vector<float>> equator = data::EquatorPrior(*d);
  if (!equator.ok()) return fail(equator.status());
  const std::vector<float> uniform = data::UniformMap(h, w);

  const std::string out_dir = util::UserPath(absl::GetFlag(FLAGS_out));
  if (absl::Status s = util::MakeDirs(out_dir); !s.ok()) return fail(s);
  using infer::TemporalInput;
  std::vector<TemporalInput> modes = {*mode};
  std::vector<std::string> model_names = {"model"};
  if (absl::GetFlag(FLAGS_both) && *mode != TemporalInput::kNone) {
    modes.push_back(*mode == TemporalInput::kPrediction ? TemporalInput::kGroundTruth : TemporalInput::kPrediction);
    model_names.push_back(*mode == TemporalInput::kPrediction ? "model_prev_gt" : "model_prev_pred");
  }
  data::ReportConfig rc;
  rc.title = "sal360 test: " + ckpt;
  rc.models = model_names;
  rc.baselines = {data::kBaselineUniform, data::kBaselineEquator, data::kBaselinePrevGt};
  rc.info = {{"checkpoint", ckpt},
             {"dataset", d->root},
             {"test videos", absl::StrCat(d->split.test.size())},
             {"resolution", absl::StrCat(h, "x", w)},
             {"prev", absl::StrCat(infer::TemporalInputName(*mode),
                                   model_names.size() > 1 ? absl::StrCat(" (model), ", infer::TemporalInputName(modes[1]),
                                                                         " (", model_names[1], ")")
                                                          : "")},
             {"prev_interval", absl::StrCat(dc.prev_interval)},
             {"table_mode", sphere::ModeName(loaded->model->config().table_mode)},
             {"convention", sphere::ConventionName(loaded->model->config().convention)}};
  data::ReportWriter report(rc);

  absl::StatusOr<std::vector<data::FrameRef>> all = d->dataset->FramesOf(d->split.test);
  if (!all.ok()) return fail(all.status());
  const int max_frames = absl::GetFlag(FLAGS_max_frames);
  int64_t total = 0;
  for (const std::string& v : d->split.test) {
    const int64_t n = static_cast<int64_t>(d->dataset->frames(v).size());
    total += max_frames > 0 ? std::min<int64_t>(n, max_frames) : n;
  }
  const int gallery = absl::GetFlag(FLAGS_gallery);
  const int64_t gallery_every = gallery > 0 ? std::max<int64_t>(1, total / gallery) : 0;
  util::ProgressLine line("test", total, "frame");
  int64_t done = 0;
  const std::vector<float> first_frames_map =
      data::FirstFramesMap(d->sample.first_frames, h, w, d->sample.gt_options);
  data::SampleOptions so = d->sample;
  so.fixations = true;
  for (const std::string& video : d->split.test) {
    std::vector<data::Sample> samples;
    for (int frame : d->dataset->frames(video)) {
      if (max_frames > 0 && static_cast<int>(samples.size()) >= max_frames) break;
      absl::StatusOr<data::Sample> s = data::LoadSample(*d->dataset, data::FrameRef{video, frame}, so);
      if (!s.ok()) return fail(s.status());
      samples.push_back(*std::move(s));
    }
    // Each temporal input runs the video through the one inference loop.
    std::vector<std::vector<std::vector<float>>> preds(modes.size(), std::vector<std::vector<float>>(samples.size()));
    for (size_t m = 0; m < modes.size(); ++m) {
      infer::SequenceOptions so_m;
      so_m.input = modes[m];
      so_m.interval = dc.prev_interval;
      so_m.first_frames_map = first_frames_map;
      infer::SequenceRunner runner(*loaded->model, h, w, so_m, [&](int64_t index, int, const float* map) {
        preds[m][static_cast<size_t>(index)].assign(map, map + int64_t{h} * w);
        return absl::OkStatus();
      });
      for (const data::Sample& s : samples) {
        if (absl::Status st = runner.Push(s.ref.frame, s.rgb.data(), s.prev.data()); !st.ok()) return fail(st);
      }
      if (absl::Status st = runner.Finish(); !st.ok()) return fail(st);
    }
    const std::string maps_dir = out_dir + "/maps/" + video;
    if (save_maps == "all") {
      if (absl::Status s = util::MakeDirs(maps_dir); !s.ok()) return fail(s);
    }
    for (size_t i = 0; i < samples.size(); ++i) {
      const data::Sample& s = samples[i];
      const std::vector<float> fix = Bytes01ToFloats(s.fixations);
      std::map<std::string, data::MetricSet> scores;
      for (size_t m = 0; m < modes.size(); ++m) {
        scores[model_names[m]] = data::ComputeMetrics(preds[m][i].data(), s.target.data(), fix.data(), h, w);
      }
      scores[data::kBaselineUniform] = data::ComputeMetrics(uniform.data(), s.target.data(), fix.data(), h, w);
      scores[data::kBaselineEquator] = data::ComputeMetrics(equator->data(), s.target.data(), fix.data(), h, w);
      scores[data::kBaselinePrevGt] = data::ComputeMetrics(s.prev.data(), s.target.data(), fix.data(), h, w);
      if (absl::Status st = report.AddFrame(video, s.ref.frame, scores); !st.ok()) return fail(st);
      const std::vector<uint8_t> rgb8 = ToRgb8(s.rgb);
      if (save_maps == "all") {
        const std::string stem = maps_dir + "/" + data::FrameKey(s.ref.frame);
        if (absl::Status st = util::WriteNpy(stem + ".npy", util::NpyArray::FromFloat32({h, w}, preds[0][i]));
            !st.ok()) {
          return fail(st);
        }
        const std::vector<uint8_t> overlay = data::OverlayHeatmap(rgb8.data(), preds[0][i].data(), h, w);
        if (absl::Status st = data::WritePng(stem + "_overlay.png", overlay.data(), h, w, 3); !st.ok()) {
          return fail(st);
        }
      }
      if (gallery_every > 0 && done % gallery_every == 0) {
        const data::MetricSet& caption = scores["model"];
        if (absl::Status st = report.AddGalleryEntry(video, s.ref.frame, rgb8.data(), h, w, s.target.data(),
                                                     preds[0][i].data(), h, w, &caption);
            !st.ok()) {
          return fail(st);
        }
      }
      line.Update(++done);
    }
  }
  line.Finish();
  if (absl::Status s = report.Write(out_dir); !s.ok()) return fail(s);
  std::string summary = absl::StrFormat("test: %lld frames; CC model %.4f", static_cast<long long>(report.num_frames()),
                                        report.Mean("model", "cc"));
  if (model_names.size() > 1) absl::StrAppendFormat(&summary, ", %s %.4f", model_names[1], report.Mean(model_names[1], "cc"));
  for (const char* b : {data::kBaselineUniform, data::kBaselineEquator, data::kBaselinePrevGt}) {
    absl::StrAppendFormat(&summary, ", %s %.4f", b, report.Mean(b, "cc"));
  }
  std::fprintf(stderr, "%s\ntest: wrote %s/metrics.json and %s/report.html\n", summary.c_str(), out_dir.c_str(),
               out_dir.c_str());
  return 0;
}

}  // namespace
}  // namespace sal360::tools

int main(int argc, char** argv) { return sal360::tools::Main(argc, argv); }

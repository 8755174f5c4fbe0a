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
#include "data/split.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "tools/model_lib.h"
#include "util/file.h"
#include "util/npy.h"
#include "util/progress.h"

ABSL_FLAG(std::string, checkpoint, "runs/train/best.safetensors", "Checkpoint (.safetensors) to evaluate");
ABSL_FLAG(std::string, data, "",
          "Dataset root; empty: the synthetic dataset `train` uses by default (generated into the cache if needed)");
ABSL_FLAG(std::string, out, "runs/train/test", "Output directory (metrics.json, report.html, maps/)");
ABSL_FLAG(std::string, prev, "pred", "Temporal input: pred (own previous prediction) | gt (published protocol) | none");
ABSL_FLAG(bool, both, true, "Also evaluate the other of pred/gt and report it as a second model");
ABSL_FLAG(int, height, 0, "Network input height; 0 = the checkpoint's training height (else 240)");
ABSL_FLAG(int, width, 0, "Network input width; 0 = 2 x height");
ABSL_FLAG(std::string, device, "auto", "auto | cpu | cuda");
ABSL_FLAG(std::string, table_mode, "", "nearest | bilinear (default: from the checkpoint)");
ABSL_FLAG(std::string, convention, "", "pixel_centre | seed (default: from the checkpoint)");
ABSL_FLAG(std::string, split, "",
          "seed: the published video selection; file: read --split_file. Default: file when "
          "--split_file is given, else seed");
ABSL_FLAG(std::string, split_file, "", "JSON split file (implies --split=file); its \"test\" list is evaluated");
ABSL_FLAG(int, val_videos, 1, "Validation videos of the training run (excluded from the equator baseline's mean)");
ABSL_FLAG(std::string, gt, "cache", "Ground truth: cache | generate");
ABSL_FLAG(int, prev_interval, 5, "The temporal input of frame k comes from frame k - interval");
ABSL_FLAG(std::string, first_frames, "centre", "Previous map of a video's first frames: centre | zeros");
ABSL_FLAG(std::string, save_maps, "all", "Per-frame .npy maps and PNG overlays: all | none");
ABSL_FLAG(int, gallery, 8, "Frames shown in the report's gallery (spread over the test set)");
ABSL_FLAG(int, max_frames, 0, "Evaluate at most this many frames per video (0: all)");
ABSL_FLAG(std::string, tables_dir, "",
          "Directory of neighbour tables written by gen_coords (tables.json + one .npy per level) "
          "to load instead of generating them; must match the model's size, table mode and convention");

namespace sal360::tools {
namespace {

using nn::Shape;
using nn::Tensor;

enum class PrevMode { kPred, kGt, kNone };

const char* PrevModeName(PrevMode m) { return m == PrevMode::kPred ? "pred" : m == PrevMode::kGt ? "gt" : "none"; }

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

// Runs one video in order with the given temporal input; returns the model's outputs
// (network scale), one (H, W) map per sample.
absl::StatusOr<std::vector<std::vector<float>>> RunVideo(nn::SphericalUNet& model, const std::vector<data::Sample>& samples,
                                                         PrevMode mode, int interval, const std::vector<float>& first_prev,
                                                         int h, int w) {
  const int64_t pixels = int64_t{h} * w;
  std::vector<std::vector<float>> out(samples.size());
  std::map<int, size_t> index_of;  // frame id -> position
  for (size_t i = 0; i < samples.size(); ++i) index_of[samples[i].ref.frame] = i;
  // Chunks of consecutive samples whose previous frames all precede the chunk run as
  // one batch (in pred mode the feedback makes later frames wait for earlier ones).
  size_t i = 0;
  while (i < samples.size()) {
    size_t j = i + 1;
    while (j < samples.size() && j - i < 8 &&
           (mode != PrevMode::kPred || samples[j].ref.frame - interval < samples[i].ref.frame)) {
      ++j;
    }
    const int n = static_cast<int>(j - i);
    std::vector<float> input(static_cast<size_t>(n * pixels * 4));
    for (int k = 0; k < n; ++k) {
      const data::Sample& s = samples[i + k];
      std::vector<float> prev(static_cast<size_t>(pixels), 0.0f);
      if (mode == PrevMode::kGt) {
        for (int64_t p = 0; p < pixels; ++p) prev[p] = s.prev[p] * kMapScale;
      } else if (mode == PrevMode::kPred) {
        const int prev_id = s.ref.frame - interval;
        const auto it = index_of.find(prev_id);
        if (prev_id >= 1 && it != index_of.end() && it->second < i) {
          prev = out[it->second];  // already in the network scale
        } else {
          // The dataset's first-frames map (or the frame before was not evaluated).
          for (int64_t p = 0; p < pixels; ++p) prev[p] = first_prev[p] * kMapScale;
        }
      }
      PackInput(s.rgb.data(), prev.data(), h, w, input.data() + k * pixels * 4);
    }
    const Tensor x = Tensor::FromVector(Shape{n, h, w, 4}, input, model.device());
    const std::vector<float> y = model.Forward(x, false).ToVector();
    for (int k = 0; k < n; ++k) out[i + k].assign(y.begin() + k * pixels, y.begin() + (k + 1) * pixels);
    i = j;
  }
  return out;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Evaluates a checkpoint on the test videos with every metric and baseline; writes "
      "metrics.json, report.html and maps into --out. See docs/model.md.");
  absl::ParseCommandLine(argc, argv);
  auto fail = [](const absl::Status& s, int code = 1) {
    std::fprintf(stderr, "test: %s\n", std::string(s.message()).c_str());
    return code;
  };
  const std::string prev_flag = absl::GetFlag(FLAGS_prev);
  PrevMode mode;
  if (prev_flag == "pred") mode = PrevMode::kPred;
  else if (prev_flag == "gt") mode = PrevMode::kGt;
  else if (prev_flag == "none") mode = PrevMode::kNone;
  else return fail(absl::InvalidArgumentError(absl::StrCat("--prev must be pred, gt or none, not '", prev_flag, "'")), 2);
  const std::string save_maps = absl::GetFlag(FLAGS_save_maps);
  if (save_maps != "all" && save_maps != "none") {
    return fail(absl::InvalidArgumentError(absl::StrCat("--save_maps must be all or none, not '", save_maps, "'")), 2);
  }
  if (absl::GetFlag(FLAGS_gallery) < 0 || absl::GetFlag(FLAGS_max_frames) < 0) {
    return fail(absl::InvalidArgumentError("--gallery and --max_frames must be >= 0"), 2);
  }
  // --split_file alone selects the file split; --split=seed with a file is a contradiction.
  absl::StatusOr<std::string> split_mode =
      data::ResolveSplitMode(absl::GetFlag(FLAGS_split), absl::GetFlag(FLAGS_split_file));
  if (!split_mode.ok()) return fail(split_mode.status(), 2);
  absl::StatusOr<nn::Device> device = DeviceFromFlag(absl::GetFlag(FLAGS_device));
  if (!device.ok()) return fail(device.status(), 2);
  const std::string ckpt = UserPath(absl::GetFlag(FLAGS_checkpoint));
  absl::StatusOr<LoadedModel> loaded =
      LoadModelForInference(ckpt, *device, absl::GetFlag(FLAGS_table_mode), absl::GetFlag(FLAGS_convention));
  if (!loaded.ok()) return fail(loaded.status());
  int h = absl::GetFlag(FLAGS_height);
  if (h == 0) h = TrainingHeight(loaded->file).value_or(240);
  int w = absl::GetFlag(FLAGS_width);
  if (w == 0) w = 2 * h;
  if (const std::string bad = nn::SphericalUNet::CheckInputShape(Shape{1, h, w, 4}); !bad.empty()) {
    return fail(absl::InvalidArgumentError(absl::StrCat("--height/--width: ", bad)), 2);
  }
  if (absl::Status s = LoadTablesDir(absl::GetFlag(FLAGS_tables_dir), h, w, loaded->model->config()); !s.ok()) {
    return fail(s);
  }
  DataConfig dc;
  dc.data = absl::GetFlag(FLAGS_data);
  dc.split = *split_mode;
  dc.split_file = absl::GetFlag(FLAGS_split_file);
  dc.val_videos = absl::GetFlag(FLAGS_val_videos);
  dc.gt = absl::GetFlag(FLAGS_gt);
  dc.prev_interval = absl::GetFlag(FLAGS_prev_interval);
  dc.first_frames = absl::GetFlag(FLAGS_first_frames);
  absl::StatusOr<OpenedData> d = OpenData(dc, h, w);
  if (!d.ok()) return fail(d.status());
  if (d->split.test.empty()) return fail(absl::FailedPreconditionError("the split has no test videos"));
  absl::StatusOr<std::vector<float>> equator = EquatorPrior(*d);
  if (!equator.ok()) return fail(equator.status());
  const std::vector<float> uniform = data::UniformMap(h, w);
  const std::vector<float> first_prev =
      d->sample.first_frames == data::FirstFramesPolicy::kCentrePrior
          ? data::CentrePriorMap(h, w, d->sample.gt_options)
          : std::vector<float>(static_cast<size_t>(h) * w, 0.0f);

  const std::string out_dir = UserPath(absl::GetFlag(FLAGS_out));
  if (absl::Status s = util::MakeDirs(out_dir); !s.ok()) return fail(s);
  std::vector<PrevMode> modes = {mode};
  std::vector<std::string> model_names = {"model"};
  if (absl::GetFlag(FLAGS_both) && mode != PrevMode::kNone) {
    modes.push_back(mode == PrevMode::kPred ? PrevMode::kGt : PrevMode::kPred);
    model_names.push_back(mode == PrevMode::kPred ? "model_prev_gt" : "model_prev_pred");
  }
  data::ReportConfig rc;
  rc.title = "sal360 test: " + ckpt;
  rc.models = model_names;
  rc.baselines = {data::kBaselineUniform, data::kBaselineEquator, data::kBaselinePrevGt};
  rc.info = {{"checkpoint", ckpt},
             {"dataset", d->root},
             {"test videos", absl::StrCat(d->split.test.size())},
             {"resolution", absl::StrCat(h, "x", w)},
             {"prev", absl::StrCat(PrevModeName(mode), model_names.size() > 1 ? absl::StrCat(" (model), ", PrevModeName(modes[1]), " (", model_names[1], ")") : "")},
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
    std::vector<std::vector<std::vector<float>>> preds;
    for (PrevMode m : modes) {
      absl::StatusOr<std::vector<std::vector<float>>> p =
          RunVideo(*loaded->model, samples, m, dc.prev_interval, first_prev, h, w);
      if (!p.ok()) return fail(p.status());
      preds.push_back(*std::move(p));
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

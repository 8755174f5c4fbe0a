#include "infer/evaluate.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/baselines.h"
#include "data/ground_truth.h"
#include "data/heatmap.h"
#include "data/image.h"
#include "data/metrics.h"
#include "data/report.h"
#include "infer/sequence.h"
#include "sphere/tables.h"
#include "util/file.h"
#include "util/npy.h"
#include "util/progress.h"

namespace sal360::infer {
namespace {

std::vector<float> Bytes01ToFloats(const std::vector<uint8_t>& v) { return std::vector<float>(v.begin(), v.end()); }

std::vector<uint8_t> ToRgb8(const std::vector<float>& rgb) {
  std::vector<uint8_t> out(rgb.size());
  for (size_t i = 0; i < rgb.size(); ++i) {
    out[i] = static_cast<uint8_t>(std::clamp(rgb[i] * 255.0f + 0.5f, 0.0f, 255.0f));
  }
  return out;
}

}  // namespace

absl::StatusOr<EvaluateResult> EvaluateTestSplit(nn::SphericalUNet& model, const data::OpenedData& d,
                                                 const EvaluateOptions& options) {
  const int h = d.sample.height, w = d.sample.width;
  if (d.split.test.empty()) return absl::FailedPreconditionError("the split has no test videos");
  absl::StatusOr<std::vector<float>> equator = data::EquatorPrior(d);
  if (!equator.ok()) return equator.status();
  const std::vector<float> uniform = data::UniformMap(h, w);

  const std::string& out_dir = options.out_dir;
  if (absl::Status s = util::MakeDirs(out_dir); !s.ok()) return s;
  const TemporalInput mode = options.input;
  std::vector<TemporalInput> modes = {mode};
  std::vector<std::string> model_names = {"model"};
  if (options.both && mode != TemporalInput::kNone) {
    modes.push_back(mode == TemporalInput::kPrediction ? TemporalInput::kGroundTruth : TemporalInput::kPrediction);
    model_names.push_back(mode == TemporalInput::kPrediction ? "model_prev_gt" : "model_prev_pred");
  }
  data::ReportConfig rc;
  rc.title = "sal360 test: " + options.checkpoint;
  rc.models = model_names;
  rc.baselines = {data::kBaselineUniform, data::kBaselineEquator, data::kBaselinePrevGt};
  rc.info = {{"checkpoint", options.checkpoint},
             {"dataset", d.root},
             {"test videos", absl::StrCat(d.split.test.size())},
             {"resolution", absl::StrCat(h, "x", w)},
             {"prev", absl::StrCat(TemporalInputName(mode),
                                   model_names.size() > 1 ? absl::StrCat(" (model), ", TemporalInputName(modes[1]),
                                                                         " (", model_names[1], ")")
                                                          : "")},
             {"prev_interval", absl::StrCat(d.sample.prev_interval)},
             {"table_mode", sphere::ModeName(model.config().table_mode)},
             {"convention", sphere::ConventionName(model.config().convention)}};
  for (const auto& [k, v] : data::MetricConventions(options.metric)) rc.info.emplace_back("metrics: " + k, v);
  rc.info.emplace_back("metrics: info_gain baseline", options.info_gain ? "equator (the mean training map)" : "off");
  rc.info.emplace_back("metrics: sauc negatives",
                       options.sauc ? "fixations of the same frame id in the other test videos" : "off");
  const std::vector<double> equator_d(equator->begin(), equator->end());
  data::ReportWriter report(rc);

  absl::StatusOr<std::vector<data::FrameRef>> all = d.dataset->FramesOf(d.split.test);
  if (!all.ok()) return all.status();
  const int max_frames = options.max_frames;
  int64_t total = 0;
  for (const std::string& v : d.split.test) {
    const int64_t n = static_cast<int64_t>(d.dataset->frames(v).size());
    total += max_frames > 0 ? std::min<int64_t>(n, max_frames) : n;
  }
  const int gallery = options.gallery;
  const int64_t gallery_every = gallery > 0 ? std::max<int64_t>(1, total / gallery) : 0;
  util::ProgressLine line("test", total, "frame");
  int64_t done = 0;
  const std::vector<float> first_frames_map =
      data::FirstFramesMap(d.sample.first_frames, h, w, d.sample.gt_options);
  data::SampleOptions so = d.sample;
  so.fixations = true;
  for (const std::string& video : d.split.test) {
    std::vector<data::Sample> samples;
    for (int frame : d.dataset->frames(video)) {
      if (max_frames > 0 && static_cast<int>(samples.size()) >= max_frames) break;
      absl::StatusOr<data::Sample> s = data::LoadSample(*d.dataset, data::FrameRef{video, frame}, so);
      if (!s.ok()) return s.status();
      samples.push_back(*std::move(s));
    }
    // Each temporal input runs the video through the one inference loop.
    std::vector<std::vector<std::vector<float>>> preds(modes.size(), std::vector<std::vector<float>>(samples.size()));
    for (size_t m = 0; m < modes.size(); ++m) {
      SequenceOptions so_m;
      so_m.input = modes[m];
      so_m.interval = d.sample.prev_interval;
      so_m.first_frames_map = first_frames_map;
      SequenceRunner runner(model, h, w, so_m, [&](int64_t index, int, const float* map) {
        preds[m][static_cast<size_t>(index)].assign(map, map + int64_t{h} * w);
        return absl::OkStatus();
      });
      for (const data::Sample& s : samples) {
        if (absl::Status st = runner.Push(s.ref.frame, s.rgb.data(), s.prev.data()); !st.ok()) return st;
      }
      if (absl::Status st = runner.Finish(); !st.ok()) return st;
    }
    const std::string maps_dir = out_dir + "/maps/" + video;
    if (options.save_maps) {
      if (absl::Status s = util::MakeDirs(maps_dir); !s.ok()) return s;
    }
    for (size_t i = 0; i < samples.size(); ++i) {
      const data::Sample& s = samples[i];
      const std::vector<float> fix = Bytes01ToFloats(s.fixations);
      data::MetricOptions mo = options.metric;
      std::vector<double> other;
      if (options.sauc) {
        std::vector<data::GazePoint> gaze;
        for (const std::string& v : d.split.test) {
          if (v == video) continue;
          if (const auto* g = d.dataset->gaze(v, s.ref.frame)) gaze.insert(gaze.end(), g->begin(), g->end());
        }
        const std::vector<uint8_t> o8 = data::FixationMap(gaze, h, w);
        other.assign(o8.begin(), o8.end());
        mo.other_fixations = other.data();
      }
      if (options.info_gain) mo.baseline = equator_d.data();
      std::map<std::string, data::MetricSet> scores;
      for (size_t m = 0; m < modes.size(); ++m) {
        scores[model_names[m]] = data::ComputeMetrics(preds[m][i].data(), s.target.data(), fix.data(), h, w, mo);
      }
      scores[data::kBaselineUniform] = data::ComputeMetrics(uniform.data(), s.target.data(), fix.data(), h, w, mo);
      scores[data::kBaselineEquator] = data::ComputeMetrics(equator->data(), s.target.data(), fix.data(), h, w, mo);
      scores[data::kBaselinePrevGt] = data::ComputeMetrics(s.prev.data(), s.target.data(), fix.data(), h, w, mo);
      if (absl::Status st = report.AddFrame(video, s.ref.frame, scores); !st.ok()) return st;
      const std::vector<uint8_t> rgb8 = ToRgb8(s.rgb);
      if (options.save_maps) {
        const std::string stem = maps_dir + "/" + data::FrameKey(s.ref.frame);
        if (absl::Status st = util::WriteNpy(stem + ".npy", util::NpyArray::FromFloat32({h, w}, preds[0][i]));
            !st.ok()) {
          return st;
        }
        const std::vector<uint8_t> overlay = data::OverlayHeatmap(rgb8.data(), preds[0][i].data(), h, w);
        if (absl::Status st = data::WritePng(stem + "_overlay.png", overlay.data(), h, w, 3); !st.ok()) {
          return st;
        }
      }
      if (gallery_every > 0 && done % gallery_every == 0) {
        const data::MetricSet& caption = scores["model"];
        if (absl::Status st = report.AddGalleryEntry(video, s.ref.frame, rgb8.data(), h, w, s.target.data(),
                                                     preds[0][i].data(), h, w, &caption);
            !st.ok()) {
          return st;
        }
      }
      line.Update(++done);
    }
  }
  line.Finish();
  if (absl::Status s = report.Write(out_dir); !s.ok()) return s;
  EvaluateResult result;
  result.frames = report.num_frames();
  result.model_names = model_names;
  for (const std::string& m : model_names) result.mean_cc[m] = report.Mean(m, "cc");
  for (const char* b : {data::kBaselineUniform, data::kBaselineEquator, data::kBaselinePrevGt}) {
    result.mean_cc[b] = report.Mean(b, "cc");
  }
  return result;
}

}  // namespace sal360::infer

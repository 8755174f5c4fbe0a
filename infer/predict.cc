#include "infer/predict.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <chrono>
#include <cmath>
#include <deque>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "data/heatmap.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/salient360.h"
#include "data/viewer.h"
#include "infer/sequence.h"
#include "nlohmann/json.hpp"
#include "util/file.h"
#include "util/npy.h"
#include "util/progress.h"

namespace sal360::infer {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Equirectangular frames are 2:1; 1% slack for sizes like 3840x1916.
absl::Status CheckAspect(const std::string& name, int h, int w, bool stretch) {
  if (stretch || std::abs(w - 2.0 * h) <= 0.01 * w) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(name, ": frames are ", w, "x", h,
                                                 ", not 2:1 equirectangular; pass --stretch to resize them anyway"));
}

// The overlay video's frame size: the input's, scaled down to max_width, both even.
std::pair<int, int> OverlaySize(int h, int w, int max_width) {
  int ow = std::min(w, std::max(2, max_width));
  int oh = static_cast<int>(std::lround(static_cast<double>(h) * ow / w));
  ow -= ow % 2;
  oh -= oh % 2;
  return {std::max(oh, 2), std::max(ow, 2)};
}

struct Pending {
  data::Image picture;  // at the overlay's size; empty without an overlay
  data::Image viewer;   // for the report's viewer; empty when this frame is not in it
  std::string stem;
  int64_t source_index = 0, pts = 0;
  double time_s = 0;
};

// One run's outputs and the loop around SequenceRunner; the video and image paths feed it.
class Pipeline {
 public:
  Pipeline(const PredictRun& run, std::string out_dir, std::string name, const data::VideoInfo* video,
           int64_t total_estimate, PredictStats* stats)
      : run_(run),
        out_dir_(std::move(out_dir)),
        name_(std::move(name)),
        video_(video),
        stats_(stats),
        pixels_(int64_t{run.height} * run.width),
        total_estimate_(total_estimate) {}

  absl::Status Open() {
    if (absl::Status s = util::MakeDirs(out_dir_); !s.ok()) return s;
    absl::StatusOr<data::SampleOptions> sample = data::TemporalSampleOptions(run_.temporal, run_.height, run_.width);
    if (!sample.ok()) return sample.status();
    SequenceOptions so;
    so.input = TemporalInput::kPrediction;
    so.interval = run_.temporal.prev_interval;
    so.first_frames_map = data::FirstFramesMap(sample->first_frames, run_.height, run_.width, sample->gt_options);
    so.max_batch = run_.batch;
    runner_ = std::make_unique<SequenceRunner>(*run_.model, run_.height, run_.width, so,
                                               [this](int64_t k, int, const float* map) { return Output(k, map); });
    absl::StatusOr<util::AtomicFile> csv = util::AtomicFile::Create(out_dir_ + "/frames.csv");
    if (!csv.ok()) return csv.status();
    csv_ = std::make_unique<util::AtomicFile>(*std::move(csv));
    if (absl::Status s = csv_->Append("index,source_index,pts,time_s,stem\n"); !s.ok()) return s;
    if (run_.outputs.salient360) {
      absl::StatusOr<data::Salient360Writer> bin =
          data::Salient360Writer::Create(out_dir_, name_, run_.height, run_.width);
      if (!bin.ok()) return bin.status();
      bin_ = std::make_unique<data::Salient360Writer>(*std::move(bin));
    }
    if (run_.outputs.viewer_frames > 0) {
      viewer_ = std::make_unique<data::ViewerWriter>(out_dir_);
      // Evenly spaced over the input when its length is known, else the first frames.
      viewer_stride_ = total_estimate_ > 0
                           ? std::max<int64_t>(1, (total_estimate_ + run_.outputs.viewer_frames - 1) /
                                                      run_.outputs.viewer_frames)
                           : 1;
    }
    if (run_.progress) line_ = std::make_unique<util::ProgressLine>("predict", total_estimate_, "frame");
    start_ = Clock::now();
    return absl::OkStatus();
  }

  // One input frame (RGB, its own size); decode time is the caller's.
  absl::Status Push(const data::Image& image, std::string stem, int64_t source_index, int64_t pts, double time_s) {
    const auto t0 = Clock::now();
    const std::vector<float> rgb = data::ResizeToFloat(image, run_.height, run_.width);
    Pending p;
    p.stem = std::move(stem);
    p.source_index = source_index;
    p.pts = pts;
    p.time_s = time_s;
    if (run_.outputs.overlay != Overlay::kNone) {
      if (video_ != nullptr) {
        const auto [oh, ow] = OverlaySize(image.height, image.width, run_.outputs.overlay_max_width);
        p.picture = (oh == image.height && ow == image.width) ? image : data::ResizeImage(image, oh, ow);
      } else {
        p.picture = image;
      }
    }
    if (viewer_ != nullptr && pushed_ % viewer_stride_ == 0 && viewer_picked_ < run_.outputs.viewer_frames) {
      const int vw = std::min(image.width, data::ViewerOptions{}.max_width);
      const int vh = std::max(1, static_cast<int>(std::lround(double(image.height) * vw / image.width)));
      p.viewer = vw == image.width ? image : data::ResizeImage(image, vh, vw);
      ++viewer_picked_;
    }
    pending_.push_back(std::move(p));
    const auto t1 = Clock::now();
    stats_->decode_s += Seconds(t0, t1);
    const double write_before = stats_->write_s;
    absl::Status s = runner_->Push(static_cast<int>(pushed_) + 1, rgb.data());
    ++pushed_;
    stats_->infer_s += Seconds(t1, Clock::now()) - (stats_->write_s - write_before);
    return s;
  }

  // Runs what is pending and closes the outputs (also after an input error, so that the
  // frames before it are kept). `error` goes into summary.json.
  absl::Status Finish(const absl::Status& error) {
    absl::Status s = absl::OkStatus();
    if (runner_ != nullptr) {
      const auto t0 = Clock::now();
      const double write_before = stats_->write_s;
      s = runner_->Finish();
      stats_->infer_s += Seconds(t0, Clock::now()) - (stats_->write_s - write_before);
    }
    if (s.ok() && writer_ != nullptr) {
      s = writer_->Close();
      if (s.ok()) stats_->files.push_back(out_dir_ + "/overlay.mp4");
    }
    if (s.ok() && bin_ != nullptr) {
      absl::StatusOr<std::string> path = bin_->Commit();
      s = path.status();
      if (path.ok()) stats_->files.push_back(*path);
    }
    if (s.ok() && csv_ != nullptr) {
      s = csv_->Commit();
      if (s.ok()) stats_->files.push_back(out_dir_ + "/frames.csv");
    }
    stats_->total_s = Seconds(start_, Clock::now());
    if (line_ != nullptr) line_->Finish(Rates());
    if (s.ok() && viewer_ != nullptr && viewer_->frames() > 0) {
      std::vector<std::pair<std::string, std::string>> facts = {
          {"input", video_ != nullptr ? video_->path : name_},
          {"maps", absl::StrCat(stats_->frames, " at ", run_.height, "x", run_.width)},
          {"in the viewer", absl::StrCat(viewer_->frames(), viewer_stride_ > 1
                                                                ? absl::StrCat(" (every ", viewer_stride_, ")")
                                                                : std::string())}};
      if (!error.ok()) facts.push_back({"stopped", std::string(error.message())});
      s = util::WriteFileAtomically(out_dir_ + "/report.html",
                                    viewer_->Page(absl::StrCat("sal360 predict: ", name_), facts));
      if (s.ok()) stats_->files.push_back(out_dir_ + "/report.html");
    }
    if (s.ok()) s = WriteSummary(error);
    return s;
  }

  const std::string& out_dir() const { return out_dir_; }

 private:
  std::string Rates() const {
    const double t = std::max(1e-9, stats_->decode_s + stats_->infer_s + stats_->write_s);
    return absl::StrFormat("decode %.0f%% infer %.0f%% write %.0f%%", 100 * stats_->decode_s / t,
                           100 * stats_->infer_s / t, 100 * stats_->write_s / t);
  }

  absl::Status Output(int64_t k, const float* map) {
    const auto t0 = Clock::now();
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    const std::string base = out_dir_ + "/" + p.stem;
    const int h = run_.height, w = run_.width;
    if (run_.outputs.npy) {
      const std::vector<float> y(map, map + pixels_);
      if (absl::Status s = util::WriteNpy(base + ".npy", util::NpyArray::FromFloat32({h, w}, y)); !s.ok()) return s;
    }
    if (run_.outputs.png) {
      const std::vector<uint16_t> g = MapToGray16(map, pixels_);
      if (absl::Status s = data::WriteGray16Png(base + "_map.png", g.data(), h, w); !s.ok()) return s;
    }
    if (bin_ != nullptr) {
      const std::vector<float> d = MapToDistribution(map, pixels_);
      if (absl::Status s = bin_->Append(d.data()); !s.ok()) return s;
    }
    if (run_.outputs.overlay != Overlay::kNone) {
      const data::Image& pic = p.picture;
      const std::vector<float> full = data::ResizeFloat(map, h, w, 1, pic.height, pic.width);
      std::vector<uint8_t> rgb;
      int out_w = pic.width;
      if (run_.outputs.overlay == Overlay::kBlend) {
        rgb = data::OverlayHeatmap(pic.pixels.data(), full.data(), pic.height, pic.width);
      } else {  // side by side: the frame, then the heatmap
        const std::vector<uint8_t> heat = data::HeatmapRgb(full.data(), pic.height, pic.width);
        out_w = 2 * pic.width;
        rgb.resize(static_cast<size_t>(pic.height) * out_w * 3);
        const size_t row = static_cast<size_t>(pic.width) * 3;
        for (int y = 0; y < pic.height; ++y) {
          std::copy_n(pic.pixels.data() + y * row, row, rgb.data() + y * 2 * row);
          std::copy_n(heat.data() + y * row, row, rgb.data() + y * 2 * row + row);
        }
      }
      if (video_ != nullptr) {
        if (writer_ == nullptr) {
          data::VideoWriterOptions o;
          o.width = out_w;
          o.height = pic.height;
          o.time_base = video_->time_base;
          o.frame_rate = video_->frame_rate.num > 0 ? video_->frame_rate : data::Rational{25, 1};
          if (run_.selection.every > 1) o.frame_rate.den *= run_.selection.every;
          o.codec = run_.outputs.codec;
          absl::StatusOr<std::unique_ptr<data::VideoWriter>> wr = data::VideoWriter::Open(out_dir_ + "/overlay.mp4", o);
          if (!wr.ok()) return wr.status();
          writer_ = *std::move(wr);
          stats_->encoder = writer_->encoder_name();
          first_pts_ = p.pts;
        }
        if (absl::Status s = writer_->Write(rgb.data(), p.pts - first_pts_); !s.ok()) return s;
      } else {
        if (absl::Status s = data::WritePng(base + "_overlay.png", rgb.data(), pic.height, out_w, 3); !s.ok()) {
          return s;
        }
      }
    }
    if (!p.viewer.pixels.empty()) {
      const std::string label = video_ != nullptr ? absl::StrFormat("%s (%.2f s)", p.stem, p.time_s) : p.stem;
      if (absl::Status s = viewer_->AddFrame(label, p.viewer.pixels.data(), p.viewer.height, p.viewer.width, nullptr,
                                             map, h, w);
          !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = csv_->Append(absl::StrFormat("%d,%d,%d,%.6f,%s\n", k, p.source_index, p.pts, p.time_s, p.stem));
        !s.ok()) {
      return s;
    }
    ++stats_->frames;
    stats_->write_s += Seconds(t0, Clock::now());
    if (line_ != nullptr) line_->Update(stats_->frames, Rates());
    return absl::OkStatus();
  }

  absl::Status WriteSummary(const absl::Status& error) {
    nlohmann::ordered_json j;
    j["input"] = name_;
    if (video_ != nullptr) {
      j["video"] = {{"path", video_->path},
                    {"container", video_->container},
                    {"codec", video_->codec},
                    {"width", video_->width},
                    {"height", video_->height},
                    {"frame_rate", video_->frame_rate.value()},
                    {"frames_listed", video_->frames},
                    {"duration_s", video_->duration_s}};
      j["selection"] = {{"every", run_.selection.every},
                        {"start_s", run_.selection.start_s},
                        {"duration_s", run_.selection.duration_s}};
    }
    j["network_size"] = {run_.height, run_.width};
    j["batch"] = run_.batch;
    j["prev_interval"] = run_.temporal.prev_interval;
    j["first_frames"] = run_.temporal.first_frames;
    j["frames"] = stats_->frames;
    j["frames_decoded"] = stats_->frames_decoded;
    j["seconds"] = {{"decode", stats_->decode_s},
                    {"infer", stats_->infer_s},
                    {"write", stats_->write_s},
                    {"total", stats_->total_s}};
    j["fps"] = stats_->total_s > 0 ? stats_->frames / stats_->total_s : 0.0;
    j["overlay_encoder"] = stats_->encoder;
    j["files"] = stats_->files;
    j["complete"] = error.ok();
    if (!error.ok()) j["error"] = std::string(error.message());
    return util::WriteFileAtomically(out_dir_ + "/summary.json", j.dump(2) + "\n");
  }

  const PredictRun& run_;
  const std::string out_dir_, name_;
  const data::VideoInfo* video_;
  PredictStats* stats_;
  const int64_t pixels_;
  const int64_t total_estimate_;
  std::unique_ptr<SequenceRunner> runner_;
  std::unique_ptr<util::AtomicFile> csv_;
  std::unique_ptr<data::Salient360Writer> bin_;
  std::unique_ptr<data::ViewerWriter> viewer_;
  int64_t viewer_stride_ = 1, viewer_picked_ = 0;
  std::unique_ptr<data::VideoWriter> writer_;
  std::unique_ptr<util::ProgressLine> line_;
  std::deque<Pending> pending_;
  int64_t pushed_ = 0;
  int64_t first_pts_ = 0;
  Clock::time_point start_;
};

absl::Status CheckRun(const PredictRun& run) {
  if (run.model == nullptr) return absl::InvalidArgumentError("predict: no model");
  if (run.batch < 1) return absl::InvalidArgumentError("--batch must be at least 1");
  if (run.selection.every < 1) return absl::InvalidArgumentError("--every must be at least 1");
  if (!(run.selection.start_s >= 0) || !std::isfinite(run.selection.start_s)) {
    return absl::InvalidArgumentError("--start must be a finite number of seconds >= 0");
  }
  if (!std::isfinite(run.selection.duration_s) || run.selection.duration_s == 0) {
    return absl::InvalidArgumentError("--duration must be > 0 seconds (or negative for the whole video)");
  }
  if (run.outputs.overlay_max_width < 2) return absl::InvalidArgumentError("--overlay_max_width must be >= 2");
  return absl::OkStatus();
}

std::string Stem(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  const size_t dot = base.find_last_of('.');
  return dot == std::string::npos ? base : base.substr(0, dot);
}

}  // namespace

absl::StatusOr<Overlay> ParseOverlay(const std::string& value) {
  if (value == "blend") return Overlay::kBlend;
  if (value == "side_by_side") return Overlay::kSideBySide;
  if (value == "none") return Overlay::kNone;
  return absl::InvalidArgumentError(absl::StrCat("--overlay must be blend, side_by_side or none, not '", value, "'"));
}

absl::Status ParseMaps(const std::string& value, PredictOutputs* outputs) {
  outputs->npy = outputs->png = false;
  if (value == "none") return absl::OkStatus();
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    if (part == "npy") {
      outputs->npy = true;
    } else if (part == "png") {
      outputs->png = true;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--maps must be npy, png, npy,png or none, not '", value, "'"));
    }
  }
  return absl::OkStatus();
}

std::vector<uint16_t> MapToGray16(const float* map, int64_t pixels) {
  float mx = 0;
  for (int64_t p = 0; p < pixels; ++p) {
    if (std::isfinite(map[p])) mx = std::max(mx, map[p]);
  }
  std::vector<uint16_t> g(static_cast<size_t>(pixels), 0);
  if (mx <= 0) return g;
  for (int64_t p = 0; p < pixels; ++p) {
    const double v = std::isfinite(map[p]) ? std::max(0.0f, map[p]) / static_cast<double>(mx) : 0.0;
    g[p] = static_cast<uint16_t>(std::lround(v * 65535.0));
  }
  return g;
}

std::vector<float> MapToDistribution(const float* map, int64_t pixels) {
  double sum = 0;
  for (int64_t p = 0; p < pixels; ++p) {
    if (std::isfinite(map[p]) && map[p] > 0) sum += map[p];
  }
  std::vector<float> d(static_cast<size_t>(pixels), 0.0f);
  if (sum <= 0) return d;  // nothing salient: all zeros (the benchmark tools treat it as constant)
  for (int64_t p = 0; p < pixels; ++p) {
    if (std::isfinite(map[p]) && map[p] > 0) d[p] = static_cast<float>(map[p] / sum);
  }
  return d;
}

absl::Status CheckNewOutputDir(const std::string& out_dir) {
  struct stat st;
  if (::stat(out_dir.c_str(), &st) != 0) return absl::OkStatus();
  if (!S_ISDIR(st.st_mode)) {
    return absl::AlreadyExistsError(absl::StrCat(out_dir, ": exists and is not a directory; --out needs a new directory"));
  }
  DIR* d = ::opendir(out_dir.c_str());
  if (d == nullptr) return absl::PermissionDeniedError(absl::StrCat(out_dir, ": cannot open the directory"));
  bool empty = true;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  if (empty) return absl::OkStatus();
  return absl::AlreadyExistsError(
      absl::StrCat(out_dir, ": exists and is not empty; choose a new --out directory (nothing is overwritten)"));
}

bool LooksLikeVideo(const std::string& path) {
  const std::string lower = absl::AsciiStrToLower(path);
  for (const char* ext : {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".flv",
                          ".ogv", ".3gp", ".wmv"}) {
    if (absl::EndsWith(lower, ext)) return true;
  }
  return false;
}

namespace {

// A failed run that wrote no map leaves no trace: --out was new or empty
// (CheckNewOutputDir), and is returned to that state. A run that failed after some
// maps keeps them (and says so), as a video cut short does.
absl::Status CleanUpIfNothingWritten(absl::Status status, const std::string& out_dir, bool existed,
                                     const PredictStats& stats) {
  if (status.ok() || stats.frames > 0) return status;
  std::error_code ec;
  if (existed) {
    for (const auto& e : std::filesystem::directory_iterator(out_dir, ec)) std::filesystem::remove_all(e.path(), ec);
  } else {
    std::filesystem::remove_all(out_dir, ec);
  }
  return status;
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

absl::Status PredictVideoInner(const PredictRun& run, const std::string& video_path, const std::string& out_dir,
                               PredictStats* stats) {
  if (absl::Status s = CheckRun(run); !s.ok()) return s;
  const auto t0 = Clock::now();
  absl::StatusOr<std::unique_ptr<data::VideoReader>> reader = data::VideoReader::Open(video_path);
  if (!reader.ok()) return reader.status();
  const data::VideoInfo& info = (*reader)->info();
  if (absl::Status s = CheckAspect(video_path, info.height, info.width, run.selection.stretch); !s.ok()) return s;
  const FrameSelection& sel = run.selection;
  const double end_s = sel.duration_s < 0 ? INFINITY : sel.start_s + sel.duration_s;
  // The progress line's total: the container's frame count (or duration x rate) in the window.
  int64_t estimate = info.frames;
  const double fps = info.frame_rate.value();
  if (fps > 0) {
    const double listed = info.frames > 0 ? info.frames / fps : info.duration_s;
    if (listed > 0) {
      const double window = std::max(0.0, std::min(listed, end_s) - sel.start_s);
      estimate = static_cast<int64_t>(std::ceil(window * fps));
    }
  }
  if (estimate > 0) estimate = (estimate + sel.every - 1) / sel.every;
  Pipeline pipe(run, out_dir, Stem(video_path), &info, std::max<int64_t>(estimate, 0), stats);
  if (absl::Status s = pipe.Open(); !s.ok()) return s;
  stats->decode_s += Seconds(t0, Clock::now());
  absl::Status input_error = absl::OkStatus();
  int64_t in_window = 0;
  // Frames outside the selection are decoded (frame-accurate, no seeking) but not converted.
  const data::VideoReader::ConvertIf wanted = [&](const data::VideoFrame& f) {
    return f.time_s >= sel.start_s && f.time_s < end_s && in_window % sel.every == 0;
  };
  for (;;) {
    const auto d0 = Clock::now();
    data::VideoFrame frame;
    absl::StatusOr<bool> more = (*reader)->Next(&frame, wanted);
    stats->frames_decoded = (*reader)->frames_decoded();
    stats->decode_s += Seconds(d0, Clock::now());
    if (!more.ok()) {
      input_error = more.status();
      break;
    }
    if (!*more || frame.time_s >= end_s) break;
    if (frame.time_s < sel.start_s) continue;
    if (in_window++ % sel.every != 0) continue;
    if (absl::Status s = pipe.Push(frame.image, absl::StrFormat("%06d", frame.index), frame.index, frame.pts,
                                   frame.time_s);
        !s.ok()) {
      return s;
    }
  }
  if (input_error.ok() && stats->frames_decoded > 0 && in_window == 0) {
    input_error = absl::InvalidArgumentError(
        absl::StrCat(video_path, ": no frames in the window --start=", sel.start_s, " --duration=", sel.duration_s,
                     " (the video has ", stats->frames_decoded, " frames)"));
  }
  if (absl::Status s = pipe.Finish(input_error); !s.ok()) return s;
  if (!input_error.ok() && stats->frames > 0) {
    return absl::Status(input_error.code(), absl::StrCat(input_error.message(), "; kept the ", stats->frames,
                                                         " maps before it in ", out_dir));
  }
  return input_error;
}

absl::Status PredictImagesInner(const PredictRun& run, const std::vector<std::string>& frames, const std::string& name,
                                const std::string& out_dir, PredictStats* stats) {
  // Outputs are named by the frames' stems: two frames with one stem (0001.jpg and
  // 0001.png) would write one map over the other. Refused before anything is written.
  std::map<std::string, std::string> by_stem;
  for (const std::string& f : frames) {
    const auto [it, fresh] = by_stem.emplace(Stem(f), f);
    if (!fresh) {
      return absl::InvalidArgumentError(absl::StrCat(it->second, " and ", f, " would both write the maps named ",
                                                     it->first, ".*; rename one of them"));
    }
  }
  Pipeline pipe(run, out_dir, name, nullptr, static_cast<int64_t>(frames.size()), stats);
  if (absl::Status s = pipe.Open(); !s.ok()) return s;
  for (size_t k = 0; k < frames.size(); ++k) {
    const auto d0 = Clock::now();
    absl::StatusOr<data::Image> image = data::ReadImage(frames[k], 3);
    stats->decode_s += Seconds(d0, Clock::now());
    if (!image.ok()) return image.status();
    if (absl::Status s = CheckAspect(frames[k], image->height, image->width, run.selection.stretch); !s.ok()) {
      return s;
    }
    ++stats->frames_decoded;
    if (absl::Status s = pipe.Push(*image, Stem(frames[k]), static_cast<int64_t>(k), static_cast<int64_t>(k), 0.0);
        !s.ok()) {
      return s;
    }
  }
  return pipe.Finish(absl::OkStatus());
}

}  // namespace

absl::Status PredictVideo(const PredictRun& run, const std::string& video_path, const std::string& out_dir,
                          PredictStats* stats) {
  *stats = PredictStats{};
  const bool existed = PathExists(out_dir);
  return CleanUpIfNothingWritten(PredictVideoInner(run, video_path, out_dir, stats), out_dir, existed, *stats);
}

absl::Status PredictImages(const PredictRun& run, const std::vector<std::string>& frames, const std::string& name,
                           const std::string& out_dir, PredictStats* stats) {
  *stats = PredictStats{};
  if (absl::Status s = CheckRun(run); !s.ok()) return s;
  const bool existed = PathExists(out_dir);
  return CleanUpIfNothingWritten(PredictImagesInner(run, frames, name, out_dir, stats), out_dir, existed, *stats);
}

}  // namespace sal360::infer

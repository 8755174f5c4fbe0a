// predict: saliency maps for your own panoramas with a trained checkpoint.
//
//   bazel run //tools:predict -- --input=pano.jpg --out=maps/
//   bazel run //tools:predict -- --input=frames_dir/ --out=maps/      # a video, in order
//   bazel run //tools:predict -- --input=X.npy [--prev=P.npy] --out=Y.npy
//
// Images and directories: each frame is decoded and resized to the network resolution
// (--height x --width, default the checkpoint's training height x 2); a directory's
// frames (.jpg/.jpeg/.png, sorted by name) are a video, run through the same inference
// loop as test (infer/sequence.h): the previous-map input of frame k is the model's own
// prediction for frame k - --prev_interval, and the first frames get the
// --first_frames map (the centre prior by default, as in training and test). Writes <name>.npy (the map, float32 (H, W), the network's output scale) and
// <name>_overlay.png (the map over the frame, at the frame's size).
//
// .npy input: X of shape (N,3,H,W) or (3,H,W), RGB in [0,1], float32 or float64, any
// H, W that are multiples of 8 (>= 16); --prev=P.npy of shape (N,1,H,W) (or (1,H,W))
// in the network's input scale (x10), zeros when absent. --out=Y.npy receives the raw
// network output, float32 (N,1,H,W), before any display normalisation.
//
// Table mode and convention come from the checkpoint's metadata (nearest, pixel_centre
// when absent); --table_mode / --convention override them (e.g. --convention=seed for a
// converted published checkpoint). --tables_dir=DIR loads the neighbour tables of every
// level from files written by //tools:gen_coords instead of generating them (same
// results; a mismatch of size, mode or convention is an error naming the file).
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <deque>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "data/heatmap.h"
#include "data/image.h"
#include "nlohmann/json.hpp"
#include "nn/model.h"
#include "nn/tensor.h"
#include "data/loader.h"
#include "data/source.h"
#include "infer/model.h"
#include "infer/sequence.h"
#include "tools/flags.h"
#include "util/file.h"
#include "util/npy.h"
#include "util/progress.h"

ABSL_FLAG(std::string, input, "",
          "An image (.jpg/.jpeg/.png), a directory of frames (a video, in name order), or a "
          ".npy tensor (N,3,H,W) / (3,H,W) of RGB in [0,1]");
ABSL_FLAG(std::string, prev, "",
          ".npy input only: previous maps (N,1,H,W) in the network's input scale (x10); "
          "default zeros");
ABSL_FLAG(std::string, out, "",
          "For .npy input: the output .npy (raw network output, float32 (N,1,H,W)). "
          "Otherwise a directory for <name>.npy maps and <name>_overlay.png");
ABSL_FLAG(int, batch, 4, ".npy input: images per forward pass");
// And the shared flags: --checkpoint, --device, --height, --width, --table_mode,
// --convention, --tables_dir (//tools:infer_flags); --prev_interval, --first_frames
// (//tools:temporal_flags).

namespace sal360::tools {
namespace {

constexpr int64_t kMaxNpyBytes = int64_t{8} << 30;
constexpr int64_t kMaxSide = 16384;

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsImageFile(const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(name);
  return absl::EndsWith(lower, ".jpg") || absl::EndsWith(lower, ".jpeg") || absl::EndsWith(lower, ".png");
}

std::string Stem(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  const size_t dot = base.find_last_of('.');
  return dot == std::string::npos ? base : base.substr(0, dot);
}

absl::Status PredictNpy(nn::SphericalUNet& model, const std::string& in_path, const std::string& prev_path,
                        const std::string& out_path, int batch, const std::string& tables_dir) {
  absl::StatusOr<util::NpyArray> x = util::ReadNpy(in_path, kMaxNpyBytes);
  if (!x.ok()) return x.status();
  std::vector<int64_t> shape = x->shape;
  if (shape.size() == 3) shape.insert(shape.begin(), 1);
  if (shape.size() != 4 || shape[1] != 3) {
    return absl::InvalidArgumentError(absl::StrCat(in_path, ": expected shape (N,3,H,W) or (3,H,W), got ",
                                                   util::ShapeString(x->shape)));
  }
  if (x->dtype != util::DType::kFloat32 && x->dtype != util::DType::kFloat64) {
    return absl::InvalidArgumentError(absl::StrCat(in_path, ": expected float32 or float64 values"));
  }
  const int64_t n = shape[0];
  if (n < 1 || shape[2] > kMaxSide || shape[3] > kMaxSide) {
    return absl::InvalidArgumentError(absl::StrCat(in_path, ": unsupported shape ", util::ShapeString(x->shape)));
  }
  const int h = static_cast<int>(shape[2]), w = static_cast<int>(shape[3]);
  if (const std::string bad = nn::SphericalUNet::CheckInputShape(nn::Shape{1, h, w, 4}); !bad.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(in_path, ": ", bad));
  }
  if (absl::Status s = infer::LoadTablesDir(tables_dir, h, w, model.config()); !s.ok()) return s;
  const std::vector<float> rgb = x->ToFloats();  // (N,3,H,W)
  std::vector<float> prev;                       // (N,1,H,W)
  if (!prev_path.empty()) {
    absl::StatusOr<util::NpyArray> p = util::ReadNpy(prev_path, kMaxNpyBytes);
    if (!p.ok()) return p.status();
    std::vector<int64_t> ps = p->shape;
    if (ps.size() == 3) ps.insert(ps.begin(), 1);
    if (ps != std::vector<int64_t>{n, 1, h, w}) {
      return absl::InvalidArgumentError(absl::StrCat(prev_path, ": expected shape ",
                                                     util::ShapeString({n, 1, h, w}), " to match --input, got ",
                                                     util::ShapeString(p->shape)));
    }
    if (p->dtype != util::DType::kFloat32 && p->dtype != util::DType::kFloat64) {
      return absl::InvalidArgumentError(absl::StrCat(prev_path, ": expected float32 or float64 values"));
    }
    prev = p->ToFloats();
  }
  const int64_t pixels = int64_t{h} * w;
  std::vector<float> out(static_cast<size_t>(n * pixels));
  util::ProgressLine line("predict", n, "img");
  for (int64_t start = 0; start < n; start += batch) {
    const int b = static_cast<int>(std::min<int64_t>(batch, n - start));
    std::vector<float> input(static_cast<size_t>(b * pixels * 4));
    for (int i = 0; i < b; ++i) {
      const int64_t k = start + i;
      for (int64_t p = 0; p < pixels; ++p) {
        float* dst = input.data() + (i * pixels + p) * 4;
        for (int c = 0; c < 3; ++c) dst[c] = rgb[(k * 3 + c) * pixels + p];  // CHW -> HWC
        dst[3] = prev.empty() ? 0.0f : prev[k * pixels + p];
      }
    }
    const std::vector<float> y = infer::ForwardHost(model, input, b, h, w);
    std::copy(y.begin(), y.end(), out.begin() + start * pixels);
    line.Update(start + b);
  }
  line.Finish();
  return util::WriteNpy(out_path, util::NpyArray::FromFloat32({n, 1, h, w}, out));
}

// Images and directories: decode, resize, run the frames through the inference loop
// (a directory is a video: frame k's temporal input is the prediction for frame
// k - interval, the first frames get the first-frames map, as in training and test),
// write maps and overlays.
absl::Status PredictImages(nn::SphericalUNet& model, const std::vector<std::string>& frames, int h, int w,
                           const data::TemporalConfig& temporal, const std::string& out_dir) {
  if (absl::Status s = util::MakeDirs(out_dir); !s.ok()) return s;
  absl::StatusOr<data::SampleOptions> sample = data::TemporalSampleOptions(temporal, h, w);
  if (!sample.ok()) return sample.status();
  infer::SequenceOptions so;
  so.input = infer::TemporalInput::kPrediction;
  so.interval = temporal.prev_interval;
  so.first_frames_map = data::FirstFramesMap(sample->first_frames, h, w, sample->gt_options);
  std::deque<data::Image> pending;  // decoded frames whose maps have not come back yet
  util::ProgressLine line("predict", static_cast<int64_t>(frames.size()), "frame");
  infer::SequenceRunner runner(model, h, w, so, [&](int64_t k, int, const float* map) -> absl::Status {
    const data::Image image = std::move(pending.front());
    pending.pop_front();
    const std::string stem = out_dir + "/" + Stem(frames[static_cast<size_t>(k)]);
    const std::vector<float> y(map, map + int64_t{h} * w);
    if (absl::Status s = util::WriteNpy(stem + ".npy", util::NpyArray::FromFloat32({h, w}, y)); !s.ok()) return s;
    const std::vector<float> full = data::ResizeFloat(map, h, w, 1, image.height, image.width);
    const std::vector<uint8_t> overlay = data::OverlayHeatmap(image.pixels.data(), full.data(), image.height, image.width);
    if (absl::Status s = data::WritePng(stem + "_overlay.png", overlay.data(), image.height, image.width, 3); !s.ok()) {
      return s;
    }
    line.Update(k + 1);
    return absl::OkStatus();
  });
  for (size_t k = 0; k < frames.size(); ++k) {
    absl::StatusOr<data::Image> image = data::ReadImage(frames[k], 3);
    if (!image.ok()) return image.status();
    const std::vector<float> rgb = data::ResizeToFloat(*image, h, w);  // (h, w, 3) in [0,1]
    pending.push_back(*std::move(image));
    if (absl::Status s = runner.Push(static_cast<int>(k) + 1, rgb.data()); !s.ok()) return s;
  }
  if (absl::Status s = runner.Finish(); !s.ok()) return s;
  line.Finish();
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  SetToolUsage(
      "Saliency maps for your own panoramas: --input=IMAGE|DIR|X.npy --out=DIR|Y.npy "
      "[--checkpoint=...]. See docs/model.md.");
  absl::ParseCommandLine(argc, argv);
  auto fail = [](const absl::Status& s) {
    std::fprintf(stderr, "predict: %s\n", std::string(s.message()).c_str());
    return 1;
  };
  const std::string input = util::UserPath(absl::GetFlag(FLAGS_input));
  const std::string out = util::UserPath(absl::GetFlag(FLAGS_out));
  if (input.empty()) return fail(absl::InvalidArgumentError("--input is required (an image, a directory or a .npy)"));
  if (out.empty()) return fail(absl::InvalidArgumentError("--out is required"));
  const int batch = absl::GetFlag(FLAGS_batch);
  if (batch < 1 || batch > 1024) return fail(absl::InvalidArgumentError("--batch must be in 1..1024"));
  const infer::InferConfig ic = InferConfigFromFlags();
  if (absl::Status s = infer::ValidateInferConfig(ic); !s.ok()) return fail(s);
  data::TemporalConfig temporal;
  ReadTemporalFlags(temporal);
  if (absl::Status s = data::ValidateTemporalConfig(temporal); !s.ok()) return fail(s);
  const bool npy = absl::EndsWith(absl::AsciiStrToLower(input), ".npy");
  if (!npy && !absl::GetFlag(FLAGS_prev).empty()) {
    return fail(absl::InvalidArgumentError("--prev applies to .npy input only"));
  }
  if (npy && !absl::EndsWith(absl::AsciiStrToLower(out), ".npy")) {
    return fail(absl::InvalidArgumentError("for .npy input, --out must name a .npy file"));
  }
  std::vector<std::string> frames;
  if (!npy) {
    if (IsDirectory(input)) {
      DIR* d = ::opendir(input.c_str());
      if (d == nullptr) return fail(absl::NotFoundError(absl::StrCat(input, ": cannot open the directory")));
      while (const dirent* e = ::readdir(d)) {
        if (IsImageFile(e->d_name)) frames.push_back(input + "/" + e->d_name);
      }
      ::closedir(d);
      std::sort(frames.begin(), frames.end());
      if (frames.empty()) {
        return fail(absl::NotFoundError(absl::StrCat(input, ": no .jpg/.jpeg/.png frames in the directory")));
      }
    } else if (IsImageFile(input)) {
      frames.push_back(input);
    } else {
      return fail(absl::InvalidArgumentError(
          absl::StrCat(input, ": not a directory, an image (.jpg/.jpeg/.png) or a .npy file")));
    }
  }
  absl::StatusOr<nn::Device> device = infer::ParseDevice(ic.device);
  if (!device.ok()) return fail(device.status());
  absl::StatusOr<infer::LoadedModel> loaded =
      infer::LoadModel(util::UserPath(ic.checkpoint), *device, ic.table_mode, ic.convention);
  if (!loaded.ok()) return fail(loaded.status());
  absl::Status status;
  if (npy) {
    status = PredictNpy(*loaded->model, input, util::UserPath(absl::GetFlag(FLAGS_prev)), out, batch, ic.tables_dir);
  } else {
    absl::StatusOr<std::pair<int, int>> size = infer::Resolution(ic, *loaded);
    if (!size.ok()) return fail(size.status());
    const auto [h, w] = *size;
    if (absl::Status s = infer::LoadTablesDir(ic.tables_dir, h, w, loaded->model->config()); !s.ok()) return fail(s);
    status = PredictImages(*loaded->model, frames, h, w, temporal, out);
  }
  if (!status.ok()) return fail(status);
  std::fprintf(stderr, "predict: wrote %s\n", out.c_str());
  return 0;
}

}  // namespace
}  // namespace sal360::tools

int main(int argc, char** argv) { return sal360::tools::Main(argc, argv); }

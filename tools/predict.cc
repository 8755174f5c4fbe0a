// predict: saliency maps for your own 360° videos and panoramas with a trained checkpoint.
//
//   bazel run //tools:predict -- --input=clip.mp4 --out=pred/          # a video file
//   bazel run //tools:predict -- --input=frames_dir/ --out=pred/       # frames, in name order
//   bazel run //tools:predict -- --input=pano.jpg --out=pred/          # one image
//   bazel run //tools:predict -- --input=X.npy [--prev=P.npy] --out=Y.npy
//
// Videos, directories and images run through infer/predict.h: frames are decoded (any
// container/codec Debian's FFmpeg reads; .jpg/.png), resized to the network resolution
// (--height x --width, default the checkpoint's training height x 2) and run through the
// one inference loop (infer/sequence.h): frame k's previous-map input is the model's own
// prediction for frame k - --prev_interval (counted in output frames), the first frames
// get --first_frames. Outputs (--out must be a new or empty directory): per-frame maps
// (--maps), the overlay (--overlay; a video for video input), Salient360! raw maps,
// frames.csv and summary.json; docs/video.md has the formats.
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
#include "data/source.h"
#include "data/video.h"
#include "infer/model.h"
#include "infer/predict.h"
#include "infer/sequence.h"
#include "nn/model.h"
#include "nn/tensor.h"
#include "tools/flags.h"
#include "util/file.h"
#include "util/npy.h"
#include "util/progress.h"

ABSL_FLAG(std::string, input, "",
          "A video file (.mp4, .mkv, .mov, .webm, ...), an image (.jpg/.jpeg/.png), a directory of "
          "frames (a video, in name order), or a .npy tensor (N,3,H,W) / (3,H,W) of RGB in [0,1]");
ABSL_FLAG(std::string, prev, "",
          ".npy input only: previous maps (N,1,H,W) in the network's input scale (x10); "
          "default zeros");
ABSL_FLAG(std::string, out, "",
          "For .npy input: the output .npy (raw network output, float32 (N,1,H,W)). "
          "Otherwise a directory for <name>.npy maps and <name>_overlay.png");
ABSL_FLAG(int, batch, 4, "Frames per forward pass (a video's frames batch while their inputs are known)");
ABSL_FLAG(std::string, maps, "npy",
          "Per-frame maps: npy (float32, raw output), png (16-bit, max = 65535), npy,png or none");
ABSL_FLAG(std::string, overlay, "blend",
          "blend (heatmap over the frame) | side_by_side (frame | heatmap) | none; a video for video input");
ABSL_FLAG(std::string, codec, "auto", "Overlay video codec: auto (H.264 if available, else MPEG-4) | h264 | mpeg4");
ABSL_FLAG(int, overlay_max_width, 1920, "Overlay video frames: the input's size, scaled down to this width");
ABSL_FLAG(int, viewer_frames, 120,
          "report.html with the 360° viewer over up to this many frames, evenly spaced (0: no report)");
ABSL_FLAG(bool, salient360, true, "Also write the Salient360! raw maps NAME_WxHxN_32b.bin (each map sums to 1)");
ABSL_FLAG(int, every, 1, "Video input: predict every Nth frame of the window");
ABSL_FLAG(double, start, 0, "Video input: window start, seconds from the first frame");
ABSL_FLAG(double, duration, -1, "Video input: window length in seconds (negative: to the end)");
ABSL_FLAG(bool, stretch, false, "Accept frames that are not 2:1 equirectangular (resized to the network size)");
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

std::string BaseName(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::string base = path.substr(path.find_last_of('/') + 1);
  const size_t dot = base.find_last_of('.');
  return dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
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
  if (absl::Status s = infer::CheckMemory(std::min<int64_t>(batch, n), h, w, model.config().table_mode, model.device(),
                                          "the input's size or --batch");
      !s.ok()) {
    return absl::ResourceExhaustedError(absl::StrCat(in_path, ": ", s.message()));
  }
  if (absl::Status s = infer::LoadTablesDir(tables_dir, h, w, model.config()); !s.ok()) return s;
  const std::vector<float> rgb = x->ToFloats();  // (N,3,H,W)
  auto check = [](const std::vector<float>& v, const std::vector<int64_t>& shape, infer::InputKind kind,
                  const std::string& file) -> absl::Status {
    absl::StatusOr<std::string> warning = infer::CheckInputValues(v, shape, kind, file);
    if (!warning.ok()) return warning.status();
    if (!warning->empty()) std::fprintf(stderr, "predict: warning: %s\n", warning->c_str());
    return absl::OkStatus();
  };
  if (absl::Status s = check(rgb, x->shape, infer::InputKind::kRgb, in_path); !s.ok()) return s;
  std::vector<float> prev;  // (N,1,H,W)
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
    if (absl::Status s = check(prev, p->shape, infer::InputKind::kSaliency, prev_path); !s.ok()) return s;
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

int Main(int argc, char** argv) {
  SetToolUsage(
      "Saliency maps for your own 360° videos and panoramas: --input=VIDEO|IMAGE|DIR|X.npy "
      "--out=DIR|Y.npy [--checkpoint=...]. See docs/video.md and docs/model.md.");
  ::sal360::tools::ParseCommandLine(argc, argv);
  auto fail = [](const absl::Status& s) {
    std::fprintf(stderr, "predict: %s\n", std::string(s.message()).c_str());
    return 1;
  };
  const std::string input = util::UserPath(absl::GetFlag(FLAGS_input));
  const std::string out = util::UserPath(absl::GetFlag(FLAGS_out));
  if (input.empty()) return fail(absl::InvalidArgumentError("--input is required (a video, an image, a directory or a .npy)"));
  if (out.empty()) return fail(absl::InvalidArgumentError("--out is required"));
  const int batch = absl::GetFlag(FLAGS_batch);
  if (batch < 1 || batch > 1024) return fail(absl::InvalidArgumentError("--batch must be in 1..1024"));
  const infer::InferConfig ic = InferConfigFromFlags();
  if (absl::Status s = infer::ValidateInferConfig(ic); !s.ok()) return fail(s);
  data::TemporalConfig temporal;
  ReadTemporalFlags(temporal);
  if (absl::Status s = data::ValidateTemporalConfig(temporal); !s.ok()) return fail(s);
  infer::PredictRun run;
  run.batch = batch;
  run.temporal = temporal;
  if (absl::Status s = infer::ParseMaps(absl::GetFlag(FLAGS_maps), &run.outputs); !s.ok()) return fail(s);
  absl::StatusOr<infer::Overlay> overlay = infer::ParseOverlay(absl::GetFlag(FLAGS_overlay));
  if (!overlay.ok()) return fail(overlay.status());
  run.outputs.overlay = *overlay;
  absl::StatusOr<data::VideoCodec> codec = data::ParseVideoCodec(absl::GetFlag(FLAGS_codec));
  if (!codec.ok()) return fail(absl::InvalidArgumentError(absl::StrCat("--codec: ", codec.status().message())));
  run.outputs.codec = *codec;
  run.outputs.overlay_max_width = absl::GetFlag(FLAGS_overlay_max_width);
  run.outputs.viewer_frames = absl::GetFlag(FLAGS_viewer_frames);
  if (run.outputs.viewer_frames < 0 || run.outputs.viewer_frames > 100000) {
    return fail(absl::InvalidArgumentError("--viewer_frames must be in 0..100000"));
  }
  run.outputs.salient360 = absl::GetFlag(FLAGS_salient360);
  run.selection.every = absl::GetFlag(FLAGS_every);
  run.selection.start_s = absl::GetFlag(FLAGS_start);
  run.selection.duration_s = absl::GetFlag(FLAGS_duration);
  run.selection.stretch = absl::GetFlag(FLAGS_stretch);
  if (run.selection.every < 1) return fail(absl::InvalidArgumentError("--every must be at least 1"));
  if (!(run.selection.start_s >= 0)) return fail(absl::InvalidArgumentError("--start must be >= 0 seconds"));
  if (run.selection.duration_s == 0) return fail(absl::InvalidArgumentError("--duration must not be 0"));
  if (run.outputs.overlay_max_width < 2) return fail(absl::InvalidArgumentError("--overlay_max_width must be >= 2"));
  const bool npy = absl::EndsWith(absl::AsciiStrToLower(input), ".npy");
  const bool video = !npy && !IsDirectory(input) && infer::LooksLikeVideo(input);
  if (!npy && !absl::GetFlag(FLAGS_prev).empty()) {
    return fail(absl::InvalidArgumentError("--prev applies to .npy input only"));
  }
  if (npy && !absl::EndsWith(absl::AsciiStrToLower(out), ".npy")) {
    return fail(absl::InvalidArgumentError("for .npy input, --out must name a .npy file"));
  }
  if (npy) {
    // Nothing is overwritten: not the input (--out=--input used to replace it), not
    // --prev, not an earlier result.
    struct stat st;
    if (::stat(out.c_str(), &st) == 0) {
      return fail(absl::AlreadyExistsError(absl::StrCat(
          out, ": exists", out == input ? " (it is the --input)" : "",
          "; predict does not overwrite files, choose a new --out")));
    }
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
    } else if (!video) {
      return fail(absl::InvalidArgumentError(absl::StrCat(
          input, ": not a video file (.mp4, .mkv, ...), a directory, an image (.jpg/.jpeg/.png) or a .npy file")));
    }
  }
  if (!npy) {
    if (absl::Status s = infer::CheckNewOutputDir(out); !s.ok()) return fail(s);
  }
  absl::StatusOr<nn::Device> device = infer::ParseDeviceAndMath(ic.device, ic.gpu_engine, ic.precision);
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
    if (absl::Status s = infer::CheckMemory(batch, h, w, loaded->model->config().table_mode, *device,
                                            "--height/--width or --batch");
        !s.ok()) {
      return fail(s);
    }
    if (absl::Status s = infer::LoadTablesDir(ic.tables_dir, h, w, loaded->model->config()); !s.ok()) return fail(s);
    run.model = loaded->model.get();
    run.height = h;
    run.width = w;
    infer::PredictStats stats;
    status = video ? infer::PredictVideo(run, input, out, &stats)
                   : infer::PredictImages(run, frames, BaseName(input), out, &stats);
    if (stats.frames > 0) {
      const double t = std::max(1e-9, stats.decode_s + stats.infer_s + stats.write_s);
      std::fprintf(stderr,
                   "predict: %lld frames in %.1f s (%.2f fps): decode %.0f%%, infer %.0f%%, write/encode %.0f%%%s\n",
                   static_cast<long long>(stats.frames), stats.total_s, stats.frames / std::max(1e-9, stats.total_s),
                   100 * stats.decode_s / t, 100 * stats.infer_s / t, 100 * stats.write_s / t,
                   stats.encoder.empty() ? "" : absl::StrCat(" (overlay: ", stats.encoder, ")").c_str());
    }
  }
  if (!status.ok()) return fail(status);
  std::fprintf(stderr, "predict: wrote %s\n", out.c_str());
  return 0;
}

}  // namespace
}  // namespace sal360::tools

int main(int argc, char** argv) { return sal360::tools::GuardedMain(sal360::tools::Main, argc, argv); }

// bench_video: predict's whole video path (infer::PredictVideo) on a synthetic clip —
// decode + resize + batched autoregressive inference + writing the npy maps, the
// Salient360! file and the blended overlay video — one JSON line on stdout. Not a test.
//
//   bazel run -c opt //tools:bench_video [-- --height=240 --width=480 --frames=16 --batch=4]
//
// The clip is rendered by data/synthetic.h at --height x --width and encoded at 10 fps
// (not timed). The model is freshly initialised (speed does not depend on the weights).
// It runs twice: "cold_run_seconds" is the first run, which includes the model's
// workspace allocation for the batch size (what one predict process pays once);
// "seconds", "fps" and the stage shares are the second, warm run.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "data/synthetic.h"
#include "data/video.h"
#include "infer/model.h"
#include "infer/predict.h"
#include "nlohmann/json.hpp"
#include "nn/model.h"
#include "tools/flags.h"

ABSL_FLAG(int, height, 240, "Clip and network height (multiple of 8)");
ABSL_FLAG(int, width, 480, "Clip and network width (multiple of 8)");
ABSL_FLAG(int, frames, 16, "Frames in the clip");
ABSL_FLAG(int, batch, 4, "Frames per forward pass (predict --batch)");
ABSL_FLAG(std::string, bench_device, "cpu", "cpu | cuda | auto");

namespace sal360 {
namespace {

using nlohmann::json;

double PeakRssMiB() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

int Main(int argc, char** argv) {
  tools::SetToolUsage("Times predict's video path on a synthetic mp4; one JSON line on stdout.");
  ::sal360::tools::ParseCommandLine(argc, argv);
  const int h = absl::GetFlag(FLAGS_height), w = absl::GetFlag(FLAGS_width);
  const int frames = absl::GetFlag(FLAGS_frames), batch = absl::GetFlag(FLAGS_batch);
  if (const std::string bad = nn::SphericalUNet::CheckInputShape(nn::Shape{1, h, w, 4}); !bad.empty()) {
    std::fprintf(stderr, "bench_video: --height/--width: %s\n", bad.c_str());
    return 2;
  }
  if (frames < 1 || batch < 1 || batch > 64) {
    std::fprintf(stderr, "bench_video: --frames must be >= 1 and --batch in 1..64\n");
    return 2;
  }
  absl::StatusOr<nn::Device> device = infer::ParseDevice(absl::GetFlag(FLAGS_bench_device));
  if (!device.ok()) {
    std::fprintf(stderr, "bench_video: %s\n", std::string(device.status().message()).c_str());
    return 2;
  }
  nn::SphericalUNet model(*device, nn::ModelConfig{});
  nn::Rng rng(1);
  model.Initialize(rng);
  char tmpl[] = "/tmp/sal360_bench_video_XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    std::fprintf(stderr, "bench_video: cannot create a temporary directory\n");
    return 1;
  }
  const std::string dir = tmpl;
  auto fail = [&](const absl::Status& s) {
    std::fprintf(stderr, "bench_video: %s\n", std::string(s.message()).c_str());
    std::system(("rm -rf '" + dir + "'").c_str());
    return 1;
  };
  data::SyntheticOptions so;
  so.videos = 1;
  so.frames = frames;
  so.height = h;
  so.width = w;
  std::vector<data::Image> images;
  for (data::SyntheticFrame& f : data::RenderSyntheticVideo(so, 0)) images.push_back(std::move(f.image));
  const std::string clip = dir + "/clip.mp4";
  if (absl::Status s = data::WriteVideo(clip, images, data::Rational{10, 1}); !s.ok()) return fail(s);
  infer::PredictRun run;
  run.model = &model;
  run.height = h;
  run.width = w;
  run.batch = batch;
  run.progress = false;
  infer::PredictStats cold, st;
  std::fprintf(stderr, "bench_video: %d frames at %dx%d, batch %d, twice ...\n", frames, h, w, batch);
  if (absl::Status s = infer::PredictVideo(run, clip, dir + "/cold", &cold); !s.ok()) return fail(s);
  if (absl::Status s = infer::PredictVideo(run, clip, dir + "/out", &st); !s.ok()) return fail(s);
  std::system(("rm -rf '" + dir + "'").c_str());
  const double busy = std::max(1e-9, st.decode_s + st.infer_s + st.write_s);
  const json line = {{"case", "video"},
                     {"device", nn::DeviceName(model.device())},
                     {"height", h},
                     {"width", w},
                     {"frames", st.frames},
                     {"batch", batch},
                     {"seconds", st.total_s},
                     {"fps", st.frames / std::max(1e-9, st.total_s)},
                     {"decode_seconds", st.decode_s},
                     {"infer_seconds", st.infer_s},
                     {"write_encode_seconds", st.write_s},
                     {"shares",
                      {{"decode", st.decode_s / busy}, {"infer", st.infer_s / busy}, {"write_encode", st.write_s / busy}}},
                     {"overlay_encoder", st.encoder},
                     {"cold_run_seconds", cold.total_s},
                     {"peak_rss_mib", PeakRssMiB()}};
  std::printf("%s\n", line.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace sal360

int main(int argc, char** argv) { return sal360::Main(argc, argv); }

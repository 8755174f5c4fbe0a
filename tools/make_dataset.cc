// Writes a synthetic 360° saliency dataset in the real dataset's layout (data/synthetic.h,
// docs/data.md): ROOT/vinfo.pkl, ROOT/synNNN/NNNN.jpg, optionally NNNN_gt.npy.
//
//   bazel run //tools:make_dataset -- --out=DIR [--videos=8 --frames=24 --height=240 ...]
//
// Prints a JSON summary to stdout. Exit status: 0 on success, 1 on failure, 2 on bad usage.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "tools/flags.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "data/synthetic.h"
#include "data/video.h"
#include "nlohmann/json.hpp"
#include "util/progress.h"
#include "util/file.h"

ABSL_FLAG(std::string, out, "", "Output directory (created; must not hold a dataset already)");
ABSL_FLAG(uint64_t, seed, 1, "Seed: the whole dataset is a function of the flags");
ABSL_FLAG(int, videos, 8, "Number of videos");
ABSL_FLAG(int, frames, 24, "Frames per video (ids 0001..)");
ABSL_FLAG(int, height, 240, "Frame height (ERP; width is usually 2 x height)");
ABSL_FLAG(int, width, 480, "Frame width");
ABSL_FLAG(int, viewers, 16, "Gaze points (viewers) per frame");
ABSL_FLAG(int, objects, 3, "Salient (bright, saturated) moving objects per video");
ABSL_FLAG(int, distractors, 2, "Dull moving objects nobody looks at, per video");
ABSL_FLAG(double, gaze_noise, 0.04, "Gaze noise around the attended object (radians)");
ABSL_FLAG(double, explore_prob, 0.1,
          "Probability that a viewer looks around (latitude ~ N(0, 0.3 rad)) in a frame");
ABSL_FLAG(int, jpeg_quality, 90, "JPEG quality 1..100");
ABSL_FLAG(int, pickle_protocol, 2, "vinfo.pkl protocol (2, 3 or 4)");
ABSL_FLAG(std::string, layout, "pickle",
          "pickle: ROOT/vinfo.pkl (the ECCV'18 layout) | csv: ROOT/gaze.csv (the generic layout, "
          "video,frame,user,x,y; docs/data.md)");
ABSL_FLAG(bool, gt_cache, false, "Also write NNNN_gt.npy ground-truth caches");
ABSL_FLAG(int, gt_cache_height, 128, "Cache height (the published caches are 128x256)");
ABSL_FLAG(int, gt_cache_width, 256, "Cache width");
ABSL_FLAG(std::string, mp4_dir, "",
          "Also write each video as DIR/synNNN.mp4 (the rendered frames, H.264 or MPEG-4), e.g. for "
          "trying predict on a video file; outside --out, whose folders must match vinfo.pkl");
ABSL_FLAG(int, mp4_fps, 10, "Frame rate of the --mp4_dir videos");
ABSL_FLAG(double, gaze_sigma, 3.14159265358979323846 / 20,
          "Sigma (radians) of the spherical Gaussian of the caches");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Writes a synthetic dataset: --out=DIR [options]; JSON to stdout.");
  ::sal360::tools::ParseCommandLine(argc, argv);
  std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) {
    std::fprintf(stderr, "make_dataset: --out=DIR is required (see --help)\n");
    return 2;
  }
  out = sal360::util::UserPath(out);
  sal360::data::SyntheticOptions o;
  o.seed = absl::GetFlag(FLAGS_seed);
  o.videos = absl::GetFlag(FLAGS_videos);
  o.frames = absl::GetFlag(FLAGS_frames);
  o.height = absl::GetFlag(FLAGS_height);
  o.width = absl::GetFlag(FLAGS_width);
  o.viewers = absl::GetFlag(FLAGS_viewers);
  o.objects = absl::GetFlag(FLAGS_objects);
  o.distractors = absl::GetFlag(FLAGS_distractors);
  o.gaze_noise = absl::GetFlag(FLAGS_gaze_noise);
  o.explore_prob = absl::GetFlag(FLAGS_explore_prob);
  o.jpeg_quality = absl::GetFlag(FLAGS_jpeg_quality);
  o.pickle_protocol = absl::GetFlag(FLAGS_pickle_protocol);
  if (absl::GetFlag(FLAGS_layout) != "pickle" && absl::GetFlag(FLAGS_layout) != "csv") {
    std::fprintf(stderr, "make_dataset: --layout must be pickle or csv\n");
    return 2;
  }
  o.gaze_csv = absl::GetFlag(FLAGS_layout) == "csv";
  o.gt_cache = absl::GetFlag(FLAGS_gt_cache);
  o.gt_cache_height = absl::GetFlag(FLAGS_gt_cache_height);
  o.gt_cache_width = absl::GetFlag(FLAGS_gt_cache_width);
  o.gt_options.sigma = absl::GetFlag(FLAGS_gaze_sigma);
  if (absl::Status s = o.Validate(); !s.ok()) {
    std::fprintf(stderr, "make_dataset: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  std::unique_ptr<sal360::util::ProgressLine> bar;
  auto stats = sal360::data::MakeSyntheticDataset(out, o, [&](int64_t done, int64_t total) {
    if (!bar) bar = std::make_unique<sal360::util::ProgressLine>("make_dataset", total, "frames");
    bar->Update(done);
    if (done == total) bar->Finish();
  });
  if (!stats.ok()) {
    std::fprintf(stderr, "make_dataset: error: %s\n",
                 std::string(stats.status().message()).c_str());
    return 1;
  }
  nlohmann::ordered_json j;
  if (const std::string mp4_dir = sal360::util::UserPath(absl::GetFlag(FLAGS_mp4_dir)); !mp4_dir.empty()) {
    const int fps = absl::GetFlag(FLAGS_mp4_fps);
    if (fps < 1 || fps > 240) {
      std::fprintf(stderr, "make_dataset: --mp4_fps must be in 1..240\n");
      return 2;
    }
    if (absl::Status s = sal360::util::MakeDirs(mp4_dir); !s.ok()) {
      std::fprintf(stderr, "make_dataset: error: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    sal360::util::ProgressLine mp4_bar("make_dataset mp4", o.videos, "videos");
    std::vector<std::string> files;
    for (int v = 0; v < o.videos; ++v) {
      std::vector<sal360::data::Image> frames;
      for (sal360::data::SyntheticFrame& f : sal360::data::RenderSyntheticVideo(o, v)) {
        frames.push_back(std::move(f.image));
      }
      const std::string path = mp4_dir + "/" + sal360::data::SyntheticVideoName(v) + ".mp4";
      if (absl::Status s = sal360::data::WriteVideo(path, frames, sal360::data::Rational{fps, 1}); !s.ok()) {
        std::fprintf(stderr, "make_dataset: error: %s\n", std::string(s.message()).c_str());
        return 1;
      }
      files.push_back(path);
      mp4_bar.Update(v + 1);
    }
    mp4_bar.Finish();
    j["mp4"] = files;
  }
  j["root"] = out;
  j["key"] = o.Key();
  j["videos"] = stats->videos;
  j["frames"] = stats->frames;
  j["gaze_points"] = stats->gaze_points;
  j["bytes"] = stats->bytes;
  j["seconds"] = stats->seconds;
  std::printf("%s\n", j.dump(2).c_str());
  return 0;
}

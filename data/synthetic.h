// A synthetic 360° video saliency dataset in the real dataset's exact layout
// (dataset.h): V videos × F equirectangular JPEG frames, vinfo.pkl with one gaze point
// per viewer and frame, and optionally NNNN_gt.npy caches.
//
// Scene (everything is drawn on the sphere: each pixel's direction is tested against
// objects defined by directions and angular radii, so shapes stretch correctly towards
// the poles and wrap across the longitude seam):
//   - background: a dim, low-saturation texture (smooth value noise on the sphere plus a
//     fine pattern) that changes slowly over time;
//   - `objects` salient objects: bright, saturated discs (spherical caps, radius
//     0.12–0.22 rad) with a white rim, each with its own attractiveness; they move
//     along latitude-wobbling paths (longitude speed 0.04–0.12 rad/frame), mostly near
//     the equator, one per video from anywhere in ±1.25 rad latitude;
//   - `distractors`: grey, darker discs of similar size that nobody looks at.
// Gaze: each viewer attends one salient object (chosen ∝ attractiveness, switching with
// probability 0.08 per frame) and looks at its centre plus a per-viewer offset and
// Gaussian noise (gaze_noise rad); with probability explore_prob a viewer instead looks at
// a random point with latitude ~ N(0, 0.3 rad) (the equator bias of real viewing).
// So the saliency is predictable from the pixels (bright saturated discs, weighted by
// colour) and an equator-bias prior scores clearly worse than a model that finds them.
// Everything is deterministic from the seed (SplitMix64 streams; no std:: distributions,
// whose output differs between standard libraries).
#ifndef SAL360_DATA_SYNTHETIC_H_
#define SAL360_DATA_SYNTHETIC_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/ground_truth.h"
#include "data/image.h"

namespace sal360::data {

// Bumped whenever the generator's output changes (part of the cache key).
inline constexpr int kSyntheticVersion = 1;

struct SyntheticOptions {
  uint64_t seed = 1;
  int videos = 8;
  int frames = 24;
  int height = 240, width = 480;
  int viewers = 16;
  int objects = 3;
  int distractors = 2;
  double gaze_noise = 0.04;  // rad
  double explore_prob = 0.1;
  int jpeg_quality = 90;
  int pickle_protocol = 2;
  bool gaze_csv = false;  // the generic layout: gaze.csv instead of vinfo.pkl (dataset.h)
  bool gt_cache = false;  // also write NNNN_gt.npy
  int gt_cache_height = 128, gt_cache_width = 256;
  GroundTruthOptions gt_options;

  absl::Status Validate() const;
  // A short string naming every option that changes the output, e.g.
  // "v1_s1_8x24_240x480_u16_o3_d2_..." (directory name in the cache).
  std::string Key() const;
};

// "syn000", "syn001", ...
std::string SyntheticVideoName(int index);

// One rendered frame and its gaze, in memory (what MakeSyntheticDataset writes).
struct SyntheticFrame {
  Image image;                  // (height, width, 3)
  std::vector<GazePoint> gaze;  // one per viewer
};
// All frames of video `index` (frame ids 1..frames), deterministic from (seed, index).
std::vector<SyntheticFrame> RenderSyntheticVideo(const SyntheticOptions& options, int index);

// The objects of video `index` at frame id `frame` (1-based), in drawing order
// (distractors first): centre latitude/longitude (radians, longitude in [−π, π]),
// angular radius, and for salient ones the attractiveness weight (∝ radius²) that
// decides how many viewers follow them. For tests and for inspecting the data.
struct SyntheticObject {
  bool salient = false;
  double lat = 0, lon = 0, radius = 0, weight = 0;
};
std::vector<SyntheticObject> SyntheticObjectsAt(const SyntheticOptions& options, int index,
                                                int frame);

struct SyntheticStats {
  int videos = 0;
  int64_t frames = 0;
  int64_t gaze_points = 0;
  int64_t bytes = 0;
  double seconds = 0;
};

// Writes the dataset into `out_dir` (created; must not already contain vinfo.pkl).
// `progress(done_frames, total_frames)` is called after each video.
absl::StatusOr<SyntheticStats> MakeSyntheticDataset(
    const std::string& out_dir, const SyntheticOptions& options,
    const std::function<void(int64_t, int64_t)>& progress = nullptr);

// $SAL360_CACHE, else $XDG_CACHE_HOME/sal360, else $HOME/.cache/sal360, else
// /tmp/sal360-cache; with "/synthetic" appended.
std::string DefaultSyntheticCacheDir();
// The root of the synthetic dataset for `options` under `cache_dir` ("" = default),
// i.e. cache_dir/<options.Key()>, generated first when missing. Generation goes to a
// temporary sibling directory that is renamed into place, so concurrent callers and
// interrupted runs never see a half-written dataset.
absl::StatusOr<std::string> EnsureSyntheticDataset(
    const SyntheticOptions& options, const std::string& cache_dir = "",
    const std::function<void(int64_t, int64_t)>& progress = nullptr);

}  // namespace sal360::data

#endif  // SAL360_DATA_SYNTHETIC_H_

// Samples and batches for training and testing, assembled in background threads.
//
// A sample is one frame (video, frame id) at the model resolution (H, W):
//   rgb        (H, W, 3)  the decoded JPEG/PNG resized (image.h), value/255 ∈ [0, 1]
//   target     (H, W)     ground truth G of the frame (data scale, ground_truth.h)
//   prev       (H, W)     G of frame (id − prev_interval) of the same video: the model's
//                         temporal input. When id − prev_interval ≤ 0 (the published
//                         rule) the first-frames policy decides: the centre prior (one
//                         viewer at (0.5, 0.5), the published choice; default) or zeros.
//   fixations  (H, W)     0/1 fixation map (ground_truth.h), for NSS / AUC
// Maps come from NNNN_gt.npy when GtSource::kCache and the file exists (resized; a
// malformed cache is an error, never a silent zero map), else from the gaze points.
// The previous frame needs only a gaze entry or a cache, not its .jpg.
//
// A batch packs n samples as contiguous NHWC host arrays ready for the network:
//   input   (n, H, W, 4)  channels r, g, b, prev·map_scale
//   target  (n, H, W, 1)  G·map_scale
// (tools pass map_scale = 10, the published network scale).
//
// Order: epoch e visits the items in a permutation that depends only on (seed, e) (a
// Fisher–Yates shuffle driven by SplitMix64(seed, e), the same on every platform), or in
// the given order when shuffle is off; batch b holds positions [b·B, (b+1)·B). A run
// resumes mid-epoch with start_batch: the remaining batches are identical to those of an
// uninterrupted epoch. The last partial batch is kept unless drop_last.
//
// Threads: `threads` workers each assemble whole batches, claiming batch indices in
// order, at most `prefetch` batches ahead of the consumer (a bounded queue); Next()
// hands them out strictly in index order, so the output never depends on timing.
//
// Errors name the frame and file: a missing frame, an undecodable or truncated image, a
// frame without gaze, a malformed _gt.npy, a previous frame without gaze or cache. With
// skip_bad the sample is left out of its batch (the batch is smaller; a batch that loses
// every sample is skipped) and counted in skipped(); otherwise Next() returns the first
// error in batch order and the loader stops.
#ifndef SAL360_DATA_LOADER_H_
#define SAL360_DATA_LOADER_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/dataset.h"
#include "data/ground_truth.h"
#include "data/image.h"

namespace sal360::data {

enum class GtSource {
  kCache,     // NNNN_gt.npy when present, else generated from the gaze points
  kGenerate,  // always generated from the gaze points
};
enum class FirstFramesPolicy {
  kCentrePrior,  // CentrePriorMap (published)
  kZeros,
};
// "cache"/"generate", "centre"/"zeros" (flag values).
absl::StatusOr<GtSource> ParseGtSource(const std::string& s);
absl::StatusOr<FirstFramesPolicy> ParseFirstFramesPolicy(const std::string& s);

// The previous map of a video's first frames (those with no frame `prev_interval`
// before them), (h, w) in the published scale: CentrePriorMap, or zeros. The loader and
// the inference loop (infer/sequence.h) both take it from here.
std::vector<float> FirstFramesMap(FirstFramesPolicy policy, int h, int w, const GroundTruthOptions& options);

struct SampleOptions {
  int height = 240, width = 480;
  GtSource gt = GtSource::kCache;
  GroundTruthOptions gt_options;
  int prev_interval = 5;  // ≥ 1
  FirstFramesPolicy first_frames = FirstFramesPolicy::kCentrePrior;
  bool fixations = true;  // fill Sample::fixations / Batch::fixations
  DecodeLimits decode_limits;
};

struct Sample {
  FrameRef ref;
  std::vector<float> rgb;          // (H, W, 3) ∈ [0, 1]
  std::vector<float> target;       // (H, W)
  std::vector<float> prev;         // (H, W)
  std::vector<uint8_t> fixations;  // (H, W) or empty
  bool target_from_cache = false, prev_from_cache = false;
};

// Loads one sample (synchronously, in the calling thread).
absl::StatusOr<Sample> LoadSample(const Dataset& dataset, const FrameRef& ref,
                                  const SampleOptions& options);

// G of a frame at (h, w) following options.gt (cache or gaze); `from_cache` (optional)
// tells which. Errors name the frame.
absl::StatusOr<std::vector<float>> FrameGroundTruth(const Dataset& dataset, const FrameRef& ref,
                                                    int h, int w, const SampleOptions& options,
                                                    bool* from_cache = nullptr);

// Generates G from the gaze points at (h, w) and writes NNNN_gt.npy (atomically, in
// the published scale), replacing an existing cache only when `overwrite`. Returns
// whether a file was written.
absl::StatusOr<bool> WriteFrameGtCache(const Dataset& dataset, const FrameRef& ref, int h, int w,
                                       const GroundTruthOptions& options, bool overwrite);

struct Batch {
  int64_t index = 0;  // batch index within the epoch
  int n = 0, height = 0, width = 0;
  std::vector<FrameRef> refs;      // n
  std::vector<float> input;        // (n, H, W, 4)
  std::vector<float> target;       // (n, H, W, 1)
  std::vector<uint8_t> fixations;  // (n, H, W), empty unless sample.fixations
  int skipped = 0;                 // samples of this batch left out (skip_bad)
};

struct LoaderOptions {
  SampleOptions sample;
  int batch = 8;
  bool shuffle = true;
  uint64_t seed = 1;
  int64_t epoch = 0;        // first epoch (Start() changes it)
  int64_t start_batch = 0;  // resume: the first batch index to produce
  bool drop_last = false;
  int threads = 2;   // ≥ 1
  int prefetch = 4;  // batches assembled ahead, ≥ 1
  float map_scale = 1.0f;
  bool skip_bad = false;
  // Data-parallel training: this process's part of every batch. Batch b still covers
  // the positions [b·B, min((b+1)·B, n)) of the epoch's order (the single-process
  // batches), and rank r takes the contiguous slice [m·r/R, m·(r+1)/R) of its m samples
  // (R = shard_count), so the ranks' slices partition each batch in order. A last
  // partial batch with fewer than R samples is dropped (every rank needs one sample);
  // with R > 1 a shard whose samples were all skipped (skip_bad) is delivered empty
  // (n = 0), so every rank sees the same batch indices.
  int shard_rank = 0, shard_count = 1;
};

class Loader {
 public:
  // `items` are the frames of the epoch (e.g. Dataset::FramesOf(split.train)); they must
  // be frames of `dataset`. Starts the workers at (options.epoch, options.start_batch).
  static absl::StatusOr<std::unique_ptr<Loader>> Create(std::shared_ptr<const Dataset> dataset,
                                                        std::vector<FrameRef> items,
                                                        const LoaderOptions& options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch of the epoch, nullopt at its end. After an error the loader stays
  // failed until Start().
  absl::StatusOr<std::optional<Batch>> Next();
  // Stops the workers and restarts at batch `start_batch` of epoch `epoch`.
  absl::Status Start(int64_t epoch, int64_t start_batch);
  // Optional: gives a consumed batch's buffers back (any of input/target/fixations/refs
  // may have been moved out). Later batches are assembled in them instead of in fresh
  // allocations, which saves the page faults of ~20 MB per batch of 8 at 240x480
  // (glibc returns freed blocks of that size to the OS). Never changes the contents of
  // a batch. At most threads + prefetch buffers are kept.
  void Recycle(Batch&& batch);

  int64_t batches_per_epoch() const;
  int64_t num_items() const { return static_cast<int64_t>(items_.size()); }
  const std::vector<FrameRef>& items() const { return items_; }
  // Samples skipped so far (skip_bad) and the first messages (at most 100).
  int64_t skipped() const;
  std::vector<std::string> skip_messages() const;

  // The item order of an epoch: a permutation of 0..n−1 (identity when !shuffle).
  static std::vector<int64_t> EpochOrder(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

 private:
  Loader(std::shared_ptr<const Dataset> dataset, std::vector<FrameRef> items,
         const LoaderOptions& options);
  void StartWorkers();
  void StopWorkers();
  void WorkerLoop();
  absl::StatusOr<Batch> AssembleBatch(int64_t index, Batch reuse,
                                      std::vector<std::string>* skip_msgs);

  std::shared_ptr<const Dataset> dataset_;
  std::vector<FrameRef> items_;
  LoaderOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  std::vector<int64_t> order_;  // of the current epoch
  int64_t epoch_ = 0;
  int64_t next_claim_ = 0;    // next batch index a worker takes
  int64_t next_deliver_ = 0;  // next batch index Next() returns
  int64_t end_batch_ = 0;     // batches in the epoch
  bool stop_ = false;
  bool failed_ = false;
  std::map<int64_t, absl::StatusOr<Batch>> ready_;
  int64_t skipped_ = 0;
  std::vector<std::string> skip_messages_;
  std::vector<Batch> pool_;  // recycled buffers
};

}  // namespace sal360::data

#endif  // SAL360_DATA_LOADER_H_

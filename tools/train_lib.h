// The training loop behind //tools:train, as a library so that the end-to-end tests
// can drive it in-process (stop, resume, compare weights bit for bit).
//
// A run directory holds:
//   last.safetensors   the latest checkpoint (weights, BatchNorm statistics, optimiser
//                      state, progress, config, RNG) — written atomically at the end of
//                      every epoch, every --checkpoint_every steps, and when the run stops
//   best.safetensors   the checkpoint of the epoch with the best validation CC
//   config.json        the run's configuration (also inside every checkpoint)
//   steps.csv          one row per training step: epoch, step, loss, samples/s, elapsed
//   epochs.csv         one row per epoch: train loss, validation CC/KLD, baselines
//   log.jsonl          both kinds of rows as JSON objects ({"kind": "step" | "epoch", ...})
//   report.html        the run at a glance, rendered from config.json and log.jsonl after
//                      every epoch and when the run ends (tools/train_report.h)
// On --resume the logs are cut back to the checkpoint's step, so a run that died
// between a log line and a checkpoint never shows a step twice.
//
// Determinism (CPU): the initial weights come from the seed; the data order of epoch e
// depends only on (seed, e) (TrainingData::StartEpoch); a checkpoint records the epoch
// and the number of batches already consumed in it, the optimiser moments and step
// count, the BatchNorm statistics and the RNG state. Resuming therefore replays the
// exact same sequence of float operations as an uninterrupted run: the final weights
// are bit-identical (tested in tests/tools/train_resume_test.cc).
//
// A non-finite loss stops the run with an error naming the step; last.safetensors keeps
// the last good state (it is never written after a non-finite loss).
#ifndef SAL360_TOOLS_TRAIN_LIB_H_
#define SAL360_TOOLS_TRAIN_LIB_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace sal360::tools {

struct TrainConfig {
  std::string data;          // dataset root; "" = the synthetic dataset (generated into the cache)
  int height = 64, width = 128;
  int batch = 8;
  int epochs = 6;
  int64_t max_steps = 0;     // > 0: stop after this many steps in total (even mid-epoch)
  std::string optimizer = "adam";  // adam | adamw | sgd
  float lr = 1e-3f;
  float momentum = 0.9f;     // sgd only
  float weight_decay = 0.0f;
  std::string loss = "smse";       // smse | skld
  std::string device = "auto";     // auto | cpu | cuda
  std::string table_mode = "nearest";
  std::string convention = "pixel_centre";
  uint64_t seed = 1;
  std::string out = "runs/train";
  int64_t checkpoint_every = 0;    // steps; 0 = at the end of every epoch only
  bool validate = true;
  // Rotate each training batch by a random longitude (a circular shift of the columns,
  // the same for input and target): an exact symmetry of the sphere and of the
  // pixel-centre tables, so free extra data. Drawn from the run's RNG.
  bool roll_augment = true;
  // Dataset reading (tools/model_lib.h DataConfig; the flags of the same names).
  std::string split = "seed";
  std::string split_file;
  int val_videos = 1;
  std::string gt = "cache";
  int prev_interval = 5;
  std::string first_frames = "centre";
  int loader_threads = 2;  // does not change results

  nlohmann::json ToJson() const;
  // Strict: unknown keys or wrong types are errors (a checkpoint's config must be ours).
  static absl::StatusOr<TrainConfig> FromJson(const nlohmann::json& j);
  // Ranges and choices, with messages naming the flag.
  absl::Status Validate() const;
};

// A batch in the network's layout and scale: input (n, H, W, 4) = RGB in [0,1] and the
// previous map x10; target (n, H, W, 1) = ground-truth map x10.
struct HostBatch {
  int n = 0;
  std::vector<float> input, target;
};

// What the trainer needs from a dataset (implemented over data/ by tools/train.cc and
// in memory by the tests).
class TrainingData {
 public:
  virtual ~TrainingData() = default;
  virtual int64_t batches_per_epoch() const = 0;
  // Starts epoch `epoch` (0-based) after its first `position` batches. The order of the
  // batches must depend only on the data, the seed and `epoch`.
  virtual absl::Status StartEpoch(int64_t epoch, int64_t position) = 0;
  // The next batch of the epoch; n == 0 when the epoch is over.
  virtual absl::Status NextBatch(HostBatch& batch) = 0;
  // The validation set in a fixed order, in batches; empty when there is none.
  virtual absl::Status ForEachValidationBatch(
      const std::function<absl::Status(const HostBatch&)>& fn) = 0;
};

// Scores one predicted map against its ground truth (both (H, W), network scale) and
// returns named metrics (e.g. {"cc": .., "kld": ..}); averaged over validation frames.
using MapScorer = std::function<std::map<std::string, double>(const float* pred, const float* gt,
                                                               int h, int w)>;
// Fixed maps scored like the model in every validation, for comparison (e.g.
// "equator": the mean training map); each (H, W) in network scale.
using Baselines = std::map<std::string, std::vector<float>>;

struct TrainResult {
  int64_t steps = 0;        // total steps done (including before a resume)
  int64_t epochs_done = 0;  // completed epochs
  double last_loss = 0;
  std::map<std::string, double> last_val, best_val;  // validation metrics (model)
  std::map<std::string, std::map<std::string, double>> baselines_val;  // last validation
  double seconds = 0;       // wall time of this invocation
  bool stopped_by_signal = false;
};

// Set by SIGINT/SIGTERM handlers (InstallStopHandlers); the loop finishes its step,
// writes last.safetensors and returns.
std::atomic<bool>& StopRequested();
void InstallStopHandlers();

// Trains from scratch into config.out, or continues the run there when `resume` (the
// configuration then comes from out/last.safetensors; `config` may only change
// epochs, max_steps, device, checkpoint_every, validate, data and loader_threads —
// ResumeConfig checks).
absl::StatusOr<TrainResult> Train(const TrainConfig& config, bool resume, TrainingData& data,
                                  const MapScorer& scorer, const Baselines& baselines,
                                  bool show_progress = true);

// The configuration stored in RUN/last.safetensors with the allowed overrides from
// `requested` applied; an error names any other flag that differs (`changed` lists the
// flags the user named on the command line; unnamed flags keep the run's values).
absl::StatusOr<TrainConfig> ResumeConfig(const std::string& run_dir, const TrainConfig& requested,
                                         const std::vector<std::string>& changed);

// Checkpoint metadata keys written by the trainer.
inline constexpr char kMetaTrainConfig[] = "sal360.train.config";
inline constexpr char kMetaTrainProgress[] = "sal360.train.progress";
inline constexpr char kMetaTrainRng[] = "sal360.train.rng";

}  // namespace sal360::tools

#endif  // SAL360_TOOLS_TRAIN_LIB_H_

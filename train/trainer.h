// The training loop: epochs over a TrainingData, the loss, validation against the
// baselines, the checkpoint policy (train/run_dir.h: last every epoch / every
// --checkpoint_every steps / on stop, best by validation CC), the NaN stop, the stop
// signals and --resume. //tools:train wires it to the dataset (train/loader_data.h);
// the tests drive it in-process with data in memory.
//
// Determinism (CPU): the initial weights come from the seed; the data order of epoch e
// depends only on (seed, e) (TrainingData::StartEpoch); a checkpoint records the epoch
// and the number of batches already consumed in it, the optimiser moments and step
// count, the BatchNorm statistics and the RNG state. Resuming therefore replays the
// exact same sequence of float operations as an uninterrupted run: the final weights
// are bit-identical (tests/train/train_resume_test.cc).
//
// A non-finite loss stops the run with an error naming the step; last.safetensors keeps
// the last good state (it is never written after a non-finite loss).
//
// Data parallel (`world` with N > 1 processes, issue #16; docs/distributed.md): every
// rank builds the same model from the seed, then takes rank 0's weights (broadcast). Per
// step each rank runs its slice of the global batch (TrainingData sharded by the
// caller), with the loss normalised by the global batch size (nn/loss.h batch_total),
// so the ranks' gradients sum to the single-process gradient; they are summed by one
// all-reduce over the gradient slab after the backward, or in buckets during it
// (grad_bucket_mb, CPU), and every rank takes the same optimiser step. BatchNorm uses
// each rank's statistics unless sync_bn; before each validation and checkpoint the
// running statistics are taken from rank 0 (as DDP's broadcast_buffers). The stop
// request (a signal on any rank) is agreed on before each step. Validation is split
// across the ranks and its sums reduced. Rank 0 alone writes the run directory
// (checkpoints, logs, report); every rank reads last.safetensors on resume, so the run
// directory must be on a file system every rank sees; a resume needs the same N.
#ifndef SAL360_TRAIN_TRAINER_H_
#define SAL360_TRAIN_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/loader.h"
#include "dist/world.h"
#include "train/config.h"

namespace sal360::train {

// What the trainer needs from a dataset. Batches are data::Batch in the network's
// layout and scale: input (n, H, W, 4) = RGB in [0,1] and the previous map x10; target
// (n, H, W, 1) = ground-truth map x10 (nn::kMapScale).
class TrainingData {
 public:
  virtual ~TrainingData() = default;
  virtual int64_t batches_per_epoch() const = 0;
  // Starts epoch `epoch` (0-based) after its first `position` batches. The order of the
  // batches must depend only on the data, the seed and `epoch`.
  virtual absl::Status StartEpoch(int64_t epoch, int64_t position) = 0;
  // The next batch of the epoch, in `batch` (which holds the batch the trainer has
  // finished with: its buffers may be reused); n == 0 when the epoch is over.
  virtual absl::Status NextBatch(data::Batch& batch) = 0;
  // The validation set in a fixed order, in batches; empty when there is none.
  virtual absl::Status ForEachValidationBatch(const std::function<absl::Status(const data::Batch&)>& fn) = 0;
};

// Scores one predicted map against its ground truth (both (H, W), network scale) and
// returns named metrics (e.g. {"cc": .., "kld": ..}); averaged over validation frames.
using MapScorer =
    std::function<std::map<std::string, double>(const float* pred, const float* gt, int h, int w)>;
// Fixed maps scored like the model in every validation, for comparison (e.g.
// "equator": the mean training map); each (H, W) in network scale.
using Baselines = std::map<std::string, std::vector<float>>;

struct TrainResult {
  int64_t steps = 0;        // total steps done (including before a resume)
  int64_t epochs_done = 0;  // completed epochs
  double last_loss = 0;
  std::map<std::string, double> last_val, best_val;                    // validation metrics (model)
  std::map<std::string, std::map<std::string, double>> baselines_val;  // last validation
  double seconds = 0;                                                  // wall time of this invocation
  bool stopped_by_signal = false;
};

// Set by SIGINT/SIGTERM handlers (InstallStopHandlers); the loop finishes its step,
// writes last.safetensors and returns.
std::atomic<bool>& StopRequested();
void InstallStopHandlers();

// Trains from scratch into config.out, or continues the run there when `resume` (the
// configuration then comes from out/last.safetensors through ResumeConfig).
absl::StatusOr<TrainResult> Train(const TrainConfig& config, bool resume, TrainingData& data,
                                  const MapScorer& scorer, const Baselines& baselines, bool show_progress = true,
                                  dist::World* world = nullptr);

// The configuration stored in RUN/last.safetensors with the options `changed` (named on
// the command line) taken from `requested` where ResumableOptions() allows; an error
// names any other option that differs. Unnamed options keep the run's values.
absl::StatusOr<TrainConfig> ResumeConfig(const std::string& run_dir, const TrainConfig& requested,
                                         const std::vector<std::string>& changed);

// Rotates every image of a host batch (n, h, w, c) by `shift` columns (longitude), in
// place; `row` is scratch.
void RollColumns(std::vector<float>& v, int n, int h, int w, int c, int shift, std::vector<float>& row);

}  // namespace sal360::train

#endif  // SAL360_TRAIN_TRAINER_H_

// A training run's directory and what is in it:
//   last.safetensors   the latest checkpoint (weights, BatchNorm statistics, optimiser
//                      state, progress, config, RNG), written atomically
//   best.safetensors   the checkpoint of the epoch with the best validation CC
//   config.json        the run's configuration (also inside every checkpoint)
//   steps.csv          one row per training step: epoch, step, loss, samples/s, elapsed
//   epochs.csv         one row per epoch: train loss, validation CC/KLD, baselines
//   log.jsonl          both kinds of rows as JSON objects ({"kind": "step" | "epoch", ...})
//   report.html        the run at a glance (train/report.h), from config.json and log.jsonl
// On resume the logs are cut back to the checkpoint's step, so a run that died between
// a log line and a checkpoint never shows a step twice.
#ifndef SAL360_TRAIN_RUN_DIR_H_
#define SAL360_TRAIN_RUN_DIR_H_

#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sal360::train {

inline constexpr char kLastCheckpoint[] = "last.safetensors";
inline constexpr char kBestCheckpoint[] = "best.safetensors";

// Where a run is: everything a resumed run needs besides the tensors (stored in the
// checkpoint under nn::kMetaTrainProgress).
struct TrainProgress {
  int64_t epoch = 0;     // current epoch (0-based)
  int64_t position = 0;  // batches of `epoch` already consumed
  int64_t step = 0;      // total optimiser steps
  double best_val_cc = -std::numeric_limits<double>::infinity();
  int64_t best_epoch = -1;
  double elapsed_s = 0;  // training wall time over all invocations
  int ranks = 1;         // processes of the run (a resume needs the same number)
  // The current epoch's training loss so far (sum over its steps, and their count), so
  // that a run resumed mid-epoch reports the epoch's loss over all of its steps.
  double epoch_loss_sum = 0;
  int64_t epoch_loss_steps = 0;
  double last_loss = 0;                    // the last step's loss
  std::map<std::string, double> best_val;  // validation metrics of best_epoch

  std::string ToJson() const;
  // Errors name `file`.
  static absl::StatusOr<TrainProgress> FromJson(const std::string& text, const std::string& file);
};

class RunDir {
 public:
  explicit RunDir(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  std::string last_path() const { return dir_ + "/" + kLastCheckpoint; }
  std::string best_path() const { return dir_ + "/" + kBestCheckpoint; }
  bool has_last() const { return Exists(last_path()); }
  bool has_best() const { return Exists(best_path()); }

  // Creates the directory; a fresh run refuses a directory that already holds one.
  absl::Status Prepare(bool resume) const;
  absl::Status WriteConfig(const std::string& json_text) const;
  // Renders report.html from the logs; a failure is reported on stderr but does not
  // stop training.
  void UpdateReport() const;

  static bool Exists(const std::string& path);

 private:
  std::string dir_;
};

// An exclusive lock on a run directory (DIR/.lock, flock), held while the object lives:
// a second train into the same --out is refused instead of interleaving its logs with
// the first's (issue #18). Acquiring it also removes the temporary files a killed run
// left ("NAME.tmp.XXXXXX" of util::AtomicFile), which no live writer can own then.
class RunLock {
 public:
  static absl::StatusOr<RunLock> Acquire(const std::string& dir);
  RunLock(RunLock&& o) noexcept : fd_(o.fd_), removed_(o.removed_) { o.fd_ = -1; }
  RunLock& operator=(RunLock&&) = delete;
  RunLock(const RunLock&) = delete;
  ~RunLock();
  int removed_temporaries() const { return removed_; }

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_ = -1;
  int removed_ = 0;
};

// Append-only log files with a header line; cut back to a step on resume.
class RunLogs {
 public:
  RunLogs() = default;
  RunLogs(const RunLogs&) = delete;
  RunLogs& operator=(const RunLogs&) = delete;
  ~RunLogs();

  // On resume, step rows after `keep_up_to_step` and epoch rows after `keep_epochs`
  // (the checkpoint's completed epochs) are dropped: a run killed between a log append
  // and the checkpoint that covers it never shows a step or an epoch twice.
  absl::Status Open(const RunDir& dir, int64_t keep_up_to_step, int64_t keep_epochs, bool resume);
  void Step(int64_t epoch, int64_t step, double loss, double samples_per_s, double elapsed);
  // One row per epoch; columns: epoch, step, train_loss, then val_<metric> and
  // <baseline>_<metric> in sorted order (the header is written with the first row).
  void Epoch(int64_t epoch, int64_t step, double train_loss, const std::map<std::string, double>& val,
             const std::map<std::string, std::map<std::string, double>>& baselines);

 private:
  std::string steps_path_, epochs_path_, jsonl_path_;
  FILE* steps_ = nullptr;
  FILE* epochs_ = nullptr;
  FILE* jsonl_ = nullptr;
};

}  // namespace sal360::train

#endif  // SAL360_TRAIN_RUN_DIR_H_

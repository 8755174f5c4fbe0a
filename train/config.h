// The training run's configuration: every option declared once (util/options.h), with
// its default, help, rule and whether --resume may change it. The flags of
// //tools:train, config.json, the checkpoint's copy of it, validation and the resume
// rule are all expanded from these rows (and the dataset/temporal rows of
// data/source.h, which TrainConfig inherits).
#ifndef SAL360_TRAIN_CONFIG_H_
#define SAL360_TRAIN_CONFIG_H_

#include <cstdint>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/source.h"
#include "infer/model.h"
#include "nlohmann/json.hpp"
#include "util/options.h"

#define SAL360_TRAIN_OPTIONS(X)                                                                               \
  X(int, height, 64, opt::kFixed, opt::Any(), "Network input height (multiple of 8, >= 16); 240 is the published size") \
  X(int, width, 128, opt::kFixed, opt::Any(), "Network input width (multiple of 8, >= 16; normally 2 x height)")        \
  X(int, batch, 8, opt::kFixed, opt::InRange(1, 4096), "Batch size")                                                    \
  X(int, epochs, 6, opt::kMayChange, opt::AtLeast(1), "Epochs over the training videos")                                \
  X(int64_t, max_steps, 0, opt::kMayChange, opt::AtLeast(0), "Stop after this many optimiser steps in total (0: no limit)") \
  X(std::string, optimizer, "adam", opt::kFixed, opt::OneOf({"adam", "adamw", "sgd"}), "adam | adamw | sgd")            \
  X(float, lr, 1e-3f, opt::kFixed, opt::Finite(), "Learning rate")                                                      \
  X(float, momentum, 0.9f, opt::kFixed, opt::Finite(), "SGD momentum (sgd only)")                                       \
  X(float, weight_decay, 0.0f, opt::kFixed, opt::Finite(), "Weight decay (L2 for adam/sgd, decoupled for adamw)")       \
  X(std::string, loss, "smse", opt::kFixed, opt::OneOf({"smse", "skld"}),                                               \
    "smse (sphere-weighted MSE, published) | skld (sphere KL divergence)")                                              \
  SAL360_DEVICE_OPTION(X)                                                                                                \
  X(std::string, table_mode, "nearest", opt::kFixed, opt::Satisfies(::sal360::infer::TableModeViolation),              \
    "Spherical tables: nearest | bilinear")                                                                             \
  X(std::string, convention, "pixel_centre", opt::kFixed, opt::Satisfies(::sal360::infer::ConventionViolation),        \
    "Table convention: pixel_centre | seed")                                                                            \
  X(uint64_t, seed, 1, opt::kFixed, opt::Any(), "Seed of the initial weights, the data order and the augmentation")     \
  X(std::string, out, "runs/train", opt::kMayChange, opt::NonEmpty(), "Run directory (checkpoints and logs)")           \
  X(int64_t, checkpoint_every, 0, opt::kMayChange, opt::AtLeast(0),                                                     \
    "Also write last.safetensors every N steps (0: at epoch ends only)")                                                \
  X(bool, validate, true, opt::kMayChange, opt::Any(),                                                                  \
    "Validate on the held-out videos after every epoch (CC/KLD, baselines)")                                            \
  X(bool, roll_augment, true, opt::kFixed, opt::Any(),                                                                  \
    "Rotate each batch by a random longitude (a circular shift of the columns, the same for input and "                \
    "target): an exact symmetry of the sphere and of the pixel-centre tables")                                         \
  X(int, loader_threads, 2, opt::kMayChange, opt::InRange(1, 64), "Background threads assembling batches (no effect on results)") \
  X(bool, sync_bn, false, opt::kFixed, opt::Any(),                                                                      \
    "Several processes (mpirun): batch-norm statistics over every rank's samples (CPU only); default: each "          \
    "rank's own, as PyTorch DDP")                                                                                       \
  X(double, grad_bucket_mb, 0, opt::kMayChange, opt::InRange(0, 4096),                                                  \
    "Several processes on the CPU: all-reduce the gradients in buckets of this many MiB while the backward "           \
    "runs (0: one all-reduce of the whole slab after the backward; no effect on results)")

namespace sal360::train {

struct TrainConfig : data::DataConfig {
  SAL360_TRAIN_OPTIONS(SAL360_OPTION_FIELD)

  // config.json: every option (dataset, temporal, training) and the project version.
  nlohmann::json ToJson() const;
  // Strict: unknown keys or wrong types are errors (a checkpoint's config must be ours);
  // keys a older run did not write keep their defaults.
  static absl::StatusOr<TrainConfig> FromJson(const nlohmann::json& j);
  // Each option's rule, then the ones that join options (shape, batch, optimiser), with
  // messages naming the flag.
  absl::Status Validate() const;
};

// Names of the options a resumed run may change ("epochs", "device", ...).
std::set<std::string> ResumableOptions();
// Names of every option of the configuration.
std::set<std::string> OptionNames();

}  // namespace sal360::train

#endif  // SAL360_TRAIN_CONFIG_H_

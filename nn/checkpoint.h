// Checkpoints of the spherical U-Net as safetensors files (util/safetensors.h).
//
// Tensors (all little-endian):
//   model weights, exactly the published PyTorch state_dict (so a converted published
//   checkpoint loads unchanged, and ours load into PyTorch with load_state_dict):
//     conv{1..7}.weight  F32 (Cout, Cin, 3, 3)      conv{1..7}.bias  F32 (Cout)
//     bn{1..6}.weight, bn{1..6}.bias, bn{1..6}.running_mean, bn{1..6}.running_var  F32 (C)
//     bn{1..6}.num_batches_tracked  I64 ()  (a 0-d tensor, as PyTorch saves it)
//   optimiser state (optional), per parameter in the same PyTorch shapes:
//     optim.exp_avg.<param>, optim.exp_avg_sq.<param>   (adam, adamw)
//     optim.momentum_buffer.<param>                     (sgd with momentum)
//     optim.step  I64 ()
// __metadata__ (string -> string):
//   sal360.format      "sal360-checkpoint v1"      sal360.version  project version
//   sal360.table_mode  "nearest" | "bilinear"      sal360.convention "pixel_centre" | "seed"
//   sal360.optim.kind  "adam" | "adamw" | "sgd"    (with optimiser state)
//   plus the caller's keys (the trainer stores progress, config and RNG state as JSON
//   strings under "sal360.train.*"; see train/trainer.h).
//
// Loading is strict: every expected tensor must be present with the expected dtype and
// shape (the error names the tensor and both shapes), and a tensor that is neither a
// model tensor nor under "optim." is an error (like PyTorch's strict load_state_dict).
// A file without sal360 metadata (a converted published checkpoint) is accepted and
// gets the default table mode and convention.
#ifndef SAL360_NN_CHECKPOINT_H_
#define SAL360_NN_CHECKPOINT_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "util/safetensors.h"

namespace sal360::nn {

inline constexpr char kCheckpointFormat[] = "sal360-checkpoint v1";
inline constexpr char kMetaFormat[] = "sal360.format";
inline constexpr char kMetaVersion[] = "sal360.version";
inline constexpr char kMetaTableMode[] = "sal360.table_mode";
inline constexpr char kMetaConvention[] = "sal360.convention";
inline constexpr char kMetaOptimKind[] = "sal360.optim.kind";
// Written by the trainer (train/trainer.h): the run's configuration (config.json's
// text), its progress and its RNG state. Inference reads the training height from the
// first.
inline constexpr char kMetaTrainConfig[] = "sal360.train.config";
inline constexpr char kMetaTrainProgress[] = "sal360.train.progress";
inline constexpr char kMetaTrainRng[] = "sal360.train.rng";

// Names are sphere::ModeName / sphere::ConventionName; these parse them back.
absl::StatusOr<sphere::TableMode> ParseTableMode(const std::string& name);
absl::StatusOr<sphere::Convention> ParseConvention(const std::string& name);

// The model's state dict (PyTorch names and shapes) into `out.tensors`, and its table
// mode and convention into `out.metadata`.
void ExportModel(const SphericalUNet& model, util::Safetensors& out);
// Strict import of the state dict (see above). `file` names the source in errors. On
// error the model may be partly overwritten.
[[nodiscard]] absl::Status ImportModel(const util::Safetensors& st, const std::string& file,
                                       SphericalUNet& model);

void ExportOptimizer(const SphericalUNet& model, const Optimizer& optimizer, util::Safetensors& out);
// The file's optimiser kind must equal the optimiser's; every state tensor must be
// present with the parameter's shape.
[[nodiscard]] absl::Status ImportOptimizer(const util::Safetensors& st, const std::string& file,
                                           const SphericalUNet& model, Optimizer& optimizer);

// The table configuration stored in a checkpoint; defaults (nearest, pixel_centre) for
// keys that are absent. An unknown value or a foreign sal360.format is an error.
[[nodiscard]] absl::StatusOr<ModelConfig> ModelConfigFromCheckpoint(const util::Safetensors& st,
                                                                    const std::string& file);

// Model (+ optimiser when non-null) + `metadata`, written atomically to `path`.
[[nodiscard]] absl::Status SaveCheckpoint(const std::string& path, const SphericalUNet& model,
                                          const Optimizer* optimizer,
                                          const std::map<std::string, std::string>& metadata);

}  // namespace sal360::nn

#endif  // SAL360_NN_CHECKPOINT_H_

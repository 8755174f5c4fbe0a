// A trained model ready for inference: the options test and predict share (declared
// once, util/options.h), loading a checkpoint with its table mode and convention,
// the resolution rule, and the --tables_dir loading that train shares too.
#ifndef SAL360_INFER_MODEL_H_
#define SAL360_INFER_MODEL_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nn/device.h"
#include "nn/model.h"
#include "util/options.h"
#include "util/safetensors.h"

namespace sal360::infer {
// Rules of the table options, from nn's parsers ("" = unset is fine).
std::string TableModeViolation(const std::string& value);
std::string ConventionViolation(const std::string& value);
}  // namespace sal360::infer

// --device, --gpu_engine, --precision: rows shared by train (train/config.h) and the
// inference tools. The last two are CUDA settings (nn/math_mode.h); the CPU accepts only
// their defaults.
#define SAL360_DEVICE_OPTION(X)                                                                      \
  X(std::string, device, "auto", opt::kMayChange, opt::OneOf({"auto", "cpu", "cuda"}), "auto | cpu | cuda") \
  X(std::string, gpu_engine, "native", opt::kMayChange, opt::OneOf({"native", "cudnn"}),             \
    "CUDA engine: native (our kernels + cuBLAS) | cudnn (cuDNN graph API: convolutions, batch-norm + ReLU, max-pool)")  \
  X(std::string, precision, "fp32", opt::kMayChange, opt::OneOf({"fp32", "tf32", "bf16"}),           \
    "CUDA GEMM math: fp32 | tf32 | bf16 (tensor cores; FP32 storage, weights and optimiser)")

// --tables_dir: not part of a run's configuration (the tables equal the generated ones).
#define SAL360_TABLES_DIR_OPTION(X)                                                              \
  X(std::string, tables_dir, "", opt::kMayChange, opt::Any(),                                    \
    "Directory of neighbour tables to load instead of generating them: gen_coords output "       \
    "(tables.json + one .npy per level; must match the model's size, mode and convention) or "  \
    "the published support/HxW.pt files (nearest)")

#define SAL360_INFER_OPTIONS(X)                                                                        \
  X(std::string, checkpoint, "runs/train/best.safetensors", opt::kFixed, opt::NonEmpty(),              \
    "Checkpoint (.safetensors) to run")                                                                \
  SAL360_DEVICE_OPTION(X)                                                                              \
  X(std::string, table_mode, "", opt::kFixed, opt::Satisfies(::sal360::infer::TableModeViolation),     \
    "nearest | bilinear (default: from the checkpoint)")                                               \
  X(std::string, convention, "", opt::kFixed, opt::Satisfies(::sal360::infer::ConventionViolation),    \
    "pixel_centre | seed (default: from the checkpoint; seed for a converted published checkpoint)")    \
  X(int, height, 0, opt::kFixed, opt::AtLeast(0),                                                      \
    "Network input height; 0 = the checkpoint's training height (else 240)")                          \
  X(int, width, 0, opt::kFixed, opt::AtLeast(0), "Network input width; 0 = 2 x height")                 \
  SAL360_TABLES_DIR_OPTION(X)

namespace sal360::infer {

struct InferConfig {
  SAL360_INFER_OPTIONS(SAL360_OPTION_FIELD)
};
absl::Status ValidateInferConfig(const InferConfig& config);

// --device (auto | cpu | cuda) with an error naming the flag.
absl::StatusOr<nn::Device> ParseDevice(const std::string& value);
// ParseDevice, then --gpu_engine and --precision applied to that device's context
// (nn::Context::SetMath): an error names the flags when the device cannot do them (the
// CPU with anything but native/fp32, cudnn where cuDNN's graph API is unusable).
absl::StatusOr<nn::Device> ParseDeviceAndMath(const std::string& device, const std::string& gpu_engine,
                                              const std::string& precision);

// A model from a checkpoint file: table mode and convention from the checkpoint's
// metadata unless overridden (empty string = the checkpoint's).
struct LoadedModel {
  std::unique_ptr<nn::SphericalUNet> model;
  util::Safetensors file;  // tensors and __metadata__ as read
  std::string path;
};
// A torch.save file (zip archive or the legacy stream), by its first bytes.
bool IsTorchFile(const std::string& path);
// A PyTorch checkpoint (data/torch_file.h: dict(epoch, iter, state_dict), or a bare
// state dict; "module." prefixes stripped) as our checkpoint's tensors: floating tensors
// as F32 (float32 exact; float64/16/bf16 rounded), num_batches_tracked as I64 (0 when
// absent, as PyTorch < 0.4.1 saved none), metadata table_mode nearest and convention
// seed (the published method's tables). Names and shapes are checked by ImportModel.
absl::StatusOr<util::Safetensors> TorchCheckpointToSafetensors(const std::string& path);
// Either kind of checkpoint file: torch.save files through the above, else safetensors.
absl::StatusOr<util::Safetensors> ReadCheckpointFile(const std::string& path);

absl::StatusOr<LoadedModel> LoadModel(const std::string& path, nn::Device device,
                                      const std::string& table_mode_override,
                                      const std::string& convention_override);

// Memory (issue #18). The host memory this process may still use: MemAvailable of
// /proc/meminfo (0 when unknown).
int64_t AvailableHostBytes();
// "1.5 GiB", "165 TiB".
std::string FormatBytes(int64_t bytes);
// OK when the model at (batch, height, width) fits (nn::EstimateMemory against
// AvailableHostBytes; on the CPU device only — a CUDA device's memory is checked by its
// own allocator); otherwise ResourceExhausted with the estimate, what is available and
// `flags` (e.g. "--height/--width or --batch") to lower.
absl::Status CheckMemory(int64_t batch, int64_t height, int64_t width, sphere::TableMode mode, nn::Device device,
                         const std::string& flags);

// The training height stored in a checkpoint's training config, if any.
std::optional<int> TrainingHeight(const util::Safetensors& checkpoint);

// The resolution to run at: --height (0: the checkpoint's training height, else 240)
// and --width (0: 2 x height), checked against the model's input rule.
absl::StatusOr<std::pair<int, int>> Resolution(const InferConfig& config, const LoadedModel& model);

// --tables_dir: loads the spherical neighbour tables of every pyramid level
// (nn::kNumLevels) of a model of this configuration at (height, width) from a directory
// written by `bazel run //tools:gen_coords` into the process cache
// (sphere::CacheTablesFromDir), so the model uses them instead of generating them. Call
// before the model's first Forward at that size. tables.json must match the model's
// table mode and convention (radius 1 row) and hold every level; errors name the file.
// Without tables.json, the published support/HxW.pt files (data/published_tables.h) are
// loaded when present (nearest mode only).
// `dir` is a user path (util::UserPath applies); empty = nothing to do.
absl::Status LoadTablesDir(const std::string& dir, int height, int width, const nn::ModelConfig& config);

}  // namespace sal360::infer

#endif  // SAL360_INFER_MODEL_H_

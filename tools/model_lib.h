// Shared pieces of the model tools (train, test, predict, bench): user paths under
// `bazel run`, the cache directory, loading a checkpoint for inference, and packing
// host arrays into the network's input layout.
#ifndef SAL360_TOOLS_MODEL_LIB_H_
#define SAL360_TOOLS_MODEL_LIB_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/split.h"
#include "data/synthetic.h"
#include "nn/device.h"
#include "nn/model.h"
#include "util/file.h"
#include "util/safetensors.h"

namespace sal360::tools {

// The published input/target scale: maps enter and leave the network multiplied by 10.
inline constexpr float kMapScale = 10.0f;

using util::UserPath;  // relative paths resolve against where `bazel run` was typed

// $SAL360_CACHE, else $XDG_CACHE_HOME/sal360, else $HOME/.cache/sal360, else
// /tmp/sal360-cache.
std::string CacheDir();

// Parses --device (auto | cpu | cuda) with an error naming the flag.
absl::StatusOr<nn::Device> DeviceFromFlag(const std::string& value);

// A model ready for inference from a checkpoint file: table mode and convention from
// the checkpoint's metadata unless overridden (empty string = use the checkpoint's).
struct LoadedModel {
  std::unique_ptr<nn::SphericalUNet> model;
  util::Safetensors file;  // tensors and __metadata__ as read
};
absl::StatusOr<LoadedModel> LoadModelForInference(const std::string& path, nn::Device device,
                                                  const std::string& table_mode_override,
                                                  const std::string& convention_override);

// --tables_dir: loads the spherical neighbour tables of every pyramid level
// (nn::kNumLevels) of a model of this configuration at (height, width) from a directory
// written by `bazel run //tools:gen_coords` into the process cache
// (sphere::CacheTablesFromDir), so the model uses them instead of generating them. Call
// before the model's first Forward at that size. tables.json must match the model's
// table mode and convention (radius 1 row) and hold every level; errors name the file.
// `dir` is a user path (UserPath applies); empty = nothing to do.
absl::Status LoadTablesDir(const std::string& dir, int height, int width, const nn::ModelConfig& config);

// The training height stored in a checkpoint's training config, if any.
std::optional<int> TrainingHeight(const util::Safetensors& checkpoint);

// ---- Data (train and test read the dataset the same way) ----

// The embedded synthetic dataset `train` and `test` use when no --data is given.
data::SyntheticOptions DefaultSyntheticOptions();

// How a tool finds its frames; the flags of the same names.
struct DataConfig {
  std::string data;            // dataset root; "" = the default synthetic dataset
  // "seed": the published selection; "file": split_file; "": file when split_file is
  // given, else seed (data::ResolveSplitMode, which also rejects "seed" with a file).
  std::string split = "seed";
  std::string split_file;
  int val_videos = 1;          // held-out validation videos taken from the training set
  std::string gt = "cache";    // cache | generate
  int prev_interval = 5;
  std::string first_frames = "centre";  // centre | zeros
};

struct OpenedData {
  std::string root;  // the dataset directory actually used
  std::shared_ptr<const data::Dataset> dataset;
  data::Split split;
  data::SampleOptions sample;  // for (height, width) and the flags above
};
// Generates the synthetic dataset into the cache when needed (with a progress line),
// opens the dataset, computes the split. Errors name the flag or the file.
absl::StatusOr<OpenedData> OpenData(const DataConfig& config, int height, int width);

// The equator-bias baseline: the mean training ground truth at (height, width)
// (data::MeanMapAccumulator), from at most `max_frames` training frames spread evenly
// over the set (the mean converges long before; the cap bounds the time on the real
// dataset).
absl::StatusOr<std::vector<float>> EquatorPrior(const OpenedData& data, int max_frames = 2000);

// One image of network input, (H, W, 4) channels-last: rgb (H, W, 3) in [0,1] and the
// previous map already in the network's scale (x10), or zeros when `prev` is null.
void PackInput(const float* rgb_hwc, const float* prev_hw, int h, int w, float* dst_hw4);

}  // namespace sal360::tools

#endif  // SAL360_TOOLS_MODEL_LIB_H_

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
#include "nn/device.h"
#include "nn/model.h"
#include "util/safetensors.h"

namespace sal360::tools {

// The published input/target scale: maps enter and leave the network multiplied by 10.
inline constexpr float kMapScale = 10.0f;

// `bazel run` starts binaries inside the runfiles tree; relative paths the user typed
// are relative to the directory they ran bazel from (BUILD_WORKING_DIRECTORY). Absolute
// paths and runs outside bazel are unchanged.
std::string UserPath(const std::string& path);

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

// One image of network input, (H, W, 4) channels-last: rgb (H, W, 3) in [0,1] and the
// previous map already in the network's scale (x10), or zeros when `prev` is null.
void PackInput(const float* rgb_hwc, const float* prev_hw, int h, int w, float* dst_hw4);

}  // namespace sal360::tools

#endif  // SAL360_TOOLS_MODEL_LIB_H_

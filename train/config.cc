#include "train/config.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "util/version.h"

namespace sal360::train {

using nlohmann::json;

nlohmann::json TrainConfig::ToJson() const {
  const TrainConfig& config = *this;
  json j = json::object();
  SAL360_TEMPORAL_OPTIONS(SAL360_OPTION_TO_JSON)
  SAL360_DATASET_OPTIONS(SAL360_OPTION_TO_JSON)
  SAL360_TRAIN_OPTIONS(SAL360_OPTION_TO_JSON)
  j["version"] = kVersion;
  return j;
}

absl::StatusOr<TrainConfig> TrainConfig::FromJson(const json& j) {
  TrainConfig config;
  if (!j.is_object()) return absl::InvalidArgumentError("training config is not a JSON object");
  try {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      const json& value = it.value();
      SAL360_TEMPORAL_OPTIONS(SAL360_OPTION_FROM_JSON)
      SAL360_DATASET_OPTIONS(SAL360_OPTION_FROM_JSON)
      SAL360_TRAIN_OPTIONS(SAL360_OPTION_FROM_JSON)
      if (key == "version") continue;
      return absl::InvalidArgumentError(absl::StrCat("training config: unknown key '", key, "'"));
    }
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("training config: ", e.what()));
  }
  return config;
}

absl::Status TrainConfig::Validate() const {
  const TrainConfig& config = *this;
  SAL360_TRAIN_OPTIONS(SAL360_OPTION_CHECK)
  if (absl::Status s = data::ValidateDataConfig(config); !s.ok()) return s;
  const std::string shape = nn::SphericalUNet::CheckInputShape(nn::Shape{std::max(batch, 1), height, width, 4});
  if (!shape.empty()) return absl::InvalidArgumentError(absl::StrCat("--height/--width: ", shape));
  if (height / 8 * (width / 8) * batch < 2) {
    return absl::InvalidArgumentError("--batch 1 needs a larger image: BatchNorm needs 2 values per channel");
  }
  nn::OptimConfig oc;
  oc.kind = optimizer;
  oc.lr = lr;
  oc.weight_decay = weight_decay;
  oc.momentum = optimizer == "sgd" ? momentum : 0.0f;
  return nn::ValidateOptimConfig(oc);
}

std::set<std::string> ResumableOptions() {
  std::set<std::string> names;
  SAL360_TEMPORAL_OPTIONS(SAL360_OPTION_RESUMABLE)
  SAL360_DATASET_OPTIONS(SAL360_OPTION_RESUMABLE)
  SAL360_TRAIN_OPTIONS(SAL360_OPTION_RESUMABLE)
  return names;
}

std::set<std::string> OptionNames() {
  std::set<std::string> names;
  SAL360_TEMPORAL_OPTIONS(SAL360_OPTION_NAME)
  SAL360_DATASET_OPTIONS(SAL360_OPTION_NAME)
  SAL360_TRAIN_OPTIONS(SAL360_OPTION_NAME)
  return names;
}

}  // namespace sal360::train

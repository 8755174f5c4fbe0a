// Fuzz target: the safetensors reader (util/safetensors.h) and what a checkpoint's
// metadata feeds: the model configuration and, for resume, the training configuration
// and progress.
#include <cstdint>

#include "nlohmann/json.hpp"
#include "nn/checkpoint.h"
#include "tests/fuzz/fuzz_util.h"
#include "train/config.h"
#include "train/run_dir.h"
#include "util/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto st = sal360::util::ParseSafetensors(sal360::fuzz::Bytes(data, size), "fuzz.safetensors");
  if (!st.ok()) return 0;
  (void)sal360::nn::ModelConfigFromCheckpoint(*st, "fuzz.safetensors");
  for (const auto& [name, t] : st->tensors) (void)st->GetFloat32("fuzz.safetensors", name, t.shape);
  if (auto p = st->GetMetadata("fuzz.safetensors", sal360::nn::kMetaTrainProgress); p.ok()) {
    (void)sal360::train::TrainProgress::FromJson(*p, "fuzz.safetensors");
  }
  if (auto c = st->GetMetadata("fuzz.safetensors", sal360::nn::kMetaTrainConfig); c.ok()) {
    const nlohmann::json j = nlohmann::json::parse(*c, nullptr, false);
    if (!j.is_discarded()) {
      auto config = sal360::train::TrainConfig::FromJson(j);
      if (config.ok()) (void)config->Validate();
    }
  }
  return 0;
}

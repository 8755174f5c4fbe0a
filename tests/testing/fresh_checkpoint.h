// A checkpoint of a freshly initialised model (default configuration, seeded), for the
// tests that need a valid checkpoint to run a tool with and care nothing for its weights.
#ifndef SAL360_TESTS_TESTING_FRESH_CHECKPOINT_H_
#define SAL360_TESTS_TESTING_FRESH_CHECKPOINT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "nn/checkpoint.h"
#include "nn/model.h"

namespace sal360::testing {

inline absl::Status WriteFreshCheckpoint(const std::string& path, uint64_t seed = 3) {
  nn::SphericalUNet model(nn::Device::kCpu, nn::ModelConfig{});
  nn::Rng rng(seed);
  model.Initialize(rng);
  return nn::SaveCheckpoint(path, model, nullptr, {});
}

}  // namespace sal360::testing

#endif  // SAL360_TESTS_TESTING_FRESH_CHECKPOINT_H_

// Fuzz target: the .npy reader (util/npy.h) and the ground-truth cache check built on it.
#include <cstdint>

#include "data/ground_truth.h"
#include "tests/fuzz/fuzz_util.h"
#include "util/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes = sal360::fuzz::Bytes(data, size);
  auto a = sal360::util::ParseNpy(bytes, "fuzz.npy");
  if (a.ok()) (void)a->ToDoubles();
  (void)sal360::data::ValidateGtCacheBytes(bytes, "fuzz_gt.npy");
  return 0;
}

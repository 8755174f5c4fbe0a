// Fuzz target: the safe pickle reader (data/pickle.h), plain-data mode as for vinfo.pkl,
// then the dataset's reading of the value (GazeTableFromPickle).
#include <cstdint>

#include "data/dataset.h"
#include "data/pickle.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sal360::data::PickleLimits limits;  // small limits: the limit paths get fuzzed too
  limits.max_values = int64_t{1} << 16;
  limits.max_string_bytes = int64_t{1} << 20;
  auto v = sal360::data::ParsePickle(sal360::fuzz::Bytes(data, size), "fuzz.pkl", limits);
  if (v.ok()) (void)sal360::data::GazeTableFromPickle(*v, "fuzz.pkl");
  return 0;
}

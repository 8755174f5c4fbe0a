// Fuzz target: torch.save files, legacy and zip (data/torch_file.h: allow-listed
// unpickling, libzip, storages and views), then the state-dict extraction.
#include <cstdint>

#include "data/torch_file.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sal360::data::TorchLimits limits;
  limits.max_tensor_elements = int64_t{1} << 22;
  auto f = sal360::data::ParseTorchFile(sal360::fuzz::Bytes(data, size), "fuzz.pt", limits);
  if (f.ok()) (void)sal360::data::TorchStateDict(*f);
  return 0;
}

// Fuzz target: neighbour-table files (sphere/tables.h LoadGatherTable): tables.json and
// the level's (H, W, 8, 2) .npy. Input: 2 bytes (little-endian) n, then n bytes of
// tables.json, then the .npy bytes; loaded for an 8x16 nearest table.
#include <cstdint>

#include "sphere/tables.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t n = std::min<size_t>(data[0] | (size_t{data[1]} << 8), size - 2);
  const std::string& dir = sal360::fuzz::ScratchDir();
  sal360::fuzz::WriteOrDie(dir + "/tables.json", sal360::fuzz::Bytes(data + 2, n));
  sal360::fuzz::WriteOrDie(dir + "/8x16.npy", sal360::fuzz::Bytes(data + 2 + n, size - 2 - n));
  sal360::sphere::TableSpec spec;
  spec.height = 8;
  spec.width = 16;
  (void)sal360::sphere::LoadGatherTable(dir, spec);
  return 0;
}

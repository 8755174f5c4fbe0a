// Fuzz target: JPEG/PNG decoding through our size limits (data/image.h, stb_image).
#include <cstdint>

#include "data/image.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sal360::data::DecodeLimits limits;
  limits.max_pixels = int64_t{1} << 22;  // 4 M pixels: large enough for every seed
  (void)sal360::data::DecodeImage(sal360::fuzz::Bytes(data, size), "fuzz.img", 3, limits);
  return 0;
}

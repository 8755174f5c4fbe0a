// Fuzz target: video demuxing and decoding through our FFmpeg wrapper (data/video.h:
// the protocol whitelist, refused demuxers, size limits, truncation, conversion). The
// input is written to a file (the reader opens paths) and up to 8 frames are decoded.
#include <cstdint>

#include "data/video.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sal360::fuzz::ScratchDir() + "/input.mp4";
  sal360::fuzz::WriteOrDie(path, sal360::fuzz::Bytes(data, size));
  sal360::data::VideoLimits limits;
  limits.max_pixels = int64_t{1} << 20;
  limits.max_frames = 64;
  auto reader = sal360::data::VideoReader::Open(path, limits);
  if (!reader.ok()) return 0;
  sal360::data::VideoFrame frame;
  for (int i = 0; i < 8; ++i) {
    auto more = (*reader)->Next(&frame);
    if (!more.ok() || !*more) break;
  }
  return 0;
}

// Reading a saliency (or fixation) map from a file a user hands us, for scoring:
//   .npy  shape (H, W) or (1, H, W), any numeric dtype util/npy.h reads (float32 and
//         float64 are the usual ones), C order;
//   .png  8- or 16-bit, greyscale (with or without alpha), or RGB(A) whose three colour
//         channels are equal everywhere; the raw integer levels are the values (every
//         metric is invariant to a positive scale). Alpha is ignored.
//   NAME_WxH_32b.bin / NAME_WxHxN_32b.bin  Salient360!'s raw float32 maps
//         (data/salient360.h); ReadSaliencyMap takes map `frame` of an N-map file.
// The extension decides the format (case-insensitive). Errors name the file and the
// problem; limits: at most 16384 pixels per side and max_bytes of file.
#ifndef SAL360_DATA_MAP_FILE_H_
#define SAL360_DATA_MAP_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sal360::data {

struct SaliencyMap {
  int height = 0, width = 0;
  std::vector<double> values;  // (height, width), row-major
};

inline constexpr int kMaxMapSide = 16384;

// A NaN or ±Inf value is an error naming the file and the pixel.
absl::StatusOr<SaliencyMap> ReadSaliencyMap(const std::string& path,
                                            int64_t max_bytes = int64_t{1} << 30, int64_t frame = 0);
// The number of maps in the file: N for a Salient360! NAME_WxHxN_32b.bin, else 1.
absl::StatusOr<int64_t> SaliencyMapFrames(const std::string& path);

// True for the extensions ReadSaliencyMap reads (.npy, .png, _32b.bin; any case).
bool IsSaliencyMapFile(const std::string& path);

}  // namespace sal360::data

#endif  // SAL360_DATA_MAP_FILE_H_

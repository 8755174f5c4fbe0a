// Images in and out of files: stb_image decoding (JPEG, PNG) from memory with size
// limits and file-naming errors, resizing to the model resolution, and JPEG/PNG
// encoding through stb_image_write.
//
// Layouts: 8-bit images are row-major interleaved (H, W, C); float images and maps are
// row-major (H, W, C) / (H, W). Equirectangular images are periodic in longitude, so
// bilinear sampling wraps across the left/right edge; rows are clamped at the poles.
//
// Resizing (per axis, so a 1920x3840 frame to 240x480 is area on both axes):
//   out < in  area averaging: output cell o covers input [o·s, (o+1)·s), s = in/out,
//             each input pixel weighted by its overlap (exact box filter; for an integer
//             ratio it is the mean of s×s blocks). Avoids the aliasing of bilinear.
//   out > in  bilinear with half-pixel centres: x = (o + 0.5)·in/out − 0.5 (as OpenCV's
//             INTER_LINEAR and PIL), longitude wrapping, latitude clamped.
//   out = in  copy.
#ifndef SAL360_DATA_IMAGE_H_
#define SAL360_DATA_IMAGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sal360::data {

struct Image {
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // (height, width, channels)
};

struct DecodeLimits {
  int64_t max_file_bytes = int64_t{256} << 20;
  int64_t max_pixels = int64_t{1} << 27;  // 134 M pixels (e.g. 8192 x 16384)
};

// Decodes JPEG or PNG bytes into `channels` (1, 3 or 4) 8-bit channels. Errors name
// `name`: empty data, unknown format, dimensions above the limit (checked from the header
// before decoding), decoder failure (with stb's reason), and truncated JPEGs (stb
// silently fills a truncated JPEG with grey, so the reader requires the EOI marker).
absl::StatusOr<Image> DecodeImage(const std::string& bytes, const std::string& name,
                                  int channels = 3, const DecodeLimits& limits = {});
// util::ReadFile (size-limited) + DecodeImage.
absl::StatusOr<Image> ReadImage(const std::string& path, int channels = 3,
                                const DecodeLimits& limits = {});
// Width and height from the header only (no decoding).
absl::Status ImageInfo(const std::string& bytes, const std::string& name, int* height, int* width);

// Resizes an 8-bit image to (out_h, out_w, channels) floats in [0, 1] (value / 255).
std::vector<float> ResizeToFloat(const Image& image, int out_h, int out_w);
// Resizes a float (h, w, channels) array; saliency maps are channels = 1. Sizes must be
// ≥ 1 and channels 1..4 (aborts otherwise: a programming error, not bad input).
std::vector<float> ResizeFloat(const float* in, int h, int w, int channels, int out_h, int out_w);
// Resizes an 8-bit image (rounded to nearest).
Image ResizeImage(const Image& image, int out_h, int out_w);

// JPEG (quality 1..100) or PNG bytes of an image with 1, 3 or 4 channels.
absl::StatusOr<std::string> EncodeJpeg(const Image& image, int quality = 90);
absl::StatusOr<std::string> EncodePngImage(const Image& image);
// Encode + util::WriteFileAtomically; the format follows the extension (.jpg/.jpeg/.png).
absl::Status WriteImage(const std::string& path, const Image& image, int jpeg_quality = 90);

}  // namespace sal360::data

#endif  // SAL360_DATA_IMAGE_H_

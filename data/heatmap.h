// Heatmaps of saliency maps for people: a perceptual colour map (inferno or viridis,
// matplotlib's tables, which are perceptually uniform and monotonic in lightness, so
// they read correctly in greyscale and for colour-blind viewers), overlays on RGB
// frames, and PNG output (encoded by data/image.h, the one PNG writer; resizing of maps
// and frames is data/image.h's ResizeFloat / ResizeImage).
//
// Images are row-major interleaved 8-bit: RGB (H, W, 3); maps are (H, W) floats.
#ifndef SAL360_DATA_HEATMAP_H_
#define SAL360_DATA_HEATMAP_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sal360::data {

enum class ColourMap { kInferno, kViridis };

// Colour of t in [0, 1] (clamped; NaN -> 0): linear interpolation between the colour
// map's definition points (every 8th entry of matplotlib's 256-entry table, plus the last).
std::array<uint8_t, 3> MapColour(ColourMap cmap, double t);

// The map scaled to [0, 1] by its min and max (a constant or empty map -> all 0;
// non-finite values -> 0).
std::vector<float> NormaliseForDisplay(const float* map, int height, int width);

// The map drawn in colour: (height, width, 3).
std::vector<uint8_t> HeatmapRgb(const float* map, int height, int width,
                                ColourMap cmap = ColourMap::kInferno);

// The map blended over an RGB frame of the same size:
//   out = (1 − a)·frame + a·colour(t),  a = max_alpha · t   (t = NormaliseForDisplay)
// so that non-salient regions show the frame untouched. (height, width, 3).
std::vector<uint8_t> OverlayHeatmap(const uint8_t* rgb, const float* map, int height, int width,
                                    ColourMap cmap = ColourMap::kInferno, double max_alpha = 0.75);

// PNG bytes of an 8-bit (height, width, channels) image, channels 1, 3 or 4
// (data::EncodePngImage).
absl::StatusOr<std::string> EncodePng(const uint8_t* pixels, int height, int width, int channels);
// EncodePng + util::WriteFileAtomically.
absl::Status WritePng(const std::string& path, const uint8_t* pixels, int height, int width,
                      int channels);
// "data:image/png;base64,..." for embedding in HTML.
std::string PngDataUri(const std::string& png_bytes);

}  // namespace sal360::data

#endif  // SAL360_DATA_HEATMAP_H_

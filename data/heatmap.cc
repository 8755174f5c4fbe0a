// Heatmaps, overlays and PNG encoding; see heatmap.h.
#include "data/heatmap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "data/image.h"
#include "util/file.h"

namespace sal360::data {
namespace {

// Definition points of the colour maps: entry `index` of matplotlib's 256-entry
// ListedColormap tables (lib/matplotlib/_cm_listed.py; viridis and inferno by Nathaniel
// J. Smith, Stefan van der Walt and Eric Firing, CC0), every 8th entry plus the last.
// sRGB in [0, 1]. Linear interpolation between them stays within 1.7/255 of every
// table entry, and keeps CIE L* strictly increasing (tested).
struct DefinitionPoint {
  int index;  // 0..255
  float rgb[3];
};

constexpr DefinitionPoint kInferno[] = {
    {0, {0.001462, 0.000466, 0.013866}},   {8, {0.013995, 0.011225, 0.071862}},
    {16, {0.042253, 0.028139, 0.141141}},  {24, {0.081962, 0.043328, 0.215289}},
    {32, {0.129285, 0.047293, 0.290788}},  {40, {0.183429, 0.040329, 0.354971}},
    {48, {0.238273, 0.036621, 0.396353}},  {56, {0.290763, 0.045644, 0.418637}},
    {64, {0.341500, 0.062325, 0.429425}},  {72, {0.391453, 0.080927, 0.433109}},
    {80, {0.441207, 0.099338, 0.431594}},  {88, {0.491022, 0.117179, 0.425552}},
    {96, {0.540920, 0.134729, 0.415123}},  {104, {0.590734, 0.152563, 0.400290}},
    {112, {0.640135, 0.171438, 0.381065}}, {120, {0.688653, 0.192239, 0.357603}},
    {128, {0.735683, 0.215906, 0.330245}}, {136, {0.780517, 0.243327, 0.299523}},
    {144, {0.822386, 0.275197, 0.266085}}, {152, {0.860533, 0.311892, 0.230606}},
    {160, {0.894305, 0.353399, 0.193584}}, {168, {0.923215, 0.399359, 0.155193}},
    {176, {0.946965, 0.449191, 0.115272}}, {184, {0.965397, 0.502249, 0.073859}},
    {192, {0.978422, 0.557937, 0.034931}}, {200, {0.985952, 0.615750, 0.025592}},
    {208, {0.987874, 0.675267, 0.065257}}, {216, {0.984075, 0.736087, 0.129527}},
    {224, {0.974638, 0.797692, 0.206332}}, {232, {0.960626, 0.859069, 0.298010}},
    {240, {0.947594, 0.917399, 0.410665}}, {248, {0.954529, 0.965896, 0.540361}},
    {255, {0.988362, 0.998364, 0.644924}},
};

constexpr DefinitionPoint kViridis[] = {
    {0, {0.267004, 0.004874, 0.329415}},   {8, {0.277018, 0.050344, 0.375715}},
    {16, {0.282327, 0.094955, 0.417331}},  {24, {0.282884, 0.135920, 0.453427}},
    {32, {0.278826, 0.175490, 0.483397}},  {40, {0.270595, 0.214069, 0.507052}},
    {48, {0.258965, 0.251537, 0.524736}},  {56, {0.244972, 0.287675, 0.537260}},
    {64, {0.229739, 0.322361, 0.545706}},  {72, {0.214298, 0.355619, 0.551184}},
    {80, {0.199430, 0.387607, 0.554642}},  {88, {0.185556, 0.418570, 0.556753}},
    {96, {0.172719, 0.448791, 0.557885}},  {104, {0.160665, 0.478540, 0.558115}},
    {112, {0.149039, 0.508051, 0.557250}}, {120, {0.137770, 0.537492, 0.554906}},
    {128, {0.127568, 0.566949, 0.550556}}, {136, {0.120565, 0.596422, 0.543611}},
    {144, {0.120638, 0.625828, 0.533488}}, {152, {0.132268, 0.655014, 0.519661}},
    {160, {0.157851, 0.683765, 0.501686}}, {168, {0.196571, 0.711827, 0.479221}},
    {176, {0.246070, 0.738910, 0.452024}}, {184, {0.304148, 0.764704, 0.419943}},
    {192, {0.369214, 0.788888, 0.382914}}, {200, {0.440137, 0.811138, 0.340967}},
    {208, {0.515992, 0.831158, 0.294279}}, {216, {0.595839, 0.848717, 0.243329}},
    {224, {0.678489, 0.863742, 0.189503}}, {232, {0.762373, 0.876424, 0.137064}},
    {240, {0.845561, 0.887322, 0.099702}}, {248, {0.926106, 0.897330, 0.104071}},
    {255, {0.993248, 0.906157, 0.143936}},
};

template <size_t N>
std::array<uint8_t, 3> Interpolate(const DefinitionPoint (&pts)[N], double t) {
  const double x = t * 255.0;  // table coordinate
  size_t a = 0;
  while (a + 2 < N && pts[a + 1].index <= x) ++a;
  const DefinitionPoint& p = pts[a];
  const DefinitionPoint& q = pts[a + 1];
  const double u = std::clamp((x - p.index) / (q.index - p.index), 0.0, 1.0);
  std::array<uint8_t, 3> out;
  for (int c = 0; c < 3; ++c) {
    const double v = p.rgb[c] + (q.rgb[c] - p.rgb[c]) * u;
    out[c] = static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0));
  }
  return out;
}

void CheckSize(const char* what, int height, int width) {
  if (height <= 0 || width <= 0 || int64_t{height} * width > (int64_t{1} << 31)) {
    std::fprintf(stderr, "%s: bad image size %dx%d\n", what, height, width);
    std::abort();
  }
}


}  // namespace

std::array<uint8_t, 3> MapColour(ColourMap cmap, double t) {
  if (!(t >= 0)) t = 0;  // also NaN
  if (t > 1) t = 1;
  return cmap == ColourMap::kViridis ? Interpolate(kViridis, t) : Interpolate(kInferno, t);
}

std::vector<float> NormaliseForDisplay(const float* map, int height, int width) {
  CheckSize("NormaliseForDisplay", height, width);
  const size_t n = static_cast<size_t>(height) * width;
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (size_t k = 0; k < n; ++k) {
    if (!std::isfinite(map[k])) continue;
    lo = std::min(lo, map[k]);
    hi = std::max(hi, map[k]);
  }
  std::vector<float> out(n, 0.0f);
  if (!(hi > lo)) return out;
  const double scale = 1.0 / (static_cast<double>(hi) - lo);
  for (size_t k = 0; k < n; ++k) {
    if (std::isfinite(map[k])) out[k] = static_cast<float>((map[k] - lo) * scale);
  }
  return out;
}

std::vector<uint8_t> HeatmapRgb(const float* map, int height, int width, ColourMap cmap) {
  const std::vector<float> t = NormaliseForDisplay(map, height, width);
  std::vector<uint8_t> out(t.size() * 3);  // (H, W, 3)
  for (size_t k = 0; k < t.size(); ++k) {
    const auto c = MapColour(cmap, t[k]);
    std::copy(c.begin(), c.end(), out.begin() + 3 * k);
  }
  return out;
}

std::vector<uint8_t> OverlayHeatmap(const uint8_t* rgb, const float* map, int height, int width,
                                    ColourMap cmap, double max_alpha) {
  const std::vector<float> t = NormaliseForDisplay(map, height, width);
  const double amax = std::clamp(max_alpha, 0.0, 1.0);
  std::vector<uint8_t> out(t.size() * 3);  // (H, W, 3)
  for (size_t k = 0; k < t.size(); ++k) {
    const auto c = MapColour(cmap, t[k]);
    const double a = amax * t[k];
    for (int ch = 0; ch < 3; ++ch) {
      const double v = (1 - a) * rgb[3 * k + ch] + a * c[ch];
      out[3 * k + ch] = static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
    }
  }
  return out;
}

absl::StatusOr<std::string> EncodePng(const uint8_t* pixels, int height, int width,
                                      int channels) {
  if (height <= 0 || width <= 0 || height > (1 << 16) || width > (1 << 16)) {
    return absl::InvalidArgumentError(absl::StrFormat("PNG: bad image size %dx%d", height, width));
  }
  if (channels != 1 && channels != 3 && channels != 4) {
    return absl::InvalidArgumentError(
        absl::StrFormat("PNG: %d channels (need 1, 3 or 4)", channels));
  }
  const Image image{height, width, channels,
                    std::vector<uint8_t>(pixels, pixels + size_t(height) * width * channels)};
  return EncodePngImage(image);
}

absl::Status WritePng(const std::string& path, const uint8_t* pixels, int height, int width,
                      int channels) {
  absl::StatusOr<std::string> png = EncodePng(pixels, height, width, channels);
  if (!png.ok()) {
    return absl::Status(png.status().code(), path + ": " + std::string(png.status().message()));
  }
  return util::WriteFileAtomically(path, *png);
}

std::string PngDataUri(const std::string& png_bytes) {
  return "data:image/png;base64," + absl::Base64Escape(png_bytes);
}

}  // namespace sal360::data

// Colour maps (definition points, perceptual lightness order), overlays, resizing and
// PNG encoding.
#include "data/heatmap.h"

#include <gtest/gtest.h>
#include <stb/stb_image.h>

#include <cmath>
#include <vector>

#include "absl/strings/escaping.h"

namespace sal360::data {
namespace {

// CIE L* of an 8-bit sRGB colour.
double Lightness(const std::array<uint8_t, 3>& c) {
  auto lin = [](double v) {
    v /= 255.0;
    return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
  };
  const double y = 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  return y > 216.0 / 24389 ? 116 * std::cbrt(y) - 16 : 24389.0 / 27 * y;
}

TEST(MapColour, EndpointsAreTheTablesEnds) {
  // matplotlib: inferno[0] = (0.001462, 0.000466, 0.013866), inferno[255] =
  // (0.988362, 0.998364, 0.644924); viridis[0] = (0.267004, 0.004874, 0.329415),
  // viridis[255] = (0.993248, 0.906157, 0.143936); times 255, rounded.
  EXPECT_EQ(MapColour(ColourMap::kInferno, 0), (std::array<uint8_t, 3>{0, 0, 4}));
  EXPECT_EQ(MapColour(ColourMap::kInferno, 1), (std::array<uint8_t, 3>{252, 255, 164}));
  EXPECT_EQ(MapColour(ColourMap::kViridis, 0), (std::array<uint8_t, 3>{68, 1, 84}));
  EXPECT_EQ(MapColour(ColourMap::kViridis, 1), (std::array<uint8_t, 3>{253, 231, 37}));
  // Out-of-range and NaN inputs clamp.
  EXPECT_EQ(MapColour(ColourMap::kInferno, -3), MapColour(ColourMap::kInferno, 0));
  EXPECT_EQ(MapColour(ColourMap::kInferno, 7), MapColour(ColourMap::kInferno, 1));
  EXPECT_EQ(MapColour(ColourMap::kInferno, std::nan("")), MapColour(ColourMap::kInferno, 0));
}

TEST(MapColour, MidpointsMatchTheTable) {
  // viridis[128] = (0.127568, 0.566949, 0.550556) is a definition point;
  // inferno[100] = (0.565854, 0.143567, 0.408258) lies between points 96 and 104.
  const auto v = MapColour(ColourMap::kViridis, 128 / 255.0);
  EXPECT_EQ(v, (std::array<uint8_t, 3>{33, 145, 140}));
  const auto i = MapColour(ColourMap::kInferno, 100 / 255.0);
  EXPECT_NEAR(i[0], 0.565854 * 255, 2.0);
  EXPECT_NEAR(i[1], 0.143567 * 255, 2.0);
  EXPECT_NEAR(i[2], 0.408258 * 255, 2.0);
}

TEST(MapColour, LightnessIncreasesMonotonically) {
  for (ColourMap cmap : {ColourMap::kInferno, ColourMap::kViridis}) {
    double prev = -1;
    for (int k = 0; k <= 1000; ++k) {
      const double l = Lightness(MapColour(cmap, k / 1000.0));
      EXPECT_GE(l, prev - 0.35) << "t=" << k / 1000.0;  // 8-bit rounding only
      prev = std::max(prev, l);
    }
    EXPECT_GT(Lightness(MapColour(cmap, 1)) - Lightness(MapColour(cmap, 0)), 70);
  }
}

TEST(Heatmap, NormaliseForDisplayHandlesConstantsAndNaN) {
  const std::vector<float> m{2, 4, NAN, 6};
  const auto t = NormaliseForDisplay(m.data(), 2, 2);
  EXPECT_EQ(t, (std::vector<float>{0, 0.5f, 0, 1}));
  const std::vector<float> c(6, 3.f);
  EXPECT_EQ(NormaliseForDisplay(c.data(), 2, 3), std::vector<float>(6, 0.f));
}

TEST(Heatmap, OverlayLeavesNonSalientPixelsUntouched) {
  const int h = 2, w = 3;
  const std::vector<uint8_t> rgb{10,  20,  30,  40,  50,  60,  70,  80,  90,
                                 100, 110, 120, 130, 140, 150, 160, 170, 180};
  const std::vector<float> map{0, 0, 0, 0, 0, 1};
  const auto out = OverlayHeatmap(rgb.data(), map.data(), h, w, ColourMap::kInferno, 0.5);
  for (int k = 0; k < 15; ++k) EXPECT_EQ(out[k], rgb[k]);
  const auto top = MapColour(ColourMap::kInferno, 1);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(out[15 + c], 0.5 * rgb[15 + c] + 0.5 * top[c], 0.51);
}

TEST(Png, EncodeRoundTripsAndDataUriDecodes) {
  const int h = 5, w = 7;
  std::vector<uint8_t> px(h * w * 3);
  for (size_t k = 0; k < px.size(); ++k) px[k] = static_cast<uint8_t>(k * 37);
  auto png = EncodePng(px.data(), h, w, 3);
  ASSERT_TRUE(png.ok()) << png.status();
  const std::string uri = PngDataUri(*png);
  ASSERT_EQ(uri.rfind("data:image/png;base64,", 0), 0u);
  std::string bytes;
  ASSERT_TRUE(absl::Base64Unescape(uri.substr(22), &bytes));
  EXPECT_EQ(bytes, *png);
  int x = 0, y = 0, c = 0;
  stbi_uc* back = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                        static_cast<int>(bytes.size()), &x, &y, &c, 3);
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(x, w);
  EXPECT_EQ(y, h);
  EXPECT_EQ(std::vector<uint8_t>(back, back + px.size()), px);
  stbi_image_free(back);
  EXPECT_FALSE(EncodePng(px.data(), 0, w, 3).ok());
  EXPECT_FALSE(EncodePng(px.data(), h, w, 2).ok());
}

TEST(Png, WriteFailsWithThePathForAMissingDirectory) {
  std::vector<uint8_t> px(3, 0);
  const absl::Status st = WritePng("/nonexistent_dir_for_sal360/x.png", px.data(), 1, 1, 3);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find("nonexistent_dir_for_sal360"), std::string::npos) << st;
}

}  // namespace
}  // namespace sal360::data

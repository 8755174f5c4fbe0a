// Tests of image decoding, encoding and resizing (data/image.h).
#include "data/image.h"

#include <cmath>
#include <cstdlib>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/file.h"

namespace sal360::data {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

Image Gradient(int h, int w) {
  Image img;
  img.height = h;
  img.width = w;
  img.channels = 3;
  img.pixels.resize(static_cast<size_t>(h) * w * 3);
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < w; ++j) {
      uint8_t* p = &img.pixels[(static_cast<size_t>(i) * w + j) * 3];
      p[0] = static_cast<uint8_t>(255 * j / (w - 1));
      p[1] = static_cast<uint8_t>(255 * i / (h - 1));
      p[2] = static_cast<uint8_t>(128 + 100 * std::sin(0.1 * (i + j)));
    }
  }
  return img;
}

TEST(ImageTest, PngRoundTripIsExact) {
  const Image img = Gradient(17, 33);
  auto png = EncodePngImage(img);
  ASSERT_TRUE(png.ok());
  auto back = DecodeImage(*png, "x.png");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->height, 17);
  EXPECT_EQ(back->width, 33);
  EXPECT_EQ(back->pixels, img.pixels);
  int h, w;
  ASSERT_TRUE(ImageInfo(*png, "x.png", &h, &w).ok());
  EXPECT_EQ(h, 17);
  EXPECT_EQ(w, 33);
}

TEST(ImageTest, JpegRoundTripIsClose) {
  const Image img = Gradient(48, 96);
  auto jpg = EncodeJpeg(img, 95);
  ASSERT_TRUE(jpg.ok());
  auto back = DecodeImage(*jpg, "x.jpg");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->pixels.size(), img.pixels.size());
  double err = 0;
  for (size_t k = 0; k < img.pixels.size(); ++k) err += std::abs(back->pixels[k] - img.pixels[k]);
  EXPECT_LT(err / img.pixels.size(), 3.0);  // mean absolute error in 8-bit levels
  // Grey decoding.
  auto grey = DecodeImage(*jpg, "x.jpg", 1);
  ASSERT_TRUE(grey.ok());
  EXPECT_EQ(grey->channels, 1);
  EXPECT_EQ(grey->pixels.size(), 48u * 96u);
}

// Every cut of a JPEG or PNG is an error that names the file (stb alone would decode a
// cut JPEG into a partly grey image).
TEST(ImageTest, EveryTruncationIsAnError) {
  const Image img = Gradient(24, 40);
  for (bool jpeg : {true, false}) {
    auto bytes = jpeg ? EncodeJpeg(img, 90) : EncodePngImage(img);
    ASSERT_TRUE(bytes.ok());
    for (size_t n = 0; n < bytes->size(); ++n) {
      auto r = DecodeImage(bytes->substr(0, n), "cut.img");
      ASSERT_FALSE(r.ok()) << (jpeg ? "jpeg" : "png") << " prefix " << n;
      ASSERT_THAT(std::string(r.status().message()), StartsWith("cut.img: "));
    }
    // A cut in the image data says "truncated".
    auto r = DecodeImage(bytes->substr(0, bytes->size() * 3 / 4), "cut.img");
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("truncated"));
  }
}

TEST(ImageTest, GarbageAndOtherFormatsAreRejected) {
  auto r = DecodeImage("", "e.jpg");
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("e.jpg: empty"));
  r = DecodeImage("hello world, not an image", "t.jpg");
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("not a JPEG or PNG"));
  r = DecodeImage(std::string("GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14), "g.gif");
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("not a JPEG or PNG"));
  // A JPEG whose header is corrupted after the SOI marker.
  auto jpg = EncodeJpeg(Gradient(8, 8), 90);
  ASSERT_TRUE(jpg.ok());
  std::string bad = *jpg;
  for (size_t k = 4; k < 40 && k < bad.size(); ++k) bad[k] = '\x00';
  r = DecodeImage(bad, "bad.jpg");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), StartsWith("bad.jpg: corrupt JPEG"));
}

TEST(ImageTest, PixelLimitCheckedBeforeDecoding) {
  auto png = EncodePngImage(Gradient(20, 30));
  ASSERT_TRUE(png.ok());
  DecodeLimits limits;
  limits.max_pixels = 599;
  auto r = DecodeImage(*png, "big.png", 3, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("exceeds the limit of 599 pixels"));
  limits.max_pixels = 600;
  EXPECT_TRUE(DecodeImage(*png, "big.png", 3, limits).ok());
}

// Found by tools/fuzz.sh (tests/fuzz/corpus/image_fuzzer/crash_png_huge_idat_length.png):
// an 8x4 PNG whose IDAT chunk declares 0x30000027 bytes made stb_image allocate 805 MB
// before reading them. Chunk lengths are now checked against the file first.
TEST(ImageTest, PngChunkLengthsAreCheckedBeforeDecoding) {
  const std::string bomb(
      "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x08\x00\x00\x00\x04"
      "\x10\x00\x00\x00\x00\xc6\x36\xfd\x6f\x30\x00\x00\x27\x49\x44\x41\x54\x78\x9c\x63\x60\x60\xe0\x5f"
      "\x20\xef\xa0\xf7\xc0\xc7\x01\x00\xee\x5e\x17\xb7\xfc\xb6\xf2\xec\x00\x00\x00\x00\x49\x45\x4e\x44"
      "\xae\x42\x60\x82",
      76);
  absl::StatusOr<Image> img = DecodeImage(bomb, "bomb.png");
  ASSERT_FALSE(img.ok());
  EXPECT_NE(std::string(img.status().message()).find("bomb.png: corrupt PNG: a chunk at byte 33 declares 805306407 bytes"),
            std::string::npos)
      << img.status();
  // Bytes after IEND are refused too; a well-formed PNG still decodes.
  Image ok;
  ok.height = 2;
  ok.width = 3;
  ok.channels = 3;
  ok.pixels.assign(18, 7);
  absl::StatusOr<std::string> png = EncodePngImage(ok);
  ASSERT_TRUE(png.ok());
  EXPECT_TRUE(DecodeImage(*png, "ok.png").ok());
}

// Found by tools/fuzz.sh (tests/fuzz/corpus/image_fuzzer/crash_jpeg_undefined_huffman_table.jpg):
// a baseline scan that names a Huffman table no DHT segment defined made Debian's libstb
// abort on an assertion. Such scans are refused before decoding; the same JPEG with its
// selectors intact still decodes.
TEST(ImageTest, JpegScansMustNameDefinedHuffmanTables) {
  const Image img = Gradient(16, 24);
  auto jpg = EncodeJpeg(img, 90);
  ASSERT_TRUE(jpg.ok());
  ASSERT_TRUE(DecodeImage(*jpg, "good.jpg").ok());
  // The SOS segment: FF DA, length, Ns, then (component, DC<<4 | AC) pairs.
  const size_t sos = jpg->find("\xff\xda");
  ASSERT_NE(sos, std::string::npos);
  for (const auto& [selector, what] : std::vector<std::pair<uint8_t, std::string>>{
           {0x03, "uses AC Huffman table 3"}, {0x20, "uses DC Huffman table 2"}, {0xff, "uses DC Huffman table 15"}}) {
    std::string bad = *jpg;
    bad[sos + 6] = static_cast<char>(selector);  // the first component's tables
    absl::StatusOr<Image> r = DecodeImage(bad, "bad.jpg");
    ASSERT_FALSE(r.ok()) << int(selector);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("bad.jpg: corrupt JPEG: the scan at byte"));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(what));
  }
}

TEST(ImageTest, ReadAndWriteFiles) {
  const std::string dir = std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp";
  const Image img = Gradient(10, 20);
  ASSERT_TRUE(WriteImage(dir + "/a.png", img).ok());
  ASSERT_TRUE(WriteImage(dir + "/a.JPG", img).ok());
  auto png = ReadImage(dir + "/a.png");
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(png->pixels, img.pixels);
  EXPECT_TRUE(ReadImage(dir + "/a.JPG").ok());
  EXPECT_THAT(std::string(WriteImage(dir + "/a.bmp", img).message()), HasSubstr("extension"));
  auto missing = ReadImage(dir + "/missing.jpg");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("missing.jpg"));
  DecodeLimits tiny;
  tiny.max_file_bytes = 10;
  EXPECT_FALSE(ReadImage(dir + "/a.png", 3, tiny).ok());
}

// Area downscaling by an integer factor is the mean of each block.
TEST(ResizeTest, AreaIntegerFactorIsBlockMean) {
  const int h = 12, w = 18, f = 3;
  std::vector<float> in(h * w * 2);
  for (size_t k = 0; k < in.size(); ++k) in[k] = static_cast<float>((k * 7919) % 101) / 7.0f;
  std::vector<float> out = ResizeFloat(in.data(), h, w, 2, h / f, w / f);
  for (int i = 0; i < h / f; ++i) {
    for (int j = 0; j < w / f; ++j) {
      for (int c = 0; c < 2; ++c) {
        double mean = 0;
        for (int a = 0; a < f; ++a) {
          for (int b = 0; b < f; ++b) mean += in[((i * f + a) * w + j * f + b) * 2 + c];
        }
        mean /= f * f;
        EXPECT_NEAR(out[(i * (w / f) + j) * 2 + c], mean, 1e-5);
      }
    }
  }
}

// Area weights sum to one: the mean of the image is kept for any ratio, and a constant
// stays constant for every resize, up or down.
TEST(ResizeTest, AreaKeepsTheMeanAndConstantsStayConstant) {
  const int h = 13, w = 29;
  std::vector<float> in(h * w);
  double mean_in = 0;
  for (int k = 0; k < h * w; ++k) {
    in[k] = static_cast<float>((k * 31) % 17);
    mean_in += in[k];
  }
  mean_in /= h * w;
  std::vector<float> out = ResizeFloat(in.data(), h, w, 1, 5, 11);
  double mean_out = 0;
  for (float v : out) mean_out += v;
  mean_out /= out.size();
  EXPECT_NEAR(mean_out, mean_in, 1e-4);
  std::vector<float> c(h * w, 0.7f);
  for (auto [oh, ow] : {std::pair{5, 11}, std::pair{13, 29}, std::pair{40, 7}, std::pair{26, 58}}) {
    for (float v : ResizeFloat(c.data(), h, w, 1, oh, ow)) ASSERT_NEAR(v, 0.7f, 1e-6);
  }
}

// Bilinear enlarging uses half-pixel centres, wraps in longitude and clamps at the poles.
TEST(ResizeTest, BilinearWrapsLongitudeAndClampsRows) {
  // 1 x 4 → 1 x 8: output o samples x = (o + 0.5)/2 − 0.5.
  std::vector<float> row = {0, 10, 20, 30};
  std::vector<float> out = ResizeFloat(row.data(), 1, 4, 1, 1, 8);
  // o = 0: x = −0.25 → 0.75·in[0] + 0.25·in[3] (wrapped) = 7.5
  EXPECT_NEAR(out[0], 7.5, 1e-5);
  EXPECT_NEAR(out[1], 2.5, 1e-5);   // x = 0.25
  EXPECT_NEAR(out[6], 27.5, 1e-5);  // x = 2.75
  EXPECT_NEAR(out[7], 22.5, 1e-5);  // x = 3.25 → 0.75·30 + 0.25·0
  // 2 x 1 → 4 x 1: rows clamp.
  std::vector<float> col = {0, 10};
  out = ResizeFloat(col.data(), 2, 1, 1, 4, 1);
  EXPECT_NEAR(out[0], 0.0, 1e-5);  // y = −0.25 clamps to row 0
  EXPECT_NEAR(out[1], 2.5, 1e-5);
  EXPECT_NEAR(out[2], 7.5, 1e-5);
  EXPECT_NEAR(out[3], 10.0, 1e-5);
}

TEST(ResizeTest, EightBitImagesScaleToUnitRange) {
  const Image img = Gradient(8, 16);
  std::vector<float> f = ResizeToFloat(img, 8, 16);
  for (size_t k = 0; k < f.size(); ++k) ASSERT_FLOAT_EQ(f[k], img.pixels[k] / 255.0f);
  Image small = ResizeImage(img, 4, 8);
  EXPECT_EQ(small.height, 4);
  EXPECT_EQ(small.width, 8);
  EXPECT_EQ(small.pixels.size(), 4u * 8u * 3u);
}

}  // namespace
}  // namespace sal360::data

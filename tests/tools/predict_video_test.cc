// predict on video files (issue #13), end to end through the real binary, on videos this
// test makes with the same FFmpeg libraries (no downloaded media):
//   - the maps of a video equal, bit for bit, the maps of its decoded frames given as a
//     directory of PNGs; the overlay video has one frame per map at the input's times;
//     the Salient360! file, 16-bit PNGs, frames.csv and summary.json are consistent;
//   - variable frame rate with --every/--start/--duration picks frames by timestamp;
//   - a truncated file keeps the maps decoded before the cut and exits non-zero naming
//     the frame; not-a-video, zero frames, non-2:1 frames and an existing output
//     directory are clear errors.
#include <dirent.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "data/image.h"
#include "data/salient360.h"
#include "data/video.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "tests/testing/tool_runner.h"
#include "util/file.h"
#include "util/npy.h"

namespace sal360::tools {
namespace {

using ::sal360::testing::RunTool;
using ::sal360::testing::TempPath;
using ::sal360::testing::ToolResult;

constexpr int kH = 32, kW = 64;  // network size (small: a CPU test)

data::Image Frame(int h, int w, int k) {
  data::Image im;
  im.height = h;
  im.width = w;
  im.channels = 3;
  im.pixels.resize(static_cast<size_t>(h) * w * 3);
  uint32_t x = 777u + static_cast<uint32_t>(k);
  for (int y = 0; y < h; ++y) {
    for (int c = 0; c < w; ++c) {
      uint8_t* p = &im.pixels[(static_cast<size_t>(y) * w + c) * 3];
      x = x * 1664525u + 1013904223u;
      const bool blob = std::abs(c - (5 * k) % w) < 10 && std::abs(y - h / 2) < 8;
      p[0] = static_cast<uint8_t>(blob ? 240 : 30 + 100 * c / w + (x >> 28));
      p[1] = static_cast<uint8_t>(blob ? 60 : 40 + 100 * y / h);
      p[2] = static_cast<uint8_t>(blob ? 40 : 90 + (x >> 29));
    }
  }
  return im;
}

std::string WriteClip(const std::string& name, int n, int h = 64, int w = 128) {
  std::vector<data::Image> frames;
  for (int k = 0; k < n; ++k) frames.push_back(Frame(h, w, k));
  const std::string path = TempPath(name);
  EXPECT_TRUE(data::WriteVideo(path, frames, data::Rational{10, 1}).ok());
  return path;
}

std::vector<data::VideoFrame> Decode(const std::string& path) {
  std::vector<data::VideoFrame> out;
  absl::StatusOr<std::unique_ptr<data::VideoReader>> r = data::VideoReader::Open(path);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return out;
  for (;;) {
    data::VideoFrame f;
    absl::StatusOr<bool> more = (*r)->Next(&f);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    out.push_back(std::move(f));
  }
  return out;
}

std::string Read(const std::string& path) {
  absl::StatusOr<std::string> s = util::ReadFile(path, int64_t{1} << 28);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

class PredictVideo : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    nn::SphericalUNet model(nn::Device::kCpu, nn::ModelConfig{});
    nn::Rng rng(5);
    model.Initialize(rng);
    ASSERT_TRUE(nn::SaveCheckpoint(TempPath("model.safetensors"), model, nullptr, {}).ok());
  }
  static ToolResult Predict(std::vector<std::string> args) {
    args.insert(args.end(), {"--checkpoint=" + TempPath("model.safetensors"), "--device=cpu",
                             absl::StrFormat("--height=%d", kH), absl::StrFormat("--width=%d", kW)});
    return RunTool("tools/predict", args);
  }
};

TEST_F(PredictVideo, VideoEqualsItsDecodedFramesAsADirectory) {
  const std::string clip = WriteClip("clip.mp4", 12);
  const std::string a = TempPath("pred_video");
  ToolResult r = Predict({"--input=" + clip, "--out=" + a, "--maps=npy,png", "--batch=3"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("12 frames"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("decode"), std::string::npos) << r.output;
  // The same decoded frames, as lossless PNGs named by frame index.
  const std::vector<data::VideoFrame> frames = Decode(clip);
  ASSERT_EQ(frames.size(), 12u);
  const std::string dir = TempPath("decoded");
  ASSERT_TRUE(util::MakeDirs(dir).ok());
  for (const data::VideoFrame& f : frames) {
    ASSERT_TRUE(data::WriteImage(absl::StrFormat("%s/%06d.png", dir, f.index), f.image).ok());
  }
  const std::string b = TempPath("pred_dir");
  r = Predict({"--input=" + dir, "--out=" + b, "--batch=3"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (int k = 0; k < 12; ++k) {
    const std::string stem = absl::StrFormat("%06d", k);
    const std::string va = Read(a + "/" + stem + ".npy"), vb = Read(b + "/" + stem + ".npy");
    ASSERT_FALSE(va.empty());
    EXPECT_EQ(va, vb) << "frame " << k << ": video and directory maps differ";
    // The 16-bit PNG is the map scaled by its maximum.
    absl::StatusOr<util::NpyArray> m = util::ReadNpy(a + "/" + stem + ".npy", 1 << 24);
    ASSERT_TRUE(m.ok());
    const std::vector<float> y = m->ToFloats();
    absl::StatusOr<data::Gray16Image> g = data::DecodeGray16Png(Read(a + "/" + stem + "_map.png"), stem);
    ASSERT_TRUE(g.ok()) << g.status();
    ASSERT_EQ(g->values.size(), y.size());
    const float mx = *std::max_element(y.begin(), y.end());
    ASSERT_GT(mx, 0);
    for (size_t p = 0; p < y.size(); p += 97) {
      EXPECT_NEAR(g->values[p], std::max(0.0f, y[p]) / mx * 65535.0, 0.5001) << p;
    }
  }
  // Overlay: one frame per map, at the input frames' times, at the input's size.
  const std::vector<data::VideoFrame> ov = Decode(a + "/overlay.mp4");
  ASSERT_EQ(ov.size(), 12u);
  for (size_t k = 0; k < ov.size(); ++k) EXPECT_NEAR(ov[k].time_s, frames[k].time_s, 1e-6) << k;
  EXPECT_EQ(ov[0].image.width, 128);
  EXPECT_EQ(ov[0].image.height, 64);
  // Salient360!: 12 maps of the network size, each a distribution.
  absl::StatusOr<data::Salient360Maps> bin = data::ReadSalient360(a + "/clip_64x32x12_32b.bin");
  ASSERT_TRUE(bin.ok()) << bin.status();
  for (int k = 0; k < 12; ++k) {
    double sum = 0;
    for (int p = 0; p < kH * kW; ++p) {
      const float v = bin->values[k * kH * kW + p];
      EXPECT_GE(v, 0.0f);
      sum += v;
    }
    EXPECT_NEAR(sum, 1.0, 1e-4) << k;
  }
  const std::vector<std::string> csv = absl::StrSplit(Read(a + "/frames.csv"), '\n', absl::SkipEmpty());
  ASSERT_EQ(csv.size(), 13u);
  EXPECT_EQ(csv[0], "index,source_index,pts,time_s,stem");
  EXPECT_EQ(csv[12].substr(0, 6), "11,11,");
  const nlohmann::json summary = nlohmann::json::parse(Read(a + "/summary.json"));
  EXPECT_EQ(summary["frames"], 12);
  EXPECT_EQ(summary["complete"], true);
  EXPECT_EQ(summary["video"]["codec"], data::HaveH264Encoder() ? "h264" : "mpeg4");
}

TEST_F(PredictVideo, VariableFrameRateWindowAndEvery) {
  const std::vector<int64_t> pts = {0, 1, 3, 4, 9, 10, 17, 18, 20, 25};  // tenths of a second
  data::VideoWriterOptions o;
  o.width = 128;
  o.height = 64;
  o.time_base = {1, 10};
  o.frame_rate = {10, 1};
  const std::string clip = TempPath("vfr.mp4");
  absl::StatusOr<std::unique_ptr<data::VideoWriter>> w = data::VideoWriter::Open(clip, o);
  ASSERT_TRUE(w.ok());
  for (size_t k = 0; k < pts.size(); ++k) {
    ASSERT_TRUE((*w)->Write(Frame(64, 128, static_cast<int>(k)).pixels.data(), pts[k]).ok());
  }
  ASSERT_TRUE((*w)->Close().ok());
  // Window [0.25 s, 1.85 s): frames 2..7 (0.3, 0.4, 0.9, 1.0, 1.7, 1.8); every 2nd: 2, 4, 6.
  const std::string out = TempPath("pred_vfr");
  ToolResult r = Predict({"--input=" + clip, "--out=" + out, "--every=2", "--start=0.25", "--duration=1.6",
                          "--overlay=side_by_side", "--codec=mpeg4"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<std::string> want = {"000002.npy", "000004.npy", "000006.npy"};
  std::vector<std::string> got;
  for (const std::string& f : Files(out)) {
    if (f.size() == 10 && f.substr(6) == ".npy") got.push_back(f);
  }
  EXPECT_EQ(got, want);
  const std::vector<data::VideoFrame> ov = Decode(out + "/overlay.mp4");
  ASSERT_EQ(ov.size(), 3u);
  EXPECT_NEAR(ov[1].time_s, 0.6, 1e-3);  // 0.9 - 0.3
  EXPECT_NEAR(ov[2].time_s, 1.4, 1e-3);  // 1.7 - 0.3
  EXPECT_EQ(ov[0].image.width, 256);     // frame | heatmap
  const nlohmann::json summary = nlohmann::json::parse(Read(out + "/summary.json"));
  EXPECT_EQ(summary["overlay_encoder"], "mpeg4");
  EXPECT_EQ(summary["frames_decoded"], 9);  // stops at the first frame past the window (2.0 s)
}

TEST_F(PredictVideo, TruncatedVideoKeepsWhatDecoded) {
  const std::string clip = WriteClip("long.mp4", 30);
  const std::string bytes = Read(clip);
  const std::string cut = TempPath("cut.mp4");
  ASSERT_TRUE(util::WriteFileAtomically(cut, bytes.substr(0, bytes.size() * 6 / 10)).ok());
  const std::string out = TempPath("pred_cut");
  ToolResult r = Predict({"--input=" + cut, "--out=" + out});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("cut.mp4: frame "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("kept the "), std::string::npos) << r.output;
  const nlohmann::json summary = nlohmann::json::parse(Read(out + "/summary.json"));
  EXPECT_EQ(summary["complete"], false);
  const int kept = summary["frames"];
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 30);
  EXPECT_EQ(Decode(out + "/overlay.mp4").size(), static_cast<size_t>(kept));
  EXPECT_TRUE(data::ReadSalient360(absl::StrFormat("%s/cut_64x32x%d_32b.bin", out, kept)).ok());
}

TEST_F(PredictVideo, BadInputs) {
  auto expect_error = [](const ToolResult& r, const std::string& needle) {
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_LT(r.exit_code, 128) << "crashed: " << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << r.output;
  };
  ASSERT_TRUE(util::WriteFileAtomically(TempPath("text.mp4"), std::string(4000, 'z')).ok());
  expect_error(Predict({"--input=" + TempPath("text.mp4"), "--out=" + TempPath("o1")}), "text.mp4");
  expect_error(Predict({"--input=" + TempPath("absent.mp4"), "--out=" + TempPath("o2")}), "absent.mp4: no such file");
  {
    data::VideoWriterOptions o;
    o.width = 128;
    o.height = 64;
    absl::StatusOr<std::unique_ptr<data::VideoWriter>> w = data::VideoWriter::Open(TempPath("zero.mp4"), o);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  expect_error(Predict({"--input=" + TempPath("zero.mp4"), "--out=" + TempPath("o3")}), "zero.mp4");
  const std::string square = WriteClip("square.mp4", 3, 64, 64);
  expect_error(Predict({"--input=" + square, "--out=" + TempPath("o4")}), "not 2:1 equirectangular; pass --stretch");
  ToolResult ok = Predict({"--input=" + square, "--out=" + TempPath("o5"), "--stretch", "--overlay=none"});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  // 3 maps, .bin, frames.csv, summary.json, report.html and viewer/ (the 360° viewer).
  EXPECT_EQ(Files(TempPath("o5")).size(), 3u + 5u);
  EXPECT_TRUE(std::filesystem::exists(TempPath("o5") + "/viewer/000002.js"));
  // An output directory with something in it is never written into.
  ASSERT_TRUE(util::MakeDirs(TempPath("busy")).ok());
  ASSERT_TRUE(util::WriteFileAtomically(TempPath("busy/keep.txt"), "mine").ok());
  expect_error(Predict({"--input=" + square, "--stretch", "--out=" + TempPath("busy")}), "exists and is not empty");
  EXPECT_EQ(Files(TempPath("busy")), std::vector<std::string>{"keep.txt"});
  expect_error(Predict({"--input=" + square, "--out=" + TempPath("o6"), "--overlay=pip"}), "--overlay");
  expect_error(Predict({"--input=" + square, "--out=" + TempPath("o6"), "--maps=tiff"}), "--maps");
  expect_error(Predict({"--input=" + square, "--out=" + TempPath("o6"), "--every=0"}), "--every");
  expect_error(Predict({"--input=" + square, "--out=" + TempPath("o6"), "--stretch", "--start=100"}),
               "no frames in the window");
}

}  // namespace
}  // namespace sal360::tools

// tools:eval: map files (.npy f32/f64 (H,W) or (1,H,W), 8/16-bit PNG), pairing of
// directories, resizing, JSON equal to data::ComputeMetrics on the same values, and
// clear errors (naming the file) with a non-zero exit status for bad input. The last
// tests run the real binary.
#include <gtest/gtest.h>
#include <stb/stb_image_write.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/ground_truth.h"
#include "data/image.h"
#include "data/baselines.h"
#include "data/map_file.h"
#include "data/metrics.h"
#include "data/synthetic.h"
#include "tests/testing/tool_runner.h"
#include "tools/eval_lib.h"
#include "util/file.h"
#include "util/npy.h"

namespace sal360::tools {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

std::string TempDir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t ? t : "/tmp";
}

std::string Fresh(const std::string& name) {
  const std::string dir = TempDir() + "/" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<double> Blob(int h, int w, double cx, double cy, double noise, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, noise);
  std::vector<double> m(size_t(h) * w);
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < w; ++j) {
      const double dx = (j + 0.5) / w - cx, dy = (i + 0.5) / h - cy;
      m[size_t(i) * w + j] = std::exp(-(dx * dx + dy * dy) / 0.01) + u(rng);
    }
  }
  return m;
}

void WriteF32(const std::string& path, std::vector<int64_t> shape, const std::vector<double>& v) {
  const std::vector<float> f(v.begin(), v.end());
  ASSERT_TRUE(util::WriteNpy(path, util::NpyArray::FromFloat32(shape, f)).ok()) << path;
}

void WriteF64(const std::string& path, std::vector<int64_t> shape, const std::vector<double>& v) {
  ASSERT_TRUE(util::WriteNpy(path, util::NpyArray::FromFloat64(shape, v)).ok()) << path;
}

// 8-bit greyscale PNG of 0/1 fixations (stored as 0/255) or levels.
void WritePng8(const std::string& path, int h, int w, const std::vector<uint8_t>& v,
               int channels = 1) {
  ASSERT_EQ(stbi_write_png(path.c_str(), w, h, channels, v.data(), w * channels), 1) << path;
}

// 16-bit greyscale PNG written by hand (stb_image_write only writes 8 bits): signature,
// IHDR, one stored (uncompressed) zlib IDAT, IEND.
std::string Png16(int h, int w, const std::vector<uint16_t>& v) {
  auto crc = [](const std::string& s) {
    uint32_t c = 0xffffffffu;
    for (unsigned char b : s) {
      c ^= b;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
  };
  auto be32 = [](uint32_t x) {
    return std::string{char(x >> 24), char(x >> 16), char(x >> 8), char(x)};
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    return be32(uint32_t(data.size())) + type + data + be32(crc(type + data));
  };
  std::string raw;
  for (int i = 0; i < h; ++i) {
    raw += '\0';  // filter: none
    for (int j = 0; j < w; ++j) raw += char(v[i * w + j] >> 8), raw += char(v[i * w + j] & 255);
  }
  uint32_t a = 1, b = 0;  // adler32
  for (unsigned char c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
  std::string z = "\x78\x01";
  z += '\x01';  // final stored block (raw < 65536 bytes here)
  z += char(raw.size() & 255), z += char(raw.size() >> 8);
  z += char(~raw.size() & 255), z += char((~raw.size() >> 8) & 255);
  z += raw + be32((b << 16) | a);
  std::string ihdr = be32(w) + be32(h);
  ihdr += std::string{16, 0, 0, 0, 0};  // bit depth 16, greyscale, deflate, filter, no interlace
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", z) +
         chunk("IEND", "");
}

void ExpectJsonEqualsMetrics(const Json& j, const data::MetricSet& m) {
  const auto items = m.Items();
  // The metrics, then what they mean (weighting, KL direction, epsilons, ...).
  ASSERT_TRUE(j.contains("conventions")) << j.dump();
  EXPECT_TRUE(j["conventions"].contains("kld")) << j.dump();
  ASSERT_EQ(j.size(), items.size() + 1) << j.dump();
  size_t k = 0;
  for (const auto& [key, value] : j.items()) {
    if (key == "conventions") continue;
    EXPECT_EQ(key, items[k].first);
    if (std::isfinite(items[k].second)) {
      EXPECT_DOUBLE_EQ(value.get<double>(), items[k].second) << key;
    } else {
      EXPECT_TRUE(value.is_null()) << key;
    }
    ++k;
  }
}

const auto kQuiet = [](const std::string&) {};

TEST(ReadSaliencyMap, NpyShapesAndDtypes) {
  const std::string dir = Fresh("read_npy");
  const auto v = Blob(4, 6, 0.5, 0.5, 0.1, 1);
  WriteF32(dir + "/a.npy", {4, 6}, v);
  WriteF64(dir + "/b.NPY", {1, 4, 6}, v);
  auto a = data::ReadSaliencyMap(dir + "/a.npy");
  auto b = data::ReadSaliencyMap(dir + "/b.NPY");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->height, 4);
  EXPECT_EQ(a->width, 6);
  EXPECT_EQ(b->values, v);
  for (size_t k = 0; k < v.size(); ++k) EXPECT_EQ(a->values[k], double(float(v[k])));
  // Not a single map: (2, 4, 3), (24,), (1, 1, 4, 6).
  WriteF32(dir + "/c.npy", {2, 4, 3}, v);
  WriteF32(dir + "/d.npy", {24}, v);
  WriteF32(dir + "/e.npy", {1, 1, 4, 6}, v);
  for (const char* name : {"c.npy", "d.npy", "e.npy"}) {
    auto r = data::ReadSaliencyMap(dir + "/" + name);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_NE(std::string(r.status().message()).find(name), std::string::npos) << r.status();
  }
}

TEST(ReadSaliencyMap, Png8And16BitAndColour) {
  const std::string dir = Fresh("read_png");
  std::vector<uint8_t> grey{0, 10, 20, 30, 40, 250};
  WritePng8(dir + "/g.png", 2, 3, grey);
  auto g = data::ReadSaliencyMap(dir + "/g.png");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->values, (std::vector<double>{0, 10, 20, 30, 40, 250}));
  // RGB with equal channels is a greyscale map; unequal channels are an error.
  std::vector<uint8_t> rgb;
  for (uint8_t x : grey) rgb.insert(rgb.end(), {x, x, x});
  WritePng8(dir + "/rgb.png", 2, 3, rgb, 3);
  auto r = data::ReadSaliencyMap(dir + "/rgb.png");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->values, g->values);
  rgb[3 * 4 + 1] = 99;
  WritePng8(dir + "/colour.png", 2, 3, rgb, 3);
  auto c = data::ReadSaliencyMap(dir + "/colour.png");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("row 1, column 1"), std::string::npos)
      << c.status();
  // 16 bits keep their levels.
  const std::vector<uint16_t> deep{0, 1, 256, 40000, 65535, 7};
  ASSERT_TRUE(util::WriteFileAtomically(dir + "/d16.png", Png16(2, 3, deep)).ok());
  auto d = data::ReadSaliencyMap(dir + "/d16.png");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->values, (std::vector<double>{0, 1, 256, 40000, 65535, 7}));
}

TEST(ReadSaliencyMap, HostileFilesGiveErrorsNamingTheFile) {
  const std::string dir = Fresh("read_bad");
  std::vector<uint8_t> grey(64 * 64, 7);
  WritePng8(dir + "/ok.png", 64, 64, grey);
  auto full = util::ReadFile(dir + "/ok.png", 1 << 20);
  ASSERT_TRUE(full.ok());
  // Every truncation of a PNG and of an npy file fails cleanly.
  for (size_t n = 0; n < full->size(); n += 7) {
    ASSERT_TRUE(util::WriteFileAtomically(dir + "/t.png", full->substr(0, n)).ok());
    auto r = data::ReadSaliencyMap(dir + "/t.png");
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_NE(std::string(r.status().message()).find("t.png"), std::string::npos) << r.status();
  }
  WriteF32(dir + "/ok.npy", {3, 5}, std::vector<double>(15, 1.0));
  auto npy = util::ReadFile(dir + "/ok.npy", 1 << 20);
  for (size_t n = 0; n < npy->size(); ++n) {
    ASSERT_TRUE(util::WriteFileAtomically(dir + "/t.npy", npy->substr(0, n)).ok());
    EXPECT_FALSE(data::ReadSaliencyMap(dir + "/t.npy").ok()) << n;
  }
  ASSERT_TRUE(util::WriteFileAtomically(dir + "/fake.png", "GIF89a not a png at all").ok());
  EXPECT_FALSE(data::ReadSaliencyMap(dir + "/fake.png").ok());
  EXPECT_FALSE(data::ReadSaliencyMap(dir + "/map.jpg").ok());
  EXPECT_FALSE(data::ReadSaliencyMap(dir + "/missing.npy").ok());
  EXPECT_FALSE(data::ReadSaliencyMap(dir + "/ok.npy", /*max_bytes=*/10).ok());
}

TEST(EvalLib, SinglePairEqualsComputeMetrics) {
  const std::string dir = Fresh("single");
  const int h = 20, w = 40;
  const auto pred = Blob(h, w, 0.45, 0.5, 0.2, 2), gt = Blob(h, w, 0.5, 0.5, 0.0, 3);
  std::vector<uint8_t> fix8(h * w, 0);
  std::vector<double> fix(h * w, 0.0);
  for (int k : {205, 222, 410, 419, 601}) fix8[k] = 255, fix[k] = 1;
  WriteF32(dir + "/p.npy", {h, w}, pred);
  WriteF64(dir + "/g.npy", {1, h, w}, gt);
  WritePng8(dir + "/f.png", h, w, fix8);
  EvalOptions o{dir + "/p.npy", dir + "/g.npy", dir + "/f.png"};
  auto j = RunEval(o, kQuiet);
  ASSERT_TRUE(j.ok()) << j.status();
  std::vector<double> rounded(pred.size());
  for (size_t k = 0; k < pred.size(); ++k) rounded[k] = float(pred[k]);
  ExpectJsonEqualsMetrics(*j, data::ComputeMetrics(rounded.data(), gt.data(), fix.data(), h, w));
  // Without fixations: only the six map metrics.
  o.fix.clear();
  auto k = RunEval(o, kQuiet);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->size(), 6u + 1);  // and "conventions"
  EXPECT_FALSE(k->contains("nss"));
}

// Issue #15: Salient360! .bin maps, InfoGain and sAUC when asked for, the stated
// conventions, and warnings under the file they concern.
TEST(EvalLib, BenchmarkOptionsAndSalient360Files) {
  const int h = 8, w = 16;
  const std::string root = sal360::testing::TempPath("bench_opts");
  ASSERT_TRUE(util::MakeDirs(root).ok());
  std::vector<float> pbin, gbin, fbin;
  std::vector<data::MetricSet> expected;
  for (int k = 0; k < 3; ++k) {
    const auto p = Blob(h, w, 0.3 + 0.1 * k, 0.5, 0.1, 60 + k), g = Blob(h, w, 0.4, 0.5, 0.0, 70 + k);
    std::vector<double> f(h * w, 0.0);
    f[20 + k] = f[70 + k] = 1;
    pbin.insert(pbin.end(), p.begin(), p.end());
    gbin.insert(gbin.end(), g.begin(), g.end());
    fbin.insert(fbin.end(), f.begin(), f.end());
    const std::vector<float> pf(p.begin(), p.end()), gf(g.begin(), g.end()), ff(f.begin(), f.end());
    expected.push_back(data::ComputeMetrics(pf.data(), gf.data(), ff.data(), h, w));
  }
  auto write_bin = [&](const std::string& name, const std::vector<float>& v) {
    const std::string path = root + "/" + name;
    EXPECT_TRUE(util::WriteFileAtomically(path, std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4)).ok());
    return path;
  };
  EvalOptions o;
  o.pred = write_bin("pred_16x8x3_32b.bin", pbin);
  o.gt = write_bin("gt_16x8x3_32b.bin", gbin);
  o.fix = write_bin("fix_16x8x3_32b.bin", fbin);
  auto j = RunEval(o, kQuiet);
  ASSERT_TRUE(j.ok()) << j.status();
  ASSERT_EQ((*j)["count"], 3);
  for (int k = 0; k < 3; ++k) {
    const Json row = (*j)["pairs"][k];
    EXPECT_EQ(row["name"], "gt_16x8x3_32b.bin#" + std::to_string(k));
    for (const auto& [key, value] : expected[k].Items()) EXPECT_DOUBLE_EQ(row[key].get<double>(), value) << key;
  }
  EXPECT_EQ((*j)["conventions"]["sphere_weights"].get<std::string>().rfind("area", 0), 0u);
  // One pair with every option: symmetric KL, Salient360! weights, centre-prior InfoGain,
  // sAUC against another frame's fixations.
  const auto p = Blob(h, w, 0.45, 0.5, 0.1, 80), g = Blob(h, w, 0.5, 0.5, 0.0, 81);
  std::vector<double> f(h * w, 0.0), other(h * w, 0.0);
  f[40] = f[41] = 1;
  other[10] = other[100] = 1;
  EvalOptions one;
  one.pred = root + "/p.npy";
  one.gt = root + "/g.npy";
  one.fix = root + "/f.npy";
  one.sauc = root + "/other.npy";
  one.baseline = "centre";
  one.metric.kld = data::KldDirection::kSymmetric;
  one.metric.sphere_weights = data::SphereWeighting::kSalient360;
  WriteF64(one.pred, {h, w}, p);
  WriteF64(one.gt, {h, w}, g);
  WriteF64(one.fix, {h, w}, f);
  WriteF64(one.sauc, {h, w}, other);
  auto r = RunEval(one, kQuiet);
  ASSERT_TRUE(r.ok()) << r.status();
  const std::vector<float> base = data::CentrePriorMap(h, w);
  const std::vector<double> based(base.begin(), base.end());
  data::MetricOptions mo = one.metric;
  mo.baseline = based.data();
  mo.other_fixations = other.data();
  const data::MetricSet m = data::ComputeMetrics(p.data(), g.data(), f.data(), h, w, mo);
  ExpectJsonEqualsMetrics(*r, m);
  EXPECT_TRUE(r->contains("sauc") && r->contains("info_gain") && r->contains("info_gain_sphere"));
  EXPECT_EQ((*r)["conventions"]["kld"].get<std::string>().rfind("symmetric", 0), 0u);
  EXPECT_EQ((*r)["conventions"]["sphere_weights"].get<std::string>().rfind("salient360", 0), 0u);
  EXPECT_EQ((*r)["conventions"]["info_gain_baseline"], "centre");
  // A constant prediction is reported under the prediction's name, not the truth's.
  WriteF64(root + "/flat.npy", {h, w}, std::vector<double>(h * w, 2.0));
  one.pred = root + "/flat.npy";
  std::vector<std::string> warnings;
  ASSERT_TRUE(RunEval(one, [&](const std::string& s) { warnings.push_back(s); }).ok());
  ASSERT_FALSE(warnings.empty());
  EXPECT_EQ(warnings[0].rfind(root + "/flat.npy: constant_pred", 0), 0u) << warnings[0];
  // Pairing an N-map file with a single map is an error naming both.
  o.gt = one.gt;
  EXPECT_NE(std::string(RunEval(o, kQuiet).status().message()).find("holds 3 map(s)"), std::string::npos);
}

// Salient360! fixation lists as --fix: rasterised at the ground truth's size with our
// fixation-map rule, per map of an N-map .bin by time (--fix_fps), and the same
// numbers as the equivalent fixation map.
TEST(EvalLib, Salient360FixationLists) {
  const int h = 8, w = 16;
  const std::string root = sal360::testing::TempPath("fixlists");
  ASSERT_TRUE(util::MakeDirs(root).ok());
  // An image: the ICME'17 layout with its header, two observers.
  const std::vector<data::GazePoint> pts = {{0.3, 0.5}, {0.6, 0.25}, {0.3, 0.55}};
  ASSERT_TRUE(util::WriteFileAtomically(root + "/img.txt",
                                        "Idx, longitude, latitude, start timestamp, duration, end timestamp\n"
                                        "1, 0.3, 0.5, 0, 200, 200\n2, 0.6, 0.25, 210, 100, 310\n"
                                        "1, 0.3, 0.55, 0, 300, 300\n")
                  .ok());
  const auto p = Blob(h, w, 0.35, 0.5, 0.1, 5), g = Blob(h, w, 0.4, 0.45, 0.0, 6);
  WriteF64(root + "/p.npy", {h, w}, p);
  WriteF64(root + "/g.npy", {h, w}, g);
  EvalOptions o;
  o.pred = root + "/p.npy";
  o.gt = root + "/g.npy";
  o.fix = root + "/img.txt";
  auto j = RunEval(o, kQuiet);
  ASSERT_TRUE(j.ok()) << j.status();
  const std::vector<uint8_t> f8 = data::FixationMap(pts, h, w);
  const std::vector<double> fd(f8.begin(), f8.end());
  ExpectJsonEqualsMetrics(*j, data::ComputeMetrics(p.data(), g.data(), fd.data(), h, w));
  // The same fixations as a map file give the same JSON (but for nothing).
  WriteF64(root + "/f.npy", {h, w}, fd);
  o.fix = root + "/f.npy";
  auto jm = RunEval(o, kQuiet);
  ASSERT_TRUE(jm.ok()) << jm.status();
  EXPECT_EQ(j->dump(), jm->dump());

  // A video of 3 maps at 10 fps and a toolbox-style list timed in ms.
  std::vector<float> pbin, gbin;
  for (int k = 0; k < 3; ++k) {
    const auto pk = Blob(h, w, 0.2 + 0.2 * k, 0.5, 0.1, 10 + k), gk = Blob(h, w, 0.3 + 0.2 * k, 0.5, 0.0, 20 + k);
    pbin.insert(pbin.end(), pk.begin(), pk.end());
    gbin.insert(gbin.end(), gk.begin(), gk.end());
  }
  auto write_bin = [&](const std::string& name, const std::vector<float>& v) {
    const std::string path = root + "/" + name;
    EXPECT_TRUE(util::WriteFileAtomically(path, std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4)).ok());
    return path;
  };
  EvalOptions v;
  v.pred = write_bin("pred_16x8x3_32b.bin", pbin);
  v.gt = write_bin("gt_16x8x3_32b.bin", gbin);
  v.fix = root + "/video.csv";
  ASSERT_TRUE(util::WriteFileAtomically(v.fix,
                                        "# long_Gaze, lat_Gaze, Fix_index, Fix_time_start, Fix_time_end\n"
                                        "0.2,0.5,0,0,150\n0.45,0.4,1,160,199\n0.7,0.6,2,220,290\n")
                  .ok());
  auto missing_fps = RunEval(v, kQuiet);
  ASSERT_FALSE(missing_fps.ok());
  EXPECT_NE(std::string(missing_fps.status().message()).find("--fix_fps"), std::string::npos);
  v.fix_fps = 10;
  auto jv = RunEval(v, kQuiet);
  ASSERT_TRUE(jv.ok()) << jv.status();
  ASSERT_EQ((*jv)["count"], 3);
  const std::vector<std::vector<data::GazePoint>> per_frame = {
      {{0.2, 0.5}}, {{0.2, 0.5}, {0.45, 0.4}}, {{0.7, 0.6}}};
  for (int k = 0; k < 3; ++k) {
    const std::vector<uint8_t> fk = data::FixationMap(per_frame[k], h, w);
    const std::vector<float> ff(fk.begin(), fk.end());
    const data::MetricSet m = data::ComputeMetrics(pbin.data() + k * h * w, gbin.data() + k * h * w, ff.data(), h, w);
    for (const auto& [key, value] : m.Items()) {
      EXPECT_DOUBLE_EQ((*jv)["pairs"][k][key].get<double>(), value) << k << " " << key;
    }
  }
  // An untimed list cannot be split over a video's maps.
  v.fix = root + "/img.txt";
  ASSERT_TRUE(util::WriteFileAtomically(v.fix, "longitude,latitude\n0.5,0.5\n").ok());
  auto untimed = RunEval(v, kQuiet);
  ASSERT_FALSE(untimed.ok());
  EXPECT_NE(std::string(untimed.status().message()).find("no time columns"), std::string::npos);
}

TEST(EvalLib, DirectoriesPairByKeyAndAverage) {
  const std::string root = Fresh("dirs");
  const int h = 10, w = 20;
  for (const char* sub : {"pred/v1", "gt/v1", "fix/v1"}) fs::create_directories(root + "/" + sub);
  std::vector<data::MetricSet> expected;
  for (int t = 1; t <= 3; ++t) {
    const std::string id = "v1/000" + std::to_string(t);
    const auto pred = Blob(h, w, 0.3 + 0.1 * t, 0.5, 0.1, 10 + t);
    const auto gt = Blob(h, w, 0.35 + 0.1 * t, 0.5, 0.0, 20 + t);
    WriteF64(root + "/pred/" + id + ".npy", {h, w}, pred);
    WriteF64(root + "/gt/" + id + "_gt.npy", {1, h, w}, gt);  // dataset-style name
    std::vector<uint8_t> f8(h * w, 0);
    std::vector<double> f(h * w, 0.0);
    f8[55 + t] = 1, f[55 + t] = 1;
    WritePng8(root + "/fix/" + id + "_fix.png", h, w, f8);
    expected.push_back(data::ComputeMetrics(pred.data(), gt.data(), f.data(), h, w));
  }
  WriteF64(root + "/pred/v1/extra.npy", {h, w}, Blob(h, w, 0.5, 0.5, 0, 1));  // ignored
  ASSERT_TRUE(util::WriteFileAtomically(root + "/gt/README.txt", "not a map").ok());
  std::vector<std::string> warnings;
  auto j = RunEval({root + "/pred", root + "/gt", root + "/fix"},
                   [&](const std::string& m) { warnings.push_back(m); });
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["count"], 3);
  ASSERT_EQ((*j)["pairs"].size(), 3u);
  for (int t = 0; t < 3; ++t) {
    Json row = (*j)["pairs"][t];
    EXPECT_EQ(row["name"], "v1/000" + std::to_string(t + 1));
    EXPECT_EQ(row["fix"], root + "/fix/v1/000" + std::to_string(t + 1) + "_fix.png");
    for (const auto& [key, value] : expected[t].Items()) {
      EXPECT_DOUBLE_EQ(row[key].get<double>(), value) << key;
    }
  }
  for (const auto& [key, unused] : expected[0].Items()) {
    double mean = 0;
    for (const auto& m : expected) mean += m.Get(key) / 3;
    EXPECT_NEAR((*j)["mean"][key].get<double>(), mean, 1e-14) << key;
  }
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("v1/extra"), std::string::npos) << warnings[0];
}

TEST(EvalLib, PairingErrors) {
  const std::string root = Fresh("pairing");
  for (const char* sub : {"pred", "gt", "gt2", "fix", "empty"}) fs::create_directories(root + "/" + sub);
  const auto m = Blob(4, 8, 0.5, 0.5, 0, 1);
  WriteF32(root + "/gt/a.npy", {4, 8}, m);
  WriteF32(root + "/gt/b.npy", {4, 8}, m);
  WriteF32(root + "/pred/a.npy", {4, 8}, m);
  auto missing = RunEval({root + "/pred", root + "/gt"}, kQuiet);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.status().message()).find("have no prediction"), std::string::npos)
      << missing.status();
  EXPECT_NE(std::string(missing.status().message()).find(": b"), std::string::npos);
  // Duplicate keys in one directory.
  WriteF32(root + "/gt2/a.npy", {4, 8}, m);
  WriteF32(root + "/gt2/a_gt.npy", {4, 8}, m);
  auto dup = RunEval({root + "/pred", root + "/gt2"}, kQuiet);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(std::string(dup.status().message()).find("both have the key 'a'"), std::string::npos)
      << dup.status();
  // File vs directory, missing paths, empty directories, missing fixation maps.
  EXPECT_FALSE(RunEval({root + "/pred/a.npy", root + "/gt"}, kQuiet).ok());
  EXPECT_FALSE(RunEval({root + "/pred", root + "/nope"}, kQuiet).ok());
  EXPECT_FALSE(RunEval({root + "/pred", root + "/empty"}, kQuiet).ok());
  WriteF32(root + "/pred/b.npy", {4, 8}, m);
  EXPECT_FALSE(RunEval({root + "/pred", root + "/gt", root + "/fix"}, kQuiet).ok());
  EXPECT_TRUE(RunEval({root + "/pred", root + "/gt"}, kQuiet).ok());
}

TEST(EvalLib, ResizeOnlyWhenAsked) {
  const std::string dir = Fresh("resize");
  const auto pred = Blob(10, 20, 0.5, 0.5, 0.05, 5), gt = Blob(20, 40, 0.5, 0.5, 0, 6);
  WriteF32(dir + "/p.npy", {10, 20}, pred);
  WriteF32(dir + "/g.npy", {20, 40}, gt);
  EvalOptions o{dir + "/p.npy", dir + "/g.npy", ""};
  auto no = RunEval(o, kQuiet);
  ASSERT_FALSE(no.ok());
  EXPECT_NE(std::string(no.status().message()).find("--resize"), std::string::npos) << no.status();
  o.resize = true;
  auto yes = RunEval(o, kQuiet);
  ASSERT_TRUE(yes.ok()) << yes.status();
  const std::vector<float> pf(pred.begin(), pred.end());
  const std::vector<float> up = data::ResizeFloat(pf.data(), 10, 20, 1, 20, 40);
  const std::vector<double> upd(up.begin(), up.end());
  std::vector<double> gtf(gt.size());
  for (size_t k = 0; k < gt.size(); ++k) gtf[k] = float(gt[k]);
  ExpectJsonEqualsMetrics(*yes, data::ComputeMetrics(upd.data(), gtf.data(), nullptr, 20, 40));
  EXPECT_GT((*yes)["cc"].get<double>(), 0.95);
  // Fixation maps are never resized.
  std::vector<uint8_t> f8(10 * 20, 0);
  f8[3] = 1;
  WritePng8(dir + "/f.png", 10, 20, f8);
  o.fix = dir + "/f.png";
  auto bad_fix = RunEval(o, kQuiet);
  ASSERT_FALSE(bad_fix.ok());
  EXPECT_NE(std::string(bad_fix.status().message()).find("f.png"), std::string::npos);
}

TEST(EvalLib, NonFiniteFilesAreRefusedAndConstantMapsWarn) {
  const std::string dir = Fresh("degenerate");
  std::vector<double> p(12, 1.0);
  p[4] = std::nan("");
  WriteF64(dir + "/p.npy", {3, 4}, p);
  WriteF64(dir + "/g.npy", {3, 4}, Blob(3, 4, 0.5, 0.5, 0, 1));
  // A map file with NaN/Inf is refused naming the file and the pixel (issue #18); the
  // library's non_finite rule (metrics_test) is for in-memory maps, e.g. a model's output.
  auto j = RunEval({dir + "/p.npy", dir + "/g.npy"}, [&](const std::string&) {});
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find(dir + "/p.npy: non-finite value nan at pixel (1, 0)"), absl::string_view::npos)
      << j.status();
  // A constant prediction still scores, with its warning.
  WriteF64(dir + "/c.npy", {3, 4}, std::vector<double>(12, 1.0));
  std::vector<std::string> warnings;
  auto c = RunEval({dir + "/c.npy", dir + "/g.npy"}, [&](const std::string& m) { warnings.push_back(m); });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)["cc"], 0.0);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("constant_pred"), std::string::npos);
}

// ---- dataset mode (--data) ----

std::string MakeDataset(const std::string& name) {
  const std::string root = Fresh(name) + "/ds";
  data::SyntheticOptions so;
  so.videos = 2;
  so.frames = 3;
  so.height = 8;
  so.width = 16;
  so.viewers = 5;
  so.gt_cache = true;
  so.gt_cache_height = 8;
  so.gt_cache_width = 16;
  auto st = data::MakeSyntheticDataset(root, so);
  EXPECT_TRUE(st.ok()) << st.status();
  return root;
}

// Every frame's prediction is scored against G and the fixation map made from that
// frame's gaze at the prediction's size; files that are not frames are ignored.
TEST(EvalLib, DatasetModeScoresAgainstTheGazePoints) {
  const std::string root = MakeDataset("dataset_mode");
  auto d = data::Dataset::Open(root);
  ASSERT_TRUE(d.ok()) << d.status();
  const std::string pred_dir = TempDir() + "/dataset_mode/pred";
  struct Case {
    std::string video;
    int frame, h, w;
    const char* file;
  } cases[] = {{"syn000", 1, 8, 16, "syn000/0001.npy"},
               {"syn000", 3, 16, 32, "syn000/0003_pred.npy"},  // another size, a suffix
               {"syn001", 2, 6, 12, "syn001/0002.npy"}};
  std::vector<data::MetricSet> expected;
  for (const Case& c : cases) {
    fs::create_directories(pred_dir + "/" + c.video);
    const auto pred = Blob(c.h, c.w, 0.2 * c.frame, 0.5, 0.3, c.frame);
    WriteF64(pred_dir + "/" + c.file, {c.h, c.w}, pred);
    const auto& gaze = *d->gaze(c.video, c.frame);
    const std::vector<float> g = *data::GroundTruthMap(gaze, c.h, c.w);
    const std::vector<double> gd(g.begin(), g.end());
    const std::vector<uint8_t> f8 = data::FixationMap(gaze, c.h, c.w);
    const std::vector<double> f(f8.begin(), f8.end());
    expected.push_back(data::ComputeMetrics(pred.data(), gd.data(), f.data(), c.h, c.w));
  }
  WriteF64(pred_dir + "/syn000/0042.npy", {8, 16}, Blob(8, 16, 0.5, 0.5, 0, 1));  // no frame
  WriteF64(pred_dir + "/loose.npy", {8, 16}, Blob(8, 16, 0.5, 0.5, 0, 1));        // no video
  EvalOptions o;
  o.pred = pred_dir;
  o.data = root;
  std::vector<std::string> warnings;
  auto j = RunEval(o, [&](const std::string& m) { warnings.push_back(m); });
  ASSERT_TRUE(j.ok()) << j.status();
  ASSERT_EQ((*j)["count"], 3);
  for (size_t t = 0; t < 3; ++t) {
    const Json row = (*j)["pairs"][t];
    EXPECT_EQ(row["video"], cases[t].video);
    EXPECT_EQ(row["frame"], cases[t].frame);
    EXPECT_EQ(row["pred"], pred_dir + "/" + cases[t].file);
    for (const auto& [key, value] : expected[t].Items()) {
      ASSERT_TRUE(row.contains(key)) << key;  // nss and auc_judd too: fixations from gaze
      EXPECT_DOUBLE_EQ(row[key].get<double>(), value) << key;
    }
  }
  std::string all;
  for (const std::string& w : warnings) all += w + "\n";
  EXPECT_NE(all.find("syn000/0042"), std::string::npos) << all;
  EXPECT_NE(all.find("loose"), std::string::npos) << all;
  EXPECT_NE(all.find("scoring 3 of the 6 frames"), std::string::npos) << all;

  // --gt_source=cache reads NNNN_gt.npy: replace one cache and only that mode sees it.
  const std::vector<float> other(8 * 16, 0.25f);
  ASSERT_TRUE(data::WriteGtCache(root + "/syn000/0001_gt.npy", other, 8, 16).ok());
  o.gt_source = "cache";
  auto c = RunEval(o, kQuiet);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)["pairs"][0]["cc"].get<double>(), 0.0);  // a constant ground truth: CC := 0
  // Other frames read their own caches, resized to the prediction's size (6x12 here).
  const auto cached = data::ReadGtCache(root + "/syn001/0002_gt.npy", 6, 12);
  ASSERT_TRUE(cached.ok()) << cached.status();
  const std::vector<double> cd(cached->begin(), cached->end());
  const auto pred2 = Blob(6, 12, 0.4, 0.5, 0.3, 2);
  const auto& gaze2 = *d->gaze("syn001", 2);
  const std::vector<uint8_t> f8 = data::FixationMap(gaze2, 6, 12);
  const std::vector<double> f(f8.begin(), f8.end());
  EXPECT_DOUBLE_EQ((*c)["pairs"][2]["cc"].get<double>(),
                   data::ComputeMetrics(pred2.data(), cd.data(), f.data(), 6, 12).cc);
  o.gt_source = "generate";
  auto g = RunEval(o, kQuiet);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_DOUBLE_EQ((*g)["pairs"][0]["cc"].get<double>(), expected[0].cc);
}

TEST(EvalLib, DatasetModeErrors) {
  const std::string root = MakeDataset("dataset_errors");
  const std::string pred_dir = TempDir() + "/dataset_errors/pred";
  fs::create_directories(pred_dir + "/elsewhere");
  WriteF64(pred_dir + "/elsewhere/0001.npy", {8, 16}, Blob(8, 16, 0.5, 0.5, 0, 1));
  auto run = [&](EvalOptions o) { return RunEval(o, kQuiet); };
  EvalOptions o;
  o.pred = pred_dir;
  o.data = root;
  auto none = run(o);  // no prediction is a frame of the dataset
  ASSERT_FALSE(none.ok());
  EXPECT_NE(std::string(none.status().message()).find("no prediction named"), std::string::npos)
      << none.status();
  EvalOptions with_gt = o;
  with_gt.gt = pred_dir;
  EXPECT_FALSE(run(with_gt).ok());
  EvalOptions resize = o;
  resize.resize = true;
  EXPECT_FALSE(run(resize).ok());
  EvalOptions source = o;
  source.gt_source = "maybe";
  EXPECT_FALSE(run(source).ok());
  EvalOptions file = o;
  file.pred = pred_dir + "/elsewhere/0001.npy";
  EXPECT_FALSE(run(file).ok());
  EvalOptions not_a_dataset = o;
  not_a_dataset.data = pred_dir;
  auto nd = run(not_a_dataset);
  ASSERT_FALSE(nd.ok());
  EXPECT_NE(std::string(nd.status().message()).find("vinfo.pkl"), std::string::npos)
      << nd.status();
}

// ---- the binary ----

using sal360::testing::ToolResult;

// tools/eval as a subprocess: stdout in `output`, stderr in `err`; `env` entries
// ("NAME=value") are prepended.
ToolResult RunBinary(const std::vector<std::string>& args,
                              const std::vector<std::string>& env = {}) {
  return sal360::testing::RunToolSplit("tools/eval", args, env);
}

TEST(EvalBinary, PrintsJsonAndExitsNonZeroOnBadInput) {
  const std::string dir = Fresh("binary");
  const auto pred = Blob(8, 16, 0.4, 0.5, 0.1, 7), gt = Blob(8, 16, 0.5, 0.5, 0, 8);
  WriteF64(dir + "/p.npy", {8, 16}, pred);
  WriteF64(dir + "/g.npy", {8, 16}, gt);
  const ToolResult ok = RunBinary({"--pred=" + dir + "/p.npy", "--gt=" + dir + "/g.npy"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const Json j = Json::parse(ok.output);
  ExpectJsonEqualsMetrics(j, data::ComputeMetrics(pred.data(), gt.data(), nullptr, 8, 16));

  ASSERT_TRUE(util::WriteFileAtomically(dir + "/bad.npy", "\x93NUMPY garbage").ok());
  const ToolResult bad = RunBinary({"--pred=" + dir + "/bad.npy", "--gt=" + dir + "/g.npy"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(bad.output.empty());
  EXPECT_NE(bad.err.find("bad.npy"), std::string::npos) << bad.err;

  const ToolResult usage = RunBinary({"--gt=" + dir + "/g.npy"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.err.find("--pred"), std::string::npos) << usage.err;
}

TEST(EvalBinary, DatasetMode) {
  const std::string root = MakeDataset("binary_dataset");
  const std::string pred_dir = TempDir() + "/binary_dataset/pred";
  fs::create_directories(pred_dir + "/syn001");
  WriteF64(pred_dir + "/syn001/0003.npy", {8, 16}, Blob(8, 16, 0.5, 0.5, 0.1, 3));
  const ToolResult ok = RunBinary({"--pred=" + pred_dir, "--data=" + root});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const Json j = Json::parse(ok.output);
  EXPECT_EQ(j["count"], 1);
  EXPECT_TRUE(j["mean"]["auc_judd"].is_number());
  EXPECT_NE(ok.err.find("scoring 1 of the 6 frames"), std::string::npos) << ok.err;
  const ToolResult both = RunBinary({"--pred=" + pred_dir, "--data=" + root, "--gt=" + root});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("--data replaces"), std::string::npos) << both.err;
}

// Under `bazel run` the binary starts in its runfiles; relative paths must be taken
// relative to where the user typed the command (BUILD_WORKING_DIRECTORY).
TEST(EvalBinary, RelativePathsFollowBuildWorkingDirectory) {
  const std::string dir = Fresh("binary_relative");
  const auto pred = Blob(8, 16, 0.4, 0.5, 0.1, 7), gt = Blob(8, 16, 0.5, 0.5, 0, 8);
  WriteF64(dir + "/p.npy", {8, 16}, pred);
  WriteF64(dir + "/g.npy", {8, 16}, gt);
  const ToolResult ok =
      RunBinary({"--pred=p.npy", "--gt=g.npy"}, {"BUILD_WORKING_DIRECTORY=" + dir});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  ExpectJsonEqualsMetrics(Json::parse(ok.output),
                          data::ComputeMetrics(pred.data(), gt.data(), nullptr, 8, 16));
  const ToolResult missing =
      RunBinary({"--pred=p.npy", "--gt=nope.npy"}, {"BUILD_WORKING_DIRECTORY=" + dir});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find(dir + "/nope.npy"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace sal360::tools

// ReportWriter: the CSV and JSON files hold exactly the scores that were added (means
// recomputed here from the inputs), bad input gives errors, and the HTML page is
// self-contained (no URLs, every image a decodable PNG data URI; the only scripts are the
// 360° viewer's, inline).
#include "data/report.h"

#include <gtest/gtest.h>
#include <stb/stb_image.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "tests/eval/report_fixture.h"
#include "util/file.h"
#include "util/file.h"

namespace sal360::data {
namespace {

using nlohmann::json;

std::string TempDir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t ? t : "/tmp";
}

MetricSet Scores(double base, bool fix) {
  MetricSet m;
  m.cc = base, m.kld = 1 + base, m.sim = base / 2;
  m.cc_sphere = base + 0.01, m.kld_sphere = 1.1 + base, m.sim_sphere = base / 3;
  m.has_fixations = fix;
  m.nss = 2 * base, m.auc_judd = 0.5 + base / 4, m.nss_sphere = 2.5 * base;
  return m;
}

std::map<std::string, MetricSet> AllSystems(double base, bool fix = true) {
  return {{"model", Scores(base, fix)},
          {"uniform", Scores(0, fix)},
          {"equator", Scores(base / 2, fix)},
          {"prev_gt", Scores(base / 3, fix)}};
}

TEST(ReportWriter, AddFrameRejectsMissingUnknownAndRepeatedEntries) {
  ReportWriter r{ReportConfig{}};
  auto scores = AllSystems(0.5);
  EXPECT_TRUE(r.AddFrame("v1", 1, scores).ok());
  const absl::Status again = r.AddFrame("v1", 1, scores);
  EXPECT_TRUE(absl::IsAlreadyExists(again)) << again;
  auto missing = scores;
  missing.erase("prev_gt");
  const absl::Status m = r.AddFrame("v1", 2, missing);
  EXPECT_FALSE(m.ok());
  EXPECT_NE(std::string(m.message()).find("prev_gt"), std::string::npos) << m;
  auto extra = scores;
  extra["mystery"] = Scores(1, true);
  const absl::Status e = r.AddFrame("v1", 3, extra);
  EXPECT_NE(std::string(e.message()).find("mystery"), std::string::npos) << e;
  EXPECT_EQ(r.num_frames(), 1);
}

TEST(ReportWriter, GalleryRejectsBadSizes) {
  ReportWriter r{ReportConfig{}};
  std::vector<uint8_t> rgb(12, 0);
  std::vector<float> map(4, 0.f);
  EXPECT_FALSE(r.AddGalleryEntry("v", 1, nullptr, 2, 2, map.data(), map.data(), 2, 2).ok());
  EXPECT_FALSE(r.AddGalleryEntry("v", 1, rgb.data(), 0, 2, map.data(), map.data(), 2, 2).ok());
  EXPECT_FALSE(r.AddGalleryEntry("v", 1, rgb.data(), 2, 2, map.data(), map.data(), -1, 2).ok());
  EXPECT_FALSE(
      r.AddGalleryEntry("v", 1, rgb.data(), 2, 1 << 20, map.data(), map.data(), 2, 2).ok());
  EXPECT_TRUE(r.AddGalleryEntry("v", 1, rgb.data(), 2, 2, map.data(), map.data(), 2, 2).ok());
}

TEST(ReportWriter, CsvHoldsEveryScoreExactly) {
  ReportWriter r{ReportConfig{}};
  ASSERT_TRUE(r.AddFrame("a,b \"quoted\"", 7, AllSystems(0.123456789012345)).ok());
  auto with_nan = AllSystems(0.25, false);
  with_nan["model"].cc = std::nan("");
  with_nan["model"].warnings = kWarnNonFinite | kWarnConstantGt;
  ASSERT_TRUE(r.AddFrame("plain", 8, with_nan).ok());
  const std::vector<std::string> lines = absl::StrSplit(r.FramesCsv(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u + 2 * 4);
  EXPECT_EQ(lines[0],
            "video,frame,system,cc,kld,nss,auc_judd,auc_borji,sauc,info_gain,sim,cc_sphere,kld_sphere,"
            "nss_sphere,auc_borji_sphere,info_gain_sphere,sim_sphere,warnings");
  // Quoted video name; values round-trip.
  EXPECT_EQ(lines[1].rfind("\"a,b \"\"quoted\"\"\",7,model,", 0), 0u) << lines[1];
  const std::string tail = lines[1].substr(lines[1].find(",model,") + 7);
  const std::vector<std::string> cells = absl::StrSplit(tail, ',');
  ASSERT_EQ(cells.size(), 15u);
  EXPECT_EQ(std::stod(cells[0]), 0.123456789012345);
  EXPECT_EQ(std::stod(cells[3]), 0.5 + 0.123456789012345 / 4);
  // NaN and absent fixation metrics are empty cells; warnings are named.
  EXPECT_EQ(lines[5].rfind("plain,8,model,,", 0), 0u) << lines[5];
  EXPECT_NE(lines[5].find(",,"), std::string::npos);
  EXPECT_NE(lines[5].find("\"non_finite, constant_gt\""), std::string::npos) << lines[5];
}

TEST(ReportWriter, JsonMeansEqualTheMeansOfTheAddedScores) {
  ReportWriter r = testing::MakeReport(/*videos=*/2, /*frames=*/3, /*gallery=*/0);
  // Recompute from the same inputs.
  std::map<std::string, std::map<std::string, std::vector<double>>> values;  // video->key
  std::map<std::string, std::vector<double>> all;                            // key
  MeanMapAccumulator mean(60, 120);
  for (int v = 0; v < 2; ++v) {
    for (int t = 0; t < 3; ++t) mean.Add(testing::MakeFrame(v, t).gt.data());
  }
  const std::vector<float> equator = mean.Mean();
  std::map<std::string, std::vector<double>> equator_values;
  for (int v = 0; v < 2; ++v) {
    std::vector<float> prev = UniformMap(60, 120);
    for (int t = 0; t < 3; ++t) {
      const auto f = testing::MakeFrame(v, t);
      const auto s = testing::ScoreFrame(f, prev, equator);
      for (const auto& [k, val] : s.at("model").Items()) {
        values["video_" + std::to_string(v)][k].push_back(val);
        all[k].push_back(val);
      }
      for (const auto& [k, val] : s.at("equator").Items()) equator_values[k].push_back(val);
      prev = f.gt;
    }
  }
  auto avg = [](const std::vector<double>& x) {
    double s = 0;
    for (double v : x) s += v;
    return s / x.size();
  };
  const json m = json::parse(r.MetricsJson());
  EXPECT_EQ(m["format"], kReportFormat);
  EXPECT_EQ(m["frames"], 6);
  EXPECT_EQ(m["videos"], 2);
  EXPECT_EQ(m["info"]["resolution"], "60x120");
  ASSERT_EQ(m["model"].size(), size_t(kNumMetrics));
  for (const auto& [k, x] : all) {
    EXPECT_NEAR(m["model"][k].get<double>(), avg(x), 1e-12) << k;
    EXPECT_NEAR(m["models"]["model"][k].get<double>(), avg(x), 1e-12) << k;
    EXPECT_NEAR(r.Mean("model", k), avg(x), 1e-12) << k;
    EXPECT_NEAR(m["baselines"]["equator"][k].get<double>(), avg(equator_values[k]), 1e-12) << k;
  }
  for (const char* b : {"uniform", "equator", "prev_gt"}) EXPECT_TRUE(m["baselines"].contains(b));
  // The uniform baseline is constant: CC is 0 with a warning on every frame.
  EXPECT_EQ(m["baselines"]["uniform"]["cc"].get<double>(), 0.0);
  EXPECT_EQ(m["warnings"]["uniform"]["constant_pred"], 6);
  // The model beats every baseline on this easy data (sanity of the fixture).
  for (const char* b : {"uniform", "equator", "prev_gt"}) {
    EXPECT_GT(m["model"]["cc"].get<double>(), m["baselines"][b]["cc"].get<double>()) << b;
  }
  const json v = json::parse(r.VideosJson());
  for (const auto& [video, keys] : values) {
    EXPECT_EQ(v["videos"][video]["frames"], 3);
    for (const auto& [k, x] : keys) {
      EXPECT_NEAR(v["videos"][video]["model"][k].get<double>(), avg(x), 1e-12) << video << k;
    }
  }
}

TEST(ReportWriter, UndefinedValuesAreCountedAndSkipped) {
  ReportWriter r{ReportConfig{}};
  auto a = AllSystems(0.4), b = AllSystems(0.8);
  b["model"].nss = std::nan("");
  ASSERT_TRUE(r.AddFrame("v", 1, a).ok());
  ASSERT_TRUE(r.AddFrame("v", 2, b).ok());
  const json m = json::parse(r.MetricsJson());
  EXPECT_NEAR(m["model"]["nss"].get<double>(), 0.8, 1e-15);  // frame 1 only
  EXPECT_NEAR(m["model"]["cc"].get<double>(), 0.6, 1e-15);
  EXPECT_EQ(m["undefined"]["model"]["nss"], 1);
}

TEST(ReportWriter, FixationKeysAbsentWithoutFixations) {
  ReportWriter r{ReportConfig{}};
  ASSERT_TRUE(r.AddFrame("v", 1, AllSystems(0.4, false)).ok());
  const json m = json::parse(r.MetricsJson());
  EXPECT_FALSE(m["model"].contains("nss"));
  EXPECT_FALSE(m["model"].contains("auc_judd"));
  EXPECT_TRUE(m["model"].contains("cc_sphere"));
}

TEST(ReportWriter, HtmlIsSelfContained) {
  ReportWriter r = testing::MakeReport(2, 3, /*gallery=*/2);
  const std::string html = r.Html();
  for (const char* banned : {"http://", "https://", "<script", "src=\"//", "url(", "@import"}) {
    EXPECT_EQ(html.find(banned), std::string::npos) << banned;
  }
  // The written page adds the 360° viewer: its two inline script elements (configuration
  // and code), still no URL; its frames are files beside the page.
  const std::string dir = ::testing::TempDir() + "/self_contained";
  ASSERT_TRUE(r.Write(dir).ok());
  absl::StatusOr<std::string> page = util::ReadFile(dir + "/report.html", 64 << 20);
  ASSERT_TRUE(page.ok()) << page.status();
  for (const char* banned : {"http://", "https://", "src=\"//", "url(", "@import", "<script src"}) {
    EXPECT_EQ(page->find(banned), std::string::npos) << banned;
  }
  int scripts = 0;
  for (size_t at = page->find("<script"); at != std::string::npos; at = page->find("<script", at + 1)) ++scripts;
  EXPECT_EQ(scripts, 2);
  EXPECT_NE(html.find("sal360 test report &lt;synthetic&gt; &amp; co"), std::string::npos);
  EXPECT_EQ(html.find("<synthetic>"), std::string::npos) << "the title must be escaped";
  // Every image is a PNG data URI that decodes to the gallery size (120x60 here).
  size_t pos = 0;
  int images = 0;
  const std::string prefix = "src=\"data:image/png;base64,";
  while ((pos = html.find("src=\"", pos)) != std::string::npos) {
    ASSERT_EQ(html.compare(pos, prefix.size(), prefix), 0) << html.substr(pos, 60);
    const size_t start = pos + prefix.size(), end = html.find('"', start);
    std::string png;
    ASSERT_TRUE(absl::Base64Unescape(html.substr(start, end - start), &png));
    int w = 0, h = 0, c = 0;
    stbi_uc* px = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(png.data()),
                                        static_cast<int>(png.size()), &w, &h, &c, 3);
    ASSERT_NE(px, nullptr);
    stbi_image_free(px);
    EXPECT_EQ(w, 120);
    EXPECT_EQ(h, 60);
    ++images;
    pos = end;
  }
  EXPECT_EQ(images, 2 * 3);
  // One bar chart per metric, one table row per system.
  size_t charts = 0;
  for (size_t p = 0; (p = html.find("<svg", p)) != std::string::npos; ++p) ++charts;
  EXPECT_EQ(charts, size_t(kNumMetrics));
}

TEST(ReportWriter, GalleryShrinksWideFrames) {
  ReportConfig cfg;
  cfg.gallery_width = 100;
  ReportWriter r(cfg);
  const auto f = testing::MakeFrame(0, 0, 60, 120);
  ASSERT_TRUE(
      r.AddGalleryEntry("v", 1, f.rgb.data(), 60, 120, f.gt.data(), f.pred.data(), 60, 120).ok());
  // Maps of another size are resized to the frame.
  const auto small = testing::MakeFrame(0, 0, 30, 60);
  ASSERT_TRUE(
      r.AddGalleryEntry("v", 2, f.rgb.data(), 60, 120, small.gt.data(), small.pred.data(), 30, 60)
          .ok());
  const std::string html = r.Html();
  EXPECT_NE(html.find("width=\"100\" height=\"50\""), std::string::npos);
}

TEST(ReportWriter, WriteCreatesAllFiles) {
  ReportWriter r = testing::MakeReport(1, 2, 1);
  const std::string dir = TempDir() + "/report_out/nested";
  ASSERT_TRUE(r.Write(dir).ok());
  for (const char* name : {"frames.csv", "videos.json", "metrics.json", "report.html"}) {
    auto contents = util::ReadFile(dir + "/" + name, 1 << 26);
    ASSERT_TRUE(contents.ok()) << contents.status();
    EXPECT_FALSE(contents->empty()) << name;
  }
  auto metrics = util::ReadFile(dir + "/metrics.json", 1 << 20);
  EXPECT_EQ(json::parse(*metrics)["frames"], 2);
  // A file in the way of the directory is an error, not a crash.
  ASSERT_TRUE(util::WriteFileAtomically(TempDir() + "/not_a_dir", "x").ok());
  EXPECT_FALSE(r.Write(TempDir() + "/not_a_dir").ok());
}

}  // namespace
}  // namespace sal360::data

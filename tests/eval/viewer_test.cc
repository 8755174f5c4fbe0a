// The 360° viewer of the reports (data/viewer.h, issue #20) in headless Chromium, from
// a file:// URL. The page's self-test (#selftest) drags, zooms, points the view at
// directions (near both poles, both sides of the seam) and reads back the pixel under
// the view centre, then steps the timeline; it prints what it saw into the DOM. This test
// computes, from the maps and sphere/erp.h alone, which map pixel each direction looks at
// and the colour the viewer must show for it, and compares:
//   - the page loads with WebGL and no script or console error;
//   - a drag changes the view and the rendered pixels, a scroll zooms;
//   - the centre pixel is the colour of the prediction's pixel in the looked-at direction;
//   - "next" moves to frame 2, whose file is loaded only then, and shows its own map.
// Without Chromium: skipped with the reason, except under CI=true (then a failure).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "data/report.h"
#include "data/viewer.h"
#include "tests/testing/fresh_checkpoint.h"
#include "nlohmann/json.hpp"
#include "sphere/erp.h"
#include "tests/testing/chromium.h"
#include "tests/testing/tool_runner.h"
#include "util/file.h"
#include "util/npy.h"

namespace sal360::data {
namespace {

using nlohmann::json;
using ::sal360::testing::ChromiumCommand;
using ::sal360::testing::FindChromium;
using ::sal360::testing::ShellQuote;

constexpr int kMapH = 16, kMapW = 32, kFrameH = 64, kFrameW = 128;

// Distinct values in neighbouring pixels (a wrong row or column shows), different per frame.
std::vector<float> TestMap(int frame) {
  std::vector<float> m(size_t(kMapH) * kMapW);
  for (int i = 0; i < kMapH; ++i) {
    for (int j = 0; j < kMapW; ++j) m[size_t(i) * kMapW + j] = float((i * 7 + j * 13 + frame * 29) % 61);
  }
  return m;
}

std::vector<uint8_t> TestFrame(int frame) {
  std::vector<uint8_t> rgb(size_t(kFrameH) * kFrameW * 3);
  for (size_t k = 0; k < rgb.size(); ++k) rgb[k] = uint8_t((k * 37 + frame * 101) % 256);
  return rgb;
}

// The direction of the ray through the centre of the canvas pixel the self-test reads,
// (w/2, h/2) from the bottom left, for a view at (yaw = longitude, pitch = latitude)
// with vertical field of view `fov` (degrees): a pinhole camera whose right is eastward.
// Near a pole half a pixel moves the longitude by degrees, so the test follows the ray.
std::pair<double, double> CentreRay(double yaw_deg, double pitch_deg, double fov_deg, int w, int h) {
  const double y = yaw_deg * sphere::kPi / 180, p = pitch_deg * sphere::kPi / 180;
  const double fwd[3] = {std::cos(p) * std::cos(y), std::cos(p) * std::sin(y), std::sin(p)};
  const double right[3] = {-std::sin(y), std::cos(y), 0};
  const double up[3] = {-std::sin(p) * std::cos(y), -std::sin(p) * std::sin(y), std::cos(p)};
  const double t = std::tan(fov_deg * sphere::kPi / 360);
  const double nx = ((w / 2) + 0.5) / w * 2 - 1, ny = ((h / 2) + 0.5) / h * 2 - 1;
  double d[3];
  for (int k = 0; k < 3; ++k) d[k] = fwd[k] + nx * t * w / h * right[k] + ny * t * up[k];
  return {std::atan2(d[2], std::hypot(d[0], d[1])), std::atan2(d[1], d[0])};
}

// The colour the viewer must show for the ray (lat, lon) (radians) on frame `frame`'s
// prediction: the map pixel containing that direction (sphere/erp.h), its 8-bit display
// value, the colour table.
// `m` (h, w) is shown on a frame of (fh, fw): ViewerWriter::ShownMap (resized up to the
// frame, 8-bit); the projection is this test's own.
std::array<int, 3> ExpectedOn(const std::vector<float>& m, int mh, int mw, int fh, int fw,
                              std::pair<double, double> lat_lon) {
  const auto [h, w] = ViewerWriter::ShownSize(mh, mw, fh, fw);
  const sphere::Point p = sphere::PointOf(lat_lon.first, lat_lon.second);
  const int i = std::min(h - 1, int(p.y * h)), j = std::min(w - 1, int(p.x * w));
  const std::vector<uint8_t> v = ViewerWriter::ShownMap(m.data(), mh, mw, fh, fw);
  const std::vector<uint8_t> lut = ViewerWriter::ColourTable(ColourMap::kInferno);
  const int k = v[size_t(i) * w + j];
  return {lut[3 * k], lut[3 * k + 1], lut[3 * k + 2]};
}

std::array<int, 3> Expected(int frame, std::pair<double, double> lat_lon) {
  return ExpectedOn(TestMap(frame), kMapH, kMapW, kFrameH, kFrameW, lat_lon);
}

std::string Unescape(std::string s) {
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&amp;", "&"}}) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
      s.replace(at, from.size(), to);
    }
  }
  return s;
}

// Runs the page's self-test in headless Chromium and returns its JSON (null on failure,
// with the failure recorded).
json RunSelfTest(const std::string& chromium, const std::string& work, const std::string& html) {
  const std::string log = work + "/viewer_chromium.log";
  const std::string cmd = ChromiumCommand(chromium, work) + " --window-size=1280,1600 --virtual-time-budget=20000" +
                          " --enable-logging=stderr --v=0 --dump-dom " + ShellQuote("file://" + html + "#selftest") +
                          " 2> " + ShellQuote(log);
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return json();
  std::string dom;
  char buf[65536];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) dom.append(buf, n);
  const int status = pclose(p);
  const std::string log_text = util::ReadFile(log, 16 << 20).value_or("");
  EXPECT_EQ(status, 0) << log_text;
  EXPECT_EQ(log_text.find("Uncaught"), std::string::npos) << log_text;
  EXPECT_EQ(log_text.find(":ERROR:CONSOLE"), std::string::npos) << log_text;
  const std::string open = "<pre id=\"sal360-selftest\">";
  const size_t a = dom.rfind(open), b = dom.find("</pre>", a);
  if (a == std::string::npos) {
    ADD_FAILURE() << "the self-test did not finish; browser log:\n" << log_text;
    return json();
  }
  const json r = json::parse(Unescape(dom.substr(a + open.size(), b - a - open.size())), nullptr, false);
  EXPECT_TRUE(r.is_object()) << dom.substr(a, b - a);
  return r.is_object() ? r : json();
}

TEST(Viewer, SelfTestInHeadlessChromiumMatchesTheMaps) {
  const std::string chromium = FindChromium();
  SAL360_REQUIRE_CHROMIUM(chromium);
  const std::string work = ::sal360::testing::EnvOr("TEST_TMPDIR", "/tmp/sal360_viewer");
  const std::string dir = work + "/report";
  std::filesystem::remove_all(dir);
  ReportConfig rc;
  rc.models = {"model"};
  rc.baselines = {};
  ReportWriter report(rc);
  for (int f = 0; f < 2; ++f) {
    MetricSet ms;
    ASSERT_TRUE(report.AddFrame("vid", f, {{"model", ms}}).ok());
    const std::vector<uint8_t> rgb = TestFrame(f);
    const std::vector<float> pred = TestMap(f), gt = TestMap(f + 5);
    ASSERT_TRUE(report.AddGalleryEntry("vid", f, rgb.data(), kFrameH, kFrameW, gt.data(), pred.data(), kMapH, kMapW)
                    .ok());
  }
  ASSERT_TRUE(report.Write(dir).ok());
  // Lazy: the page holds no frame; each frame is its own file.
  absl::StatusOr<std::string> html = util::ReadFile(dir + "/report.html", 64 << 20);
  ASSERT_TRUE(html.ok()) << html.status();
  EXPECT_EQ(html->find("sal360ViewerFrame(0,"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir + "/viewer/000000.js"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/viewer/000001.js"));

  const json r = RunSelfTest(chromium, work, dir + "/report.html");
  ASSERT_TRUE(r.is_object());
  EXPECT_TRUE(r.value("webgl", false));
  EXPECT_TRUE(r["errors"].empty()) << r["errors"].dump();

  // Drag and zoom.
  EXPECT_NE(r["dragged"]["yaw"], r["initial"]["yaw"]);
  EXPECT_NE(r["dragged"]["pitch"], r["initial"]["pitch"]);
  EXPECT_NE(r["dragged"]["hash"], r["initial"]["hash"]) << "the drag did not change the rendered view";
  EXPECT_GT(r["zoomed"]["fov"].get<double>(), 90.0);

  // The centre pixel at each probed direction.
  ASSERT_GE(r["probes"].size(), 7u);
  const int cw = r["canvas"][0], ch = r["canvas"][1];
  bool pole = false, seam_east = false, seam_west = false;
  for (const json& probe : r["probes"]) {
    const double yaw = probe["yaw"], pitch = probe["pitch"];
    const std::array<int, 3> want = Expected(0, CentreRay(yaw, pitch, probe["fov"], cw, ch));
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(probe["rgb"][c].get<int>(), want[c], 2) << "looking at lon " << yaw << ", lat " << pitch;
    }
    pole = pole || std::fabs(pitch) > 89;
    seam_east = seam_east || yaw < 1;
    seam_west = seam_west || yaw > 359;
  }
  EXPECT_TRUE(pole && seam_east && seam_west) << "the probes cover the poles and both sides of the seam";

  // The mode buttons: ground truth alone at the view centre; "both" shows the ground
  // truth in the left half and the prediction in the right, each half its own camera.
  const json& m = r["modes"];
  ASSERT_TRUE(m.is_object()) << r.dump();
  const int half = m["half"];
  auto expect_colour = [](const json& got, const std::array<int, 3>& want, const std::string& what) {
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(got[c].get<int>(), want[c], 2) << what;
  };
  expect_colour(m["gt"], ExpectedOn(TestMap(5), kMapH, kMapW, kFrameH, kFrameW, CentreRay(m["yaw"], m["pitch"], m["fov"], cw, ch)),
                "ground truth");
  expect_colour(m["bothLeft"],
                ExpectedOn(TestMap(5), kMapH, kMapW, kFrameH, kFrameW, CentreRay(m["yaw"], m["pitch"], m["fov"], half, ch)),
                "both: left half");
  expect_colour(m["bothRight"], Expected(0, CentreRay(m["yaw"], m["pitch"], m["fov"], cw - half, ch)),
                "both: right half");

  // The timeline.
  EXPECT_EQ(r["next"]["frame"], 1);
  EXPECT_EQ(r["next"]["label"], "vid / 1");
  EXPECT_TRUE(r["next"]["changed"].get<bool>());
  const std::array<int, 3> want = Expected(1, CentreRay(r["next"]["yaw"], r["next"]["pitch"], r["next"]["fov"], cw, ch));
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(r["next"]["rgb"][c].get<int>(), want[c], 2);
  EXPECT_LE(r["loaded"].get<int>(), 2);

  // A screenshot for a human look (bazel-testlogs/.../test.outputs/).
  const std::string out_dir = ::sal360::testing::EnvOr("TEST_UNDECLARED_OUTPUTS_DIR", work);
  const std::string shot = ChromiumCommand(chromium, work) + " --window-size=1200,1100 --virtual-time-budget=5000" +
                           " --screenshot=" + ShellQuote(out_dir + "/viewer.png") + " " +
                           ShellQuote("file://" + dir + "/report.html") + " > /dev/null 2>&1";
  EXPECT_EQ(std::system(shot.c_str()), 0);
}

// predict's report.html on a video: the same self-test, checked against the .npy maps
// predict wrote (the viewer has no ground truth there: prediction only).
TEST(Viewer, PredictReportOnAVideoShowsItsMaps) {
  const std::string chromium = FindChromium();
  SAL360_REQUIRE_CHROMIUM(chromium);
  const std::string work = ::sal360::testing::EnvOr("TEST_TMPDIR", "/tmp/sal360_viewer");
  const std::string ds = work + "/ds", mp4 = work + "/mp4", out = work + "/predicted";
  for (const std::string& d : {ds, mp4, out}) std::filesystem::remove_all(d);
  ::sal360::testing::ToolResult made = ::sal360::testing::RunTool(
      "tools/make_dataset", {"--out=" + ds, "--videos=1", "--frames=6", "--height=32", "--width=64", "--viewers=4",
                             "--mp4_dir=" + mp4});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  ASSERT_TRUE(::sal360::testing::WriteFreshCheckpoint(work + "/model.safetensors", 5).ok());
  ::sal360::testing::ToolResult pr = ::sal360::testing::RunTool(
      "tools/predict", {"--checkpoint=" + work + "/model.safetensors", "--input=" + mp4 + "/syn000.mp4",
                        "--out=" + out, "--height=16", "--width=32", "--device=cpu", "--overlay=none"});
  ASSERT_EQ(pr.exit_code, 0) << pr.output;
  const json r = RunSelfTest(chromium, work, out + "/report.html");
  ASSERT_TRUE(r.is_object());
  EXPECT_TRUE(r.value("webgl", false));
  EXPECT_TRUE(r["errors"].empty()) << r["errors"].dump();
  // frames.csv: index,source_index,pts,time_s,stem; viewer frame k is map k (6 frames, stride 1).
  const std::string csv = util::ReadFile(out + "/frames.csv", 1 << 20).value_or("");
  std::vector<std::string> stems;
  for (size_t at = csv.find('\n'); at != std::string::npos && at + 1 < csv.size();) {
    const size_t end = csv.find('\n', at + 1);
    const std::string line = csv.substr(at + 1, end - at - 1);
    stems.push_back(line.substr(line.rfind(',') + 1));
    at = end;
  }
  ASSERT_GE(stems.size(), 2u) << csv;
  auto map_of = [&](int k) {
    absl::StatusOr<util::NpyArray> a = util::ReadNpy(out + "/" + stems[k] + ".npy", 1 << 20);
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? a->ToFloats() : std::vector<float>(16 * 32);
  };
  const std::vector<float> m0 = map_of(0), m1 = map_of(1);
  const int cw = r["canvas"][0], ch = r["canvas"][1];
  for (const json& probe : r["probes"]) {
    const std::array<int, 3> want = ExpectedOn(m0, 16, 32, 32, 64, CentreRay(probe["yaw"], probe["pitch"], probe["fov"], cw, ch));
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(probe["rgb"][c].get<int>(), want[c], 2) << "lon " << probe["yaw"] << ", lat " << probe["pitch"];
    }
  }
  EXPECT_EQ(r["next"]["frame"], 1);
  EXPECT_EQ(r["next"]["label"].get<std::string>().rfind(stems[1], 0), 0u) << r["next"]["label"];
  const std::array<int, 3> want =
      ExpectedOn(m1, 16, 32, 32, 64, CentreRay(r["next"]["yaw"], r["next"]["pitch"], r["next"]["fov"], cw, ch));
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(r["next"]["rgb"][c].get<int>(), want[c], 2);
}

}  // namespace
}  // namespace sal360::data

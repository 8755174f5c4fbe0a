// The HTML report renders in a real browser: headless Chromium loads report.html from
// disk (no network), takes a screenshot, and the screenshot must show the page: enough
// pixel variance, the models' bar colour from the inline SVG charts, and the gallery's
// heatmap colours. Skipped with a message when Chromium is not installed, except under
// CI=true (CI installs it through tools/bootstrap.sh), where its absence fails.
//
// The browser is found as $SAL360_CHROMIUM, else chromium / chromium-browser /
// google-chrome in /usr/bin. The screenshot is kept in $TEST_UNDECLARED_OUTPUTS_DIR
// (bazel-testlogs/tests/eval/report_render_test/test.outputs/) for a human look.
#include <gtest/gtest.h>
#include <stb/stb_image.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "data/report.h"
#include "tests/eval/report_fixture.h"
#include "tests/testing/chromium.h"
#include "util/file.h"

namespace sal360::data {
namespace {

using ::sal360::testing::ChromiumCommand;
using ::sal360::testing::FindChromium;
using ::sal360::testing::ShellQuote;
std::string Env(const char* name) { return ::sal360::testing::EnvOr(name); }

struct Screenshot {
  int w = 0, h = 0;
  std::vector<uint8_t> rgb;  // (h, w, 3)
};

// Runs the browser on `html_path`, writing the screenshot to `png_path`.
Screenshot Render(const std::string& chromium, const std::string& html_path,
                  const std::string& png_path, const std::string& work) {
  const std::string cmd = ChromiumCommand(chromium, work) + " --window-size=1280,2400 --screenshot=" +
                          ShellQuote(png_path) + " " + ShellQuote("file://" + html_path) + " > " +
                          ShellQuote(work + "/chromium.log") + " 2>&1";
  const int rc = std::system(cmd.c_str());
  Screenshot s;
  auto png = util::ReadFile(png_path, int64_t{1} << 28);
  if (rc != 0 || !png.ok()) {
    auto log = util::ReadFile(work + "/chromium.log", 1 << 20);
    ADD_FAILURE() << "chromium failed (status " << rc
                  << "): " << (png.ok() ? "" : std::string(png.status().message())) << "\n"
                  << (log.ok() ? *log : "");
    return s;
  }
  int c = 0;
  stbi_uc* px = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(png->data()),
                                      static_cast<int>(png->size()), &s.w, &s.h, &c, 3);
  if (px == nullptr) {
    ADD_FAILURE() << "screenshot is not a decodable PNG";
    return s;
  }
  s.rgb.assign(px, px + size_t(s.w) * s.h * 3);
  stbi_image_free(px);
  return s;
}

// Pixels within `tol` of the colour in every channel.
int64_t CountNear(const Screenshot& s, int r, int g, int b, int tol) {
  int64_t n = 0;
  for (size_t k = 0; k + 2 < s.rgb.size(); k += 3) {
    n += std::abs(s.rgb[k] - r) <= tol && std::abs(s.rgb[k + 1] - g) <= tol &&
         std::abs(s.rgb[k + 2] - b) <= tol;
  }
  return n;
}

TEST(ReportRender, HeadlessChromiumShowsThePage) {
  const std::string chromium = FindChromium();
  SAL360_REQUIRE_CHROMIUM(chromium);
  const std::string work = Env("TEST_TMPDIR").empty() ? "/tmp/sal360_render" : Env("TEST_TMPDIR");
  const std::string dir = work + "/report";
  ReportWriter report = testing::MakeReport(/*videos=*/3, /*frames=*/4, /*gallery=*/3,
                                            /*h=*/120, /*w=*/240);
  ASSERT_TRUE(report.Write(dir).ok());

  const std::string out_dir = Env("TEST_UNDECLARED_OUTPUTS_DIR");
  const std::string png_path = (out_dir.empty() ? work : out_dir) + "/report_screenshot.png";
  const Screenshot s = Render(chromium, dir + "/report.html", png_path, work);
  ASSERT_EQ(s.w, 1280);
  ASSERT_EQ(s.h, 2400);

  // Not blank: the per-channel variance of the whole page.
  double mean = 0, var = 0;
  for (uint8_t v : s.rgb) mean += v;
  mean /= s.rgb.size();
  for (uint8_t v : s.rgb) var += (v - mean) * (v - mean);
  var /= s.rgb.size();
  EXPECT_GT(var, 200.0) << "screenshot looks blank (mean " << mean << ")";

  // The page background (#f6f7f9) and the white tables/cards dominate but do not fill it.
  const double total = double(s.w) * s.h;
  const double background =
      (CountNear(s, 0xf6, 0xf7, 0xf9, 1) + CountNear(s, 255, 255, 255, 0)) / total;
  EXPECT_GT(background, 0.3);
  EXPECT_LT(background, 0.95);
  // The SVG bar charts drew the model's bars (#c2410c): 9 panels, bars >= 1 px x 14 px.
  EXPECT_GT(CountNear(s, 0xc2, 0x41, 0x0c, 2), 9 * 14 * 20) << "no model bars rendered";
  // The baselines' grey bars (#9ca3af, the first baseline).
  EXPECT_GT(CountNear(s, 0x9c, 0xa3, 0xaf, 2), 9 * 14) << "no baseline bars rendered";
  // The gallery's images decoded: bright inferno yellow from the overlays' peaks, and the
  // synthetic frames' red discs.
  EXPECT_GT(CountNear(s, 220, 60, 40, 6), 50) << "no frame image rendered";
}

}  // namespace
}  // namespace sal360::data

// Headless Chromium for the tests of the HTML reports (report_render_test, viewer_test):
// where the browser is, and the command line that runs it offline, without a sandbox or
// GPU, with a throwaway profile. Under CI=true (CI installs chromium through
// tools/bootstrap.sh) a missing browser is a failure, elsewhere a skip with the reason.
#ifndef SAL360_TESTS_TESTING_CHROMIUM_H_
#define SAL360_TESTS_TESTING_CHROMIUM_H_

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "tests/testing/tool_runner.h"

namespace sal360::testing {

inline std::string EnvOr(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// $SAL360_CHROMIUM, else chromium / chromium-browser / google-chrome in /usr/bin; "" if none.
inline std::string FindChromium() {
  if (!EnvOr("SAL360_CHROMIUM").empty()) return EnvOr("SAL360_CHROMIUM");
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// "cd WORK && HOME=WORK timeout 120 CHROMIUM --headless ... " (append the page's flags
// and URL); the profile lives in WORK/chromium-profile.
inline std::string ChromiumCommand(const std::string& chromium, const std::string& work) {
  return "cd " + ShellQuote(work) + " && HOME=" + ShellQuote(work) + " timeout 120 " + ShellQuote(chromium) +
         " --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking"
         " --disable-component-update --disable-sync --disable-dev-shm-usage --hide-scrollbars"
         " --user-data-dir=" + ShellQuote(work + "/chromium-profile");
}

}  // namespace sal360::testing

// Skips (or, under CI=true, fails) the current test when Chromium is missing.
#define SAL360_REQUIRE_CHROMIUM(chromium)                                                             \
  do {                                                                                                \
    if ((chromium).empty()) {                                                                         \
      if (::sal360::testing::EnvOr("CI") == "true") FAIL() << "CI=true but Chromium is not installed"; \
      GTEST_SKIP() << "Chromium not installed (apt-get install chromium); skipping the browser test";  \
    }                                                                                                 \
  } while (0)

#endif  // SAL360_TESTS_TESTING_CHROMIUM_H_

// Helpers of the crash-consistency tests of `train` (train_crash_test, the soak
// train_soak_test): a small dataset, the flags of the run under test, an uninterrupted
// reference run, and the comparison "equal to the reference run, timings aside".
#ifndef SAL360_TESTS_TOOLS_TRAIN_RUNS_H_
#define SAL360_TESTS_TOOLS_TRAIN_RUNS_H_

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/tool_runner.h"
#include "util/file.h"
#include "util/safetensors.h"

namespace sal360::tools {

// A small dataset: 4 videos x 8 frames; at batch 2 an epoch is 8 steps. With
// --checkpoint_every=2 the step-8 checkpoint is also the epoch's last batch, so a kill
// after it and before the validation is the case the issue found broken.
inline const std::string& Dataset() {
  static const std::string root = [] {
    const std::string dir = ::sal360::testing::TempPath("crash_dataset");
    std::filesystem::remove_all(dir);
    ::sal360::testing::ToolResult r = ::sal360::testing::RunTool("tools/make_dataset", {"--out=" + dir, "--videos=4", "--frames=8", "--height=32",
                                                  "--width=64", "--viewers=8"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return dir;
  }();
  return root;
}

inline std::vector<std::string> Flags(const std::string& out) {
  return {"--data=" + Dataset(), "--out=" + out, "--device=cpu", "--height=16", "--width=32", "--batch=2",
          "--epochs=3", "--seed=7", "--checkpoint_every=2", "--roll_augment"};
}

inline std::string Read(const std::string& path) {
  absl::StatusOr<std::string> t = util::ReadFile(path, int64_t{64} << 20);
  return t.ok() ? *t : "<" + std::string(t.status().message()) + ">";
}

// steps.csv without its timing columns (samples/s, elapsed): epoch,step,loss per line.
inline std::string StepsWithoutTimings(const std::string& run) {
  const std::string text = Read(run + "/steps.csv");
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    size_t comma = 0;
    for (int k = 0; k < 3 && comma != std::string::npos; ++k) comma = line.find(',', comma + (k > 0));
    out += line.substr(0, comma) + "\n";
    start = end + 1;
  }
  return out;
}

// The "epoch" records of log.jsonl (no timings in them).
inline std::vector<nlohmann::json> EpochRecords(const std::string& run) {
  const std::string text = Read(run + "/log.jsonl");
  std::vector<nlohmann::json> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const nlohmann::json j = nlohmann::json::parse(text.substr(start, end - start), nullptr, false);
    if (!j.is_discarded() && j.value("kind", "") == "epoch") out.push_back(j);
    start = end + 1;
  }
  return out;
}

// The report's epoch table (its rows hold no timings).
inline std::string ReportEpochTable(const std::string& run) {
  const std::string html = Read(run + "/report.html");
  const size_t a = html.find("<h2>Epochs</h2>"), b = html.find("</table>", a);
  if (a == std::string::npos || b == std::string::npos) return "<no epoch table>";
  return html.substr(a, b - a);
}

inline void ExpectSameTensors(const std::string& a_path, const std::string& b_path) {
  absl::StatusOr<util::Safetensors> a = util::ReadSafetensors(a_path), b = util::ReadSafetensors(b_path);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(a->tensors.size(), b->tensors.size()) << b_path;
  for (const auto& [name, t] : a->tensors) {
    ASSERT_TRUE(b->tensors.count(name)) << b_path << ": " << name;
    EXPECT_TRUE(t.bytes == b->tensors.at(name).bytes) << b_path << ": " << name << " differs";
  }
}

inline int TemporaryFiles(const std::string& dir) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().filename().string().find(".tmp.") != std::string::npos) ++n;
  }
  return n;
}

inline void ExpectCheckpointsLoad(const std::string& run) {
  for (const char* name : {"last.safetensors", "best.safetensors"}) {
    const std::string path = run + "/" + name;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) continue;  // not written yet
    absl::StatusOr<util::Safetensors> s = util::ReadSafetensors(path);
    EXPECT_TRUE(s.ok()) << path << ": " << s.status();
  }
}

inline const std::string& Reference() {
  static const std::string run = [] {
    const std::string out = ::sal360::testing::TempPath("crash_reference");
    std::filesystem::remove_all(out);
    ::sal360::testing::ToolResult r = ::sal360::testing::RunTool("tools/train", Flags(out));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return out;
  }();
  return run;
}

inline void ExpectSameRun(const std::string& run) {
  const std::string& ref = Reference();
  ExpectSameTensors(ref + "/last.safetensors", run + "/last.safetensors");
  ExpectSameTensors(ref + "/best.safetensors", run + "/best.safetensors");
  EXPECT_EQ(Read(ref + "/epochs.csv"), Read(run + "/epochs.csv"));
  EXPECT_EQ(StepsWithoutTimings(ref), StepsWithoutTimings(run));
  EXPECT_EQ(EpochRecords(ref), EpochRecords(run));
  EXPECT_EQ(ReportEpochTable(ref), ReportEpochTable(run));
  EXPECT_NE(Read(run + "/report.html").find("3 of 3"), std::string::npos);
  EXPECT_EQ(TemporaryFiles(run), 0);
}

}  // namespace sal360::tools

#endif  // SAL360_TESTS_TOOLS_TRAIN_RUNS_H_

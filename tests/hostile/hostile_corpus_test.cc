// The hostile corpus (issue #18): every run of tests/hostile/MANIFEST — a broken
// checkpoint, array, image, pickle, PyTorch file, video, split, fixation list or
// tables.json given to the tool that reads it — exits non-zero (below 128: no crash,
// no abort), prints a message naming the file, and leaves nothing at its output path.
// The files are made by tests/hostile/make_corpus.py.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "tests/testing/fresh_checkpoint.h"
#include "tests/testing/tool_runner.h"
#include "util/file.h"
#include "util/npy.h"

namespace sal360 {
namespace {

using ::sal360::testing::RunTool;
using ::sal360::testing::TempPath;
using ::sal360::testing::ToolPath;
using ::sal360::testing::ToolResult;

struct Case {
  int line = 0;
  std::string file, tool, args;
};

std::vector<Case> ReadManifest() {
  std::vector<Case> cases;
  std::ifstream in(ToolPath("tests/hostile/MANIFEST"));
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> parts = absl::StrSplit(line, '|');
    if (parts.size() != 3) {
      ADD_FAILURE() << "MANIFEST line " << n << ": expected FILE | TOOL | ARGUMENTS";
      continue;
    }
    cases.push_back({n, std::string(absl::StripAsciiWhitespace(parts[0])),
                     std::string(absl::StripAsciiWhitespace(parts[1])),
                     std::string(absl::StripAsciiWhitespace(parts[2]))});
  }
  return cases;
}

bool Exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

class HostileCorpus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(::sal360::testing::WriteFreshCheckpoint(TempPath("good.safetensors")).ok());
    ASSERT_TRUE(util::WriteNpy(TempPath("good_input.npy"),
                               util::NpyArray::FromFloat32({1, 3, 16, 32}, std::vector<float>(3 * 512, 0.5f)))
                    .ok());
    std::vector<float> map(512, 0.1f);
    map[100] = 1.0f;
    ASSERT_TRUE(util::WriteNpy(TempPath("good_map.npy"), util::NpyArray::FromFloat32({16, 32}, map)).ok());
    const std::string data = TempPath("dataset");
    std::filesystem::remove_all(data);
    ToolResult r = RunTool("tools/make_dataset", {"--out=" + data, "--videos=4", "--frames=4", "--height=32",
                                                  "--width=64", "--viewers=4"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
};

TEST_F(HostileCorpus, EveryFileIsRefusedClearlyAndLeavesNothing) {
  const std::vector<Case> cases = ReadManifest();
  ASSERT_GE(cases.size(), 30u);
  std::set<std::string> files;
  for (const Case& c : cases) {
    SCOPED_TRACE("MANIFEST line " + std::to_string(c.line) + ": " + c.file + " | " + c.tool);
    const std::string src = ToolPath("tests/hostile/files/" + c.file);
    ASSERT_TRUE(Exists(src)) << src;
    files.insert(c.file);
    const std::string out = TempPath("out_" + std::to_string(c.line));
    std::string named = src;  // the path the message must contain
    std::vector<std::string> args;
    for (absl::string_view a : absl::StrSplit(c.args, ' ', absl::SkipEmpty())) {
      std::string arg(a);
      if (const size_t at = arg.find("{DIR:"); at != std::string::npos) {
        const size_t end = arg.find('}', at);
        const std::string name = arg.substr(at + 5, end - at - 5);
        const std::string dir = TempPath("dir_" + std::to_string(c.line));
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
        std::filesystem::copy_file(src, dir + "/" + name);
        named = dir + "/" + name;
        arg = arg.substr(0, at) + dir + arg.substr(end + 1);
      }
      arg = absl::StrReplaceAll(arg, {{"{FILE}", src},
                                      {"{OUT}", out},
                                      {"{CKPT}", TempPath("good.safetensors")},
                                      {"{NPY}", TempPath("good_input.npy")},
                                      {"{MAP}", TempPath("good_map.npy")},
                                      {"{DATA}", TempPath("dataset")}});
      args.push_back(arg);
    }
    const ToolResult r = RunTool("tools/" + c.tool, args, {"SAL360_CACHE=" + TempPath("cache")});
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_LT(r.exit_code, 128) << "killed by a signal: " << r.output;
    EXPECT_NE(r.output.find(named), std::string::npos) << "the message does not name " << named << ":\n" << r.output;
    for (const char* ext : {"", ".npy", ".safetensors"}) {
      EXPECT_FALSE(Exists(out + ext)) << out + ext << " left behind:\n" << r.output;
    }
  }
  EXPECT_GE(files.size(), 30u) << "distinct files";
  std::cout << cases.size() << " runs over " << files.size() << " files\n";
}

}  // namespace
}  // namespace sal360

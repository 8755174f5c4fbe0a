// End-to-end tests of tools:make_dataset and tools:check_data (exit codes, JSON on
// stdout, messages on stderr).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/tool_runner.h"
#include "util/file.h"

namespace {

using ::testing::HasSubstr;

std::string TmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

using ToolRun = sal360::testing::ToolResult;

// Runs tools/<name> from the runfiles; stdout in `output`, stderr in `err`.
ToolRun RunTool(const std::string& name, const std::vector<std::string>& args) {
  return sal360::testing::RunToolSplit("tools/" + name, args);
}

TEST(DataToolsTest, MakeThenCheck) {
  const std::string root = TmpDir() + "/ds";
  std::filesystem::remove_all(root);
  ToolRun make = RunTool(
      "make_dataset", {"--out=" + root, "--videos=3", "--frames=6", "--height=16", "--width=32",
                       "--viewers=4", "--gt_cache", "--gt_cache_height=8", "--gt_cache_width=16"});
  ASSERT_EQ(make.exit_code, 0) << make.err;
  const nlohmann::json mj = nlohmann::json::parse(make.output);
  EXPECT_EQ(mj["frames"], 18);
  EXPECT_THAT(make.err, HasSubstr("make_dataset"));  // the progress line
  ToolRun check = RunTool("check_data", {"--data=" + root, "--val_videos=1"});
  ASSERT_EQ(check.exit_code, 0) << check.err << check.output;
  const nlohmann::json cj = nlohmann::json::parse(check.output);
  EXPECT_TRUE(cj["usable"].get<bool>());
  EXPECT_EQ(cj["gt_caches"]["present"], 18);
  // 3 videos: round(80 · 3 / 104) = 2 training videos, one of them held out.
  EXPECT_EQ(cj["split"]["train"].size(), 1u);
  EXPECT_EQ(cj["split"]["val"].size(), 1u);
  EXPECT_EQ(cj["split"]["test"].size(), 1u);
  EXPECT_THAT(check.err, HasSubstr("check_data"));

  // Break a frame: exit 1, the JSON still printed, the reason on stderr.
  const std::string jpg = root + "/syn001/0004.jpg";
  ASSERT_TRUE(sal360::util::WriteFileAtomically(jpg, "not a jpeg").ok());
  check = RunTool("check_data", {"--data=" + root});
  EXPECT_EQ(check.exit_code, 1);
  const nlohmann::json bj = nlohmann::json::parse(check.output);
  EXPECT_FALSE(bj["usable"].get<bool>());
  EXPECT_EQ(bj["problems"]["list"][0]["path"], jpg);
  EXPECT_THAT(check.err, HasSubstr("NOT usable"));

  // Not a dataset at all.
  check = RunTool("check_data", {"--data=" + TmpDir() + "/nothing"});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_THAT(nlohmann::json::parse(check.output)["fatal"].get<std::string>(), HasSubstr("nothing"));

  // Making over an existing dataset fails; bad usage is exit 2.
  make = RunTool("make_dataset", {"--out=" + root});
  EXPECT_EQ(make.exit_code, 1);
  EXPECT_THAT(make.err, HasSubstr("already holds a dataset"));
  EXPECT_EQ(RunTool("make_dataset", {}).exit_code, 2);
  EXPECT_EQ(RunTool("make_dataset", {"--out=" + root + "2", "--videos=0"}).exit_code, 2);
  EXPECT_EQ(RunTool("check_data", {}).exit_code, 2);
  EXPECT_EQ(RunTool("check_data", {"--data=" + root, "--split=file"}).exit_code, 2);
  EXPECT_EQ(RunTool("check_data", {"--data=" + root, "--split=seed", "--split_file=x.json"})
                .exit_code,
            2);
}

// --split_file alone selects the file split (the file is never silently ignored).
TEST(DataToolsTest, SplitFileAloneIsUsed) {
  const std::string root = TmpDir() + "/ds_split";
  std::filesystem::remove_all(root);
  ToolRun make = RunTool("make_dataset", {"--out=" + root, "--videos=3", "--frames=2",
                                          "--height=8", "--width=16", "--viewers=2"});
  ASSERT_EQ(make.exit_code, 0) << make.err;
  const std::string split = TmpDir() + "/split.json";
  ASSERT_TRUE(sal360::util::WriteFileAtomically(
                  split, R"({"train": ["syn002"], "val": ["syn000"], "test": ["syn001"]})")
                  .ok());
  ToolRun check = RunTool("check_data", {"--data=" + root, "--split_file=" + split});
  ASSERT_EQ(check.exit_code, 0) << check.err << check.output;
  const nlohmann::json j = nlohmann::json::parse(check.output);
  EXPECT_EQ(j["split"]["train"], nlohmann::json({"syn002"}));
  EXPECT_EQ(j["split"]["val"], nlohmann::json({"syn000"}));
  EXPECT_EQ(j["split"]["test"], nlohmann::json({"syn001"}));
}

}  // namespace

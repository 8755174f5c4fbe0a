// Crash consistency of `train` (issue #18), through the real binary: the process is
// killed with SIGKILL at exact moments (util/crash_point.h: right after a checkpoint is
// written, right after a log row is appended, right after an atomic rename), then
// resumed with --resume. After every kill + resume, the final weights, best.safetensors,
// epochs.csv, the steps' losses, the epoch records of log.jsonl and the report's epoch
// table equal an uninterrupted run's (timings aside); every checkpoint left on disk by
// the kill loads; no temporary file survives the resume.
//
// And a full disk during a checkpoint write (a file-size limit, and a real 30 MiB tmpfs
// where the machine allows a private mount): the write fails with an error naming the
// file, the previous checkpoint survives and loads, nothing temporary is left.
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "nn/checkpoint.h"
#include "tests/testing/tool_runner.h"
#include "tests/tools/train_runs.h"
#include "util/file.h"
#include "util/safetensors.h"

namespace sal360::tools {
namespace {

using nlohmann::json;
using ::sal360::testing::RunTool;
using ::sal360::testing::ShellQuote;
using ::sal360::testing::TempPath;
using ::sal360::testing::ToolPath;
using ::sal360::testing::ToolResult;

// Kills at each point in `crashes` in turn (each a SAL360_CRASH_AT value, counted from
// the start of that invocation), resuming after each, then finishes with a plain resume.
void KillAndResume(const std::string& name, const std::vector<std::string>& crashes) {
  const std::string out = TempPath(name);
  std::filesystem::remove_all(out);
  bool first = true;
  for (const std::string& at : crashes) {
    std::vector<std::string> args = first ? Flags(out) : std::vector<std::string>{"--out=" + out, "--resume"};
    ToolResult r = RunTool("tools/train", args, {"SAL360_CRASH_AT=" + at});
    ASSERT_EQ(r.exit_code, 128 + 9) << "SAL360_CRASH_AT=" << at << " did not kill train:\n" << r.output;
    ExpectCheckpointsLoad(out);
    first = false;
  }
  ToolResult r = RunTool("tools/train", {"--out=" + out, "--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ExpectSameRun(out);
}

TEST(TrainCrash, ReferenceRunHasThreeEpochs) {
  ASSERT_EQ(EpochRecords(Reference()).size(), 3u);
  EXPECT_EQ(Read(Reference() + "/epochs.csv").find("1,8,"), Read(Reference() + "/epochs.csv").find('\n') + 1)
      << "epoch 1 ends at step 8";
}

// The last step of the run is also an epoch's end: killed after its --checkpoint_every
// save and before the validation (the resume used to exit at once: no epoch row, a stale
// best checkpoint, "last loss 0").
TEST(TrainCrash, AfterTheLastStepsCheckpointBeforeValidation) {
  // saved_last hits: steps 2,4,6,8 then the epoch-end save, 5 per epoch; the 14th is
  // the step-24 checkpoint.
  KillAndResume("after_last_step", {"saved_last@14"});
}

TEST(TrainCrash, AfterAnEpochsCheckpointBeforeItsValidation) { KillAndResume("epoch1_end", {"saved_last@4"}); }

// Killed between the epochs.csv append and the checkpoint (used to duplicate the row).
TEST(TrainCrash, AfterTheEpochRowBeforeTheCheckpoint) { KillAndResume("epoch_row", {"logged_epoch@2"}); }

TEST(TrainCrash, AfterTheBestCheckpointBeforeTheLast) { KillAndResume("best", {"saved_best@1"}); }

// Mid-epoch (a checkpoint at step 10, killed after logging step 11): the epoch's train
// loss counts all its steps (it used to count the post-resume steps only).
TEST(TrainCrash, MidEpochKeepsTheEpochsTrainLoss) { KillAndResume("mid_epoch", {"logged_step@11"}); }

// Several kills in one run, each resumed: after renames and log appends.
TEST(TrainCrash, RepeatedKills) {
  KillAndResume("repeated", {"renamed@3", "logged_step@3", "renamed@5", "logged_epoch@1", "saved_last@2"});
}

// A run that ended is resumed: nothing to do, and its records do not change.
TEST(TrainCrash, ResumingAFinishedRunChangesNothing) {
  const std::string out = TempPath("finished");
  std::filesystem::remove_all(out);
  ASSERT_EQ(RunTool("tools/train", Flags(out)).exit_code, 0);
  ToolResult r = RunTool("tools/train", {"--out=" + out, "--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("last loss 0;"), std::string::npos) << r.output;
  ExpectSameRun(out);
}

// Full disk while writing a checkpoint: a checkpoint of step 2 was written, the next
// write fails.
void ExpectFullDiskKeepsThePreviousCheckpoint(const ToolResult& r, const std::string& run) {
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.exit_code, 128 + 6) << "aborted: " << r.output;
  EXPECT_NE(r.output.find(run + "/last.safetensors"), std::string::npos) << "names the file: " << r.output;
  absl::StatusOr<util::Safetensors> st = util::ReadSafetensors(run + "/last.safetensors");
  ASSERT_TRUE(st.ok()) << st.status();
  const json progress = json::parse(st->metadata.at(nn::kMetaTrainProgress), nullptr, false);
  EXPECT_EQ(progress.value("step", -1), 2) << "the previous checkpoint survives";
  EXPECT_EQ(TemporaryFiles(run), 0);
}

TEST(TrainCrash, FileSizeLimitDuringACheckpointWrite) {
  const std::string out = TempPath("fsize");
  std::filesystem::remove_all(out);
  std::vector<std::string> first = Flags(out);
  first.push_back("--max_steps=2");
  ASSERT_EQ(RunTool("tools/train", first).exit_code, 0);
  // 8 MiB per file (the checkpoint is ~20 MB); SIGXFSZ ignored so write() fails with EFBIG.
  ToolResult r = RunTool("tools/train", {"--out=" + out, "--resume", "--max_steps=0"}, {"trap '' XFSZ; ulimit -f 8192;"});
  ExpectFullDiskKeepsThePreviousCheckpoint(r, out);
  ToolResult again = RunTool("tools/train", {"--out=" + out, "--resume", "--max_steps=0"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  ExpectSameRun(out);
}

TEST(TrainCrash, FullTmpfsDuringACheckpointWrite) {
  // A private mount namespace (unshare -rm) with a 30 MiB tmpfs: one ~20 MB checkpoint
  // fits, the temporary file of the next one does not. The run directory is copied out
  // before the namespace (and its tmpfs) goes.
  const std::string mnt = TempPath("tmpfs_mnt"), copy = TempPath("tmpfs_copy");
  std::filesystem::remove_all(copy);
  std::filesystem::create_directories(mnt);
  const std::string probe = "unshare -rm sh -c " + ShellQuote("mount -t tmpfs -o size=30m tmpfs " + mnt) + " 2>&1";
  if (std::system(probe.c_str()) != 0) {
    GTEST_SKIP() << "this machine refuses a private tmpfs mount (unshare -rm; mount -t tmpfs); "
                    "FileSizeLimitDuringACheckpointWrite covers the failing write";
  }
  // The step-2 checkpoint fits; the step-4 one does not.
  const std::string run = mnt + "/run";
  std::string script = "mount -t tmpfs -o size=30m tmpfs " + mnt + " || exit 99; " + ShellQuote(ToolPath("tools/train"));
  for (const std::string& f : Flags(run)) script += " " + ShellQuote(f);
  script += " --max_steps=4 > " + ShellQuote(copy + ".log") + " 2>&1; echo $? > " + ShellQuote(copy + ".rc") +
            "; cp -r " + ShellQuote(run) + " " + ShellQuote(copy);
  const int rc = std::system(("unshare -rm sh -c " + ShellQuote(script)).c_str());
  ASSERT_EQ(rc, 0) << script;
  ToolResult r;
  r.exit_code = std::atoi(Read(copy + ".rc").c_str());
  r.output = Read(copy + ".log");
  EXPECT_NE(r.output.find("No space left on device"), std::string::npos) << r.output;
  // The message names the run's path inside the mount; check against the copy's files.
  EXPECT_NE(r.output.find(run + "/last.safetensors"), std::string::npos) << r.output;
  r.output += " " + copy + "/last.safetensors";
  ExpectFullDiskKeepsThePreviousCheckpoint(r, copy);
}

}  // namespace
}  // namespace sal360::tools

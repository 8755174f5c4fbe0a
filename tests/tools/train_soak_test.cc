// The kill -9 soak of `train` (issue #18; tools/soak_resume.sh runs it, CI does not):
// the run of train_runs.h is killed SOAK_KILLS times (default 20) and resumed after
// each kill. Three kills in four land at a random moment (SIGKILL after a random delay:
// mid-step, mid-checkpoint write, mid-validation, at start-up); every fourth at a named
// crash point chosen at random (util/crash_point.h: right after a checkpoint rename,
// right after a log append, after a best or last checkpoint). After each kill every
// checkpoint on disk must load; every run that finishes (when a kill came too late, and
// at the end) must equal an uninterrupted one
// (weights, best.safetensors, epochs.csv, the steps' losses, log.jsonl's epoch records,
// the report's epoch table). SOAK_SEED (default 1) makes the schedule reproducible;
// every kill is printed.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/tool_runner.h"
#include "tests/tools/train_runs.h"

extern char** environ;

namespace sal360::tools {
namespace {

using ::sal360::testing::ShellQuote;
using ::sal360::testing::TempPath;
using ::sal360::testing::ToolPath;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// Starts `train args` (output to `log`), with SAL360_CRASH_AT=`crash` when not empty.
pid_t Start(const std::vector<std::string>& args, const std::string& crash, const std::string& log) {
  std::string cmd = crash.empty() ? "" : "SAL360_CRASH_AT=" + ShellQuote(crash) + " ";
  cmd += "exec " + ShellQuote(ToolPath("tools/train"));
  for (const std::string& a : args) cmd += " " + ShellQuote(a);
  cmd += " >>" + ShellQuote(log) + " 2>&1";
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) return -1;
  return pid;
}

// Waits for `pid` up to `seconds` (< 0: without limit); SIGKILL when it is still running.
// Returns the exit code (128 + signal when killed) and whether we killed it.
std::pair<int, bool> WaitOrKill(pid_t pid, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  bool killed = false;
  while (true) {
    const pid_t r = ::waitpid(pid, &status, seconds < 0 ? 0 : WNOHANG);
    if (r == pid) break;
    if (seconds >= 0 && std::chrono::steady_clock::now() >= deadline && !killed) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return {code, killed};
}

TEST(TrainSoak, KilledAndResumedEqualsAnUninterruptedRun) {
  const int kills = EnvInt("SOAK_KILLS", 20);
  std::mt19937 rng(static_cast<unsigned>(EnvInt("SOAK_SEED", 1)));
  const std::string out = TempPath("soak");
  const std::string log = TempPath("soak.log");
  std::filesystem::remove_all(out);
  (void)Reference();
  const std::vector<std::string> points = {"renamed", "saved_last", "logged_step", "logged_epoch", "saved_best"};
  int done_kills = 0, finished_early = 0;
  bool started = false;
  for (int attempt = 0; done_kills < kills; ++attempt) {
    ASSERT_LT(attempt, kills * 10) << "the run keeps finishing before the kill; see " << log;
    std::string crash;
    double delay = -1;
    if (done_kills % 4 == 3) {
      const std::string& p = points[rng() % points.size()];
      const int k = p == "logged_epoch" || p == "saved_best" ? 1 : 1 + int(rng() % 6);
      crash = p + "@" + std::to_string(k);
    } else {
      delay = 0.05 + std::uniform_real_distribution<double>(0, 2.0)(rng);
    }
    const std::vector<std::string> args =
        started ? std::vector<std::string>{"--out=" + out, "--resume"} : Flags(out);
    const pid_t pid = Start(args, crash, log);
    ASSERT_GT(pid, 0);
    const auto [code, killed] = WaitOrKill(pid, delay);
    started = started || std::filesystem::exists(out + "/last.safetensors");
    if (code == 0) {
      // The run finished before this kill (a late delay, or a point it never reached):
      // this chain of kills is checked against the reference now, and a new run starts.
      ++finished_early;
      std::printf("soak: attempt %d: the run finished before the kill (%s); checking it, then a new run\n",
                  attempt, crash.empty() ? "delay" : crash.c_str());
      ExpectSameRun(out);
      std::filesystem::remove_all(out);
      started = false;
      continue;
    }
    ASSERT_TRUE(code == 128 + SIGKILL) << "train failed (exit " << code << "); see " << log << ":\n"
                                       << Read(log);
    ++done_kills;
    std::printf("soak: kill %d: %s -> exit %d, last checkpoint %s\n", done_kills,
                crash.empty() ? ("SIGKILL after " + std::to_string(delay) + " s").c_str()
                              : ("crash point " + crash).c_str(),
                code, started ? "present" : "none yet");
    std::fflush(stdout);
    ExpectCheckpointsLoad(out);
    if (!started) std::filesystem::remove_all(out);  // killed before the first checkpoint: start afresh
  }
  const std::vector<std::string> last =
      started ? std::vector<std::string>{"--out=" + out, "--resume"} : Flags(out);
  const pid_t pid = Start(last, "", log);
  const auto [code, killed] = WaitOrKill(pid, -1);
  ASSERT_EQ(code, 0) << Read(log);
  std::printf("soak: %d kills; %d runs checked against the uninterrupted one\n", done_kills, finished_early + 1);
  ExpectSameRun(out);
}

}  // namespace
}  // namespace sal360::tools

// Runs the tools' binaries (runfiles of the test) as subprocesses and captures their
// output and exit status, for the tests that exercise a tool as a user would.
#ifndef SAL360_TESTS_TESTING_TOOL_RUNNER_H_
#define SAL360_TESTS_TESTING_TOOL_RUNNER_H_

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "util/file.h"

namespace sal360::testing {

struct ToolResult {
  int exit_code = -1;  // WEXITSTATUS, or 128 + signal
  std::string output;  // stdout and stderr interleaved (RunTool), or stdout (RunToolSplit)
  std::string err;     // stderr (RunToolSplit only)
};

// A path under the test's temporary directory.
inline std::string TempPath(const std::string& name) { return ::testing::TempDir() + "/" + name; }

// SAL360_CACHE=<the test's temporary directory>/cache, for the tools' environment: the
// synthetic dataset they generate stays inside the test.
inline std::string CacheEnv() { return "SAL360_CACHE=" + TempPath("cache"); }

// Path of a binary of this workspace in the test's runfiles, e.g. ToolPath("tools/train").
inline std::string ToolPath(const std::string& target_path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  return std::string(srcdir ? srcdir : ".") + "/" + (ws ? ws : "sal360") + "/" + target_path;
}

inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// The loss column of a training run's steps.csv (epoch,step,loss,...); empty when the
// file does not exist yet (a run still starting), and a last line still being written
// (fewer than three fields) is skipped.
inline std::vector<double> RunLosses(const std::string& run) {
  absl::StatusOr<std::string> text = util::ReadFile(run + "/steps.csv", int64_t{64} << 20);
  std::vector<double> losses;
  if (!text.ok()) return losses;
  size_t pos = text->find('\n');  // past the header
  while (pos != std::string::npos && pos + 1 < text->size()) {
    const size_t end = text->find('\n', pos + 1);
    if (end == std::string::npos) break;  // no newline yet: still being written
    const std::string line = text->substr(pos + 1, end - pos - 1);
    pos = end;
    const size_t a = line.find(','), b = a == std::string::npos ? a : line.find(',', a + 1);
    if (b == std::string::npos) continue;
    const size_t c = line.find(',', b + 1);
    losses.push_back(std::strtod(line.substr(b + 1, c == std::string::npos ? c : c - b - 1).c_str(), nullptr));
  }
  return losses;
}

namespace internal {

inline ToolResult Run(const std::string& binary, const std::vector<std::string>& args,
                      const std::vector<std::string>& env, const std::string& stderr_path) {
  std::string cmd;
  for (const std::string& e : env) cmd += e + " ";
  cmd += ShellQuote(ToolPath(binary));
  for (const std::string& a : args) cmd += " " + ShellQuote(a);
  cmd += stderr_path.empty() ? " 2>&1" : " 2>" + ShellQuote(stderr_path);
  ToolResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.exit_code = 128 + WTERMSIG(status);
  }
  return r;
}

}  // namespace internal

// Runs `binary args...` with `env` assignments ("NAME=value") prepended; stdout and
// stderr interleaved in `output`.
inline ToolResult RunTool(const std::string& binary, const std::vector<std::string>& args,
                          const std::vector<std::string>& env = {}) {
  return internal::Run(binary, args, env, "");
}

// As RunTool, with stdout in `output` and stderr in `err` (for tools that print JSON).
inline ToolResult RunToolSplit(const std::string& binary, const std::vector<std::string>& args,
                               const std::vector<std::string>& env = {}) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string err_path = std::string(tmp ? tmp : "/tmp") + "/tool_runner_stderr.txt";
  ToolResult r = internal::Run(binary, args, env, err_path);
  absl::StatusOr<std::string> e = util::ReadFile(err_path, int64_t{64} << 20);
  if (e.ok()) r.err = *e;
  return r;
}

}  // namespace sal360::testing

#endif  // SAL360_TESTS_TESTING_TOOL_RUNNER_H_

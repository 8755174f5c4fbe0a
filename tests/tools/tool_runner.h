// Runs the tools' binaries (runfiles of the test) as subprocesses and captures their
// output and exit status, for the end-to-end tests.
#ifndef SAL360_TESTS_TOOLS_TOOL_RUNNER_H_
#define SAL360_TESTS_TOOLS_TOOL_RUNNER_H_

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace sal360::testing {

struct ToolResult {
  int exit_code = -1;  // WEXITSTATUS, or 128 + signal
  std::string output;  // stdout and stderr interleaved
};

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

// Runs `binary args...` with `env` assignments ("NAME=value") prepended.
inline ToolResult RunTool(const std::string& binary, const std::vector<std::string>& args,
                          const std::vector<std::string>& env = {}) {
  std::string cmd;
  for (const std::string& e : env) cmd += e + " ";
  cmd += ShellQuote(ToolPath(binary));
  for (const std::string& a : args) cmd += " " + ShellQuote(a);
  cmd += " 2>&1";
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

}  // namespace sal360::testing

#endif  // SAL360_TESTS_TOOLS_TOOL_RUNNER_H_

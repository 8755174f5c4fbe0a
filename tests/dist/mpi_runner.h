// Helpers of the data-parallel tests: run tools/train (under mpirun or alone) on the
// synthetic dataset at 32x64, batch 4, one BLAS thread per process, and compare runs.
#ifndef SAL360_TESTS_DIST_MPI_RUNNER_H_
#define SAL360_TESTS_DIST_MPI_RUNNER_H_

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/tool_runner.h"
#include "util/file.h"
#include "util/safetensors.h"

namespace sal360::testing {


struct RunResult {
  int exit_code = -1;
  std::string output;
  double seconds = 0;
};

// Under --config=cuda_emu_asan the ranks keep AddressSanitizer's checks but not its
// leak report: OpenMPI, hwloc and OpenMPI's plugins (unloaded at MPI_Finalize, so their
// frames cannot even be named in a suppression) leave ~120 KB allocated at exit. The
// trainer's own leaks are checked by the single-process tests under ASan
// (tests/tools/train_cuda_test.cc). The variable is inert in other builds.
inline std::string Env() {
  return "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 "
         "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader "
         "OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1 SAL360_CACHE=" +
         ShellQuote(TempPath("cache")) + " ";
}

inline std::string Command(int ranks, const std::vector<std::string>& args, bool exec = false) {
  std::string cmd = Env() + (exec ? "exec " : "");
  if (ranks > 0) cmd += "mpirun --oversubscribe --bind-to none -np " + std::to_string(ranks) + " ";
  cmd += ShellQuote(ToolPath("tools/train"));
  // --device=cpu unless the caller names another (the last flag wins): under
  // --config=cuda_emu the default device is the emulated GPU.
  for (const char* a : {"--device=cpu", "--height=32", "--width=64", "--batch=4", "--loader_threads=1"}) {
    cmd += " " + std::string(a);
  }
  for (const std::string& a : args) cmd += " " + ShellQuote(a);
  return cmd + " 2>&1";
}

inline RunResult Shell(const std::string& cmd) {
  RunResult r;
  const auto t0 = std::chrono::steady_clock::now();
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

// ranks = 0: one process without mpirun.
inline RunResult Train(int ranks, const std::vector<std::string>& args) { return Shell(Command(ranks, args)); }

inline std::vector<double> Losses(const std::string& run) { return RunLosses(run); }

// The last row of RUN/epochs.csv as column -> value.
inline std::map<std::string, double> LastEpoch(const std::string& run) {
  std::ifstream f(run + "/epochs.csv");
  std::string header, line, last;
  std::getline(f, header);
  while (std::getline(f, line)) last = line;
  std::map<std::string, double> out;
  std::stringstream h(header), v(last);
  std::string key, value;
  while (std::getline(h, key, ',') && std::getline(v, value, ',')) out[key] = std::stod(value);
  return out;
}

inline util::Safetensors Checkpoint(const std::string& path) {
  absl::StatusOr<util::Safetensors> st = util::ReadSafetensors(path);
  EXPECT_TRUE(st.ok()) << st.status();
  return st.ok() ? *st : util::Safetensors();
}

// Largest |a − b| / max|a| over the float tensors (weights, BN statistics, moments),
// but those that move on rounding noise alone: the biases of conv1..conv6 (each
// cancelled by the batch-norm after it), their moments and the running means that absorb
// them (tests/dist/mpi_train_test.cc says why).
inline double MaxRelativeDiff(const util::Safetensors& a, const util::Safetensors& b, std::string* worst_name) {
  double worst = 0;
  EXPECT_EQ(a.tensors.size(), b.tensors.size());
  const std::regex noise("conv[1-6]\\.bias|running_mean");
  for (const auto& [name, ta] : a.tensors) {
    auto it = b.tensors.find(name);
    if (it == b.tensors.end() || ta.dtype != util::DType::kFloat32) continue;
    if (std::regex_search(name, noise)) continue;
    const float* x = reinterpret_cast<const float*>(ta.bytes.data());
    const float* y = reinterpret_cast<const float*>(it->second.bytes.data());
    double scale = 1e-12, diff = 0;
    for (int64_t i = 0; i < ta.numel(); ++i) {
      scale = std::max(scale, std::fabs(double(x[i])));
      diff = std::max(diff, std::fabs(double(x[i]) - y[i]));
    }
    if (diff / scale > worst) {
      worst = diff / scale;
      *worst_name = name;
    }
  }
  return worst;
}

inline bool SameTensors(const util::Safetensors& a, const util::Safetensors& b) {
  if (a.tensors.size() != b.tensors.size()) return false;
  for (const auto& [name, t] : a.tensors) {
    auto it = b.tensors.find(name);
    if (it == b.tensors.end() || it->second.bytes != t.bytes) {
      ADD_FAILURE() << "tensor " << name << " differs";
      return false;
    }
  }
  return true;
}

// True when mpirun is on PATH.
inline bool HaveMpirun() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

}  // namespace sal360::testing

#endif  // SAL360_TESTS_DIST_MPI_RUNNER_H_

// bench: speed and memory of the whole spherical U-Net (not a test).
//
// For each --batches entry, two cases, each printed as one JSON line on stdout:
//   "forward"     inference (eval mode) of a batch;
//   "train_step"  training forward + sphere-weighted MSE loss + backward + Adam step.
// Each line has the time (minimum over --reps after a warm-up), the FLOP count and
// achieved GFLOP/s (SphericalConv products only: 2·P·9·Cin·Cout per conv, x3 for
// training minus conv1's input gradient; 28.4 / 84.7 GFLOP per 240x480 image: the
// network's nominal work, whatever the implementation saves (conv7's upsampled half runs
// at a quarter of the pixels) or spends again (conv1's forward recomputed)), the
// sgemm ceiling measured in the same run (see below) and the fraction of it achieved,
// the peak resident memory so far (getrusage), the model's buffer bytes, device
// allocations inside the timed step (must be 0), on CUDA the kernel launches and cuBLAS
// GEMM calls of one step (null on the CPU), a per-layer breakdown (from one extra
// run with per-layer synchronisation), and — when `import torch` works in python3 — the
// PyTorch reference of the same network on the same tables (tools/bench_torch.py) and
// the speed ratio. Without PyTorch the lines say "torch": "skipped: <why>".
//
// The ceilings (CPU only), measured in the same run:
//   - GEMM libraries: for every convolution, the plain GEMMs of the algorithm the layer
//     uses (nn::ChooseConvAlgo), whole image, on preallocated operands, run by every GEMM
//     library nn/cpu_gemm.h offers (OpenBLAS, oneDNN, BLIS), each checked against a
//     double-precision reference at sampled entries. One "gemm" line per shape. The
//     ceiling is the fastest correct library per shape: gemm_ceiling_gflops = FLOP / Σ
//     GEMM time, "ceiling_fraction" = GEMM time / measured time; "openblas_ceiling_*" is
//     the same with OpenBLAS alone (the first wave's ceiling).
//   - The machine: a register-only FMA loop on every thread at once (AVX-512, else
//     AVX2+FMA, else SSE), the peak no GEMM can pass; "fma_peak_fraction" = achieved
//     GFLOP/s / that peak. One "machine" line.
//
//   bazel run -c opt //tools:bench                       # 240x480, batch 1 and 2, CPU
//   bazel run -c opt //tools:bench -- --batches=2 --reps=5 --torch=off
//   bazel run -c opt //tools:bench -- --gemm=openblas    # one library for every shape
#include <immintrin.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "tools/flags.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "nn/buffer.h"
#include "nn/checkpoint.h"
#include "nn/context.h"
#include "nn/cpu_gemm.h"
#include "nn/device.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "util/file.h"

#ifdef SAL360_WITH_CUDA
#include "nn/cuda/cudnn_graph.h"
#include "nn/cuda/runtime.h"
#endif

ABSL_FLAG(std::string, device, "auto", "auto | cpu | cuda");
ABSL_FLAG(int, height, 240, "Input height (multiple of 8)");
ABSL_FLAG(int, width, 480, "Input width (multiple of 8)");
ABSL_FLAG(std::string, batches, "1,2", "Comma-separated batch sizes; each gives a forward and a train_step case");
ABSL_FLAG(int, reps, 3, "Timed repetitions per case (the minimum is reported)");
ABSL_FLAG(std::string, table_mode, "nearest", "nearest | bilinear");
ABSL_FLAG(int, threads, 0, "CPU threads of every GEMM library and our loops (0: all cores); also PyTorch's");
ABSL_FLAG(std::string, gemm, "",
          "CPU GEMM policy: auto (per shape, measured) | openblas | onednn | blis (default: "
          "SAL360_GEMM, else auto; nn/cpu_gemm.h)");
ABSL_FLAG(std::string, gpu_engines, "native,cudnn",
          "CUDA only: engines to measure, comma-separated (native | cudnn; one unavailable here "
          "gives a 'math_unavailable' line with the reason)");
ABSL_FLAG(std::string, precisions, "fp32,tf32,bf16",
          "CUDA only: GEMM precisions to measure, comma-separated (fp32 | tf32 | bf16)");
ABSL_FLAG(bool, fma_peak, true, "Measure the machine's FMA peak (register-only loop, CPU only)");
ABSL_FLAG(bool, layers, true, "Per-layer breakdown (one extra run per case with per-layer synchronisation)");
ABSL_FLAG(bool, ceiling, true,
          "Measure every GEMM library at the layers' GEMM shapes (CPU only; one 'gemm' line each)");
ABSL_FLAG(std::string, torch, "auto", "auto: run the PyTorch reference when python3 can import torch; off: skip");
ABSL_FLAG(std::string, python, "",
          "Python interpreter for the PyTorch reference (default: /usr/bin/python3, where Debian's "
          "python3-torch installs, else python3 from PATH)");
ABSL_FLAG(std::string, torch_script, "", "Path of bench_torch.py (default: found next to the binary's runfiles)");

namespace sal360 {
namespace {

using nlohmann::json;
using nn::Device;
using nn::Shape;
using nn::Tensor;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double MinSeconds(Device device, const std::function<void()>& fn, int reps) {
  fn();  // warm-up: buffers, arena, tables, caches
  nn::Context::Get(device).Synchronize();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = Now();
    fn();
    nn::Context::Get(device).Synchronize();
    best = std::min(best, Now() - t0);
  }
  return best;
}

// Kernel launches (ours, nn/cuda/check.h) and cuBLAS GEMM calls so far; zeros without
// CUDA.
struct LaunchCounts {
  int64_t kernels = 0, gemms = 0, cudnn = 0;
};
LaunchCounts LaunchCountsSoFar() {
#ifdef SAL360_WITH_CUDA
  return {nn::cuda::KernelLaunches(), nn::cuda::CublasGemmCalls(), nn::cuda::CudnnExecutions()};
#else
  return {};
#endif
}

double PeakRssMiB() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // Linux: kilobytes
}

// FLOPs of the convolutions for one image: forward, and a training step.
double ConvFlops(int h, int w, bool training) {
  double total = 0;
  for (int i = 0; i < nn::kNumConvLayers; ++i) {
    const nn::ConvLayerSpec& l = nn::kConvLayers[i];
    const double p = double(h >> l.level) * (w >> l.level);
    const double f = 2.0 * p * 9 * l.cin * l.cout;
    total += training ? (i == 0 ? 2 * f : 3 * f) : f;  // conv1 needs no input gradient
  }
  return total;
}

// One layer's GEMM shape as the ceiling measures it.
struct CeilingShape {
  const char* layer;
  const char* product;  // "col·w", "x·wz", "colᵀ·dy", "dy·wᵀ", "xᵀ·g", "g·wzᵀ"
  bool backward;
  nn::GemmShape shape;
};

// The plain GEMMs of every layer for one image: forward and backward.
std::vector<CeilingShape> CeilingShapes(int h, int w) {
  std::vector<CeilingShape> out;
  for (int i = 0; i < nn::kNumConvLayers; ++i) {
    const nn::ConvLayerSpec& l = nn::kConvLayers[i];
    const int pix = (h >> l.level) * (w >> l.level), kc = 9 * l.cin, kz = 9 * l.cout;
    const bool need_dx = i != 0;
    if (i == nn::kNumConvLayers - 1) {
      // conv7 over [up(e6) | e1] (nn::SphericalConvUpCat*): each half of its input
      // channels on its own, the upsampled half at a quarter of the pixels.
      const int ca = nn::kConvLayers[i - 1].cout, cb = l.cin - ca, quarter = pix / 4;
      out.push_back({l.name, "a·wz_a", false, {false, false, quarter, kz, ca, false}});
      out.push_back({l.name, "b·wz_b", false, {false, false, pix, kz, cb, false}});
      out.push_back({l.name, "bᵀ·g", true, {true, false, cb, kz, pix, true}});
      out.push_back({l.name, "g·wz_bᵀ", true, {false, true, pix, cb, kz, false}});
      out.push_back({l.name, "aᵀ·ga", true, {true, false, ca, kz, quarter, true}});
      out.push_back({l.name, "ga·wz_aᵀ", true, {false, true, quarter, ca, kz, false}});
      continue;
    }
    const bool fwd_in = nn::ChooseConvAlgo(l.cin, l.cout, nn::ConvPass::kForward) == nn::ConvAlgo::kGatherInput;
    const bool bwd_in = nn::ChooseConvAlgo(l.cin, l.cout, nn::ConvPass::kBackward) == nn::ConvAlgo::kGatherInput;
    if (fwd_in) {
      out.push_back({l.name, "col·w", false, {false, false, pix, l.cout, kc, true}});
    } else {
      out.push_back({l.name, "x·wz", false, {false, false, pix, kz, l.cin, false}});
    }
    if (bwd_in) {
      out.push_back({l.name, "colᵀ·dy", true, {true, false, kc, l.cout, pix, true}});
      if (need_dx) out.push_back({l.name, "dy·wᵀ", true, {false, true, pix, kc, l.cout, false}});
    } else {
      out.push_back({l.name, "xᵀ·g", true, {true, false, l.cin, kz, pix, true}});
      if (need_dx) out.push_back({l.name, "g·wzᵀ", true, {false, true, pix, l.cin, kz, false}});
    }
  }
  return out;
}

// Seconds of one image's GEMMs, forward and backward: with the fastest correct library
// per shape, and with OpenBLAS alone.
struct Ceiling {
  double forward = 0, backward = 0;
  double openblas_forward = 0, openblas_backward = 0;
  bool all_correct = true;
};
Ceiling MeasureCeiling(int h, int w, int reps, std::vector<json>* gemm_lines) {
  Ceiling c;
  for (const CeilingShape& cs : CeilingShapes(h, w)) {
    const std::vector<nn::GemmTrial> trials = nn::MeasureGemmBackends(cs.shape, reps, 0.02);
    json line = {{"case", "gemm"},         {"layer", cs.layer},        {"product", cs.product},
                 {"pass", cs.backward ? "backward" : "forward"},
                 {"m", cs.shape.m},        {"n", cs.shape.n},          {"k", cs.shape.k},
                 {"trans_a", cs.shape.trans_a}, {"trans_b", cs.shape.trans_b},
                 {"accumulate", cs.shape.accumulate},
                 {"chosen", nn::GemmBackendName(nn::ChosenGemmBackend(cs.shape))}};
    double best = 1e30, openblas = 1e30;
    std::string fastest;
    for (const nn::GemmTrial& t : trials) {
      const std::string name = nn::GemmBackendName(t.backend);
      if (!t.available) {
        line[name] = {{"available", false}, {"why", t.why_unavailable}};
        continue;
      }
      line[name] = {{"gflops", std::round(t.gflops * 10) / 10},
                    {"seconds", t.seconds},
                    {"error_ratio", t.error_ratio},
                    {"correct", t.correct}};
      if (!t.correct) c.all_correct = false;
      if (t.correct && t.seconds < best) {
        best = t.seconds;
        fastest = name;
      }
      if (t.backend == nn::GemmBackend::kOpenBlas) openblas = t.seconds;
    }
    line["fastest"] = fastest;
    (cs.backward ? c.backward : c.forward) += best;
    (cs.backward ? c.openblas_backward : c.openblas_forward) += openblas;
    gemm_lines->push_back(line);
  }
  return c;
}

// The FMA peak: every thread runs a loop of independent register-only FMAs (12
// accumulators hide the FMA latency on every current core) at the widest width the CPU
// has. Returns GFLOP/s of all threads together and the width's name: the best of 7 runs
// of ~40 ms, because on a shared VM a run can lose its core to a neighbour, never gain.
__attribute__((target("avx512f"))) double FmaLoopAvx512(int64_t iters) {
  __m512 acc[12];
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(float(i));
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
  }
  float sink = 0;
  for (int i = 0; i < 12; ++i) sink += _mm512_reduce_add_ps(acc[i]);
  return 2.0 * 16 * 12 * iters + (sink == 1.2345f ? 1 : 0);  // the sink keeps the loop
}
__attribute__((target("avx2,fma"))) double FmaLoopAvx2(int64_t iters) {
  __m256 acc[12];
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(float(i));
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  }
  alignas(32) float lanes[8];
  float sink = 0;
  for (int i = 0; i < 12; ++i) {
    _mm256_store_ps(lanes, acc[i]);
    for (float f : lanes) sink += f;
  }
  return 2.0 * 8 * 12 * iters + (sink == 1.2345f ? 1 : 0);
}
double FmaLoopSse(int64_t iters) {  // no FMA unit: a multiply and an add
  __m128 acc[12];
  const __m128 m = _mm_set1_ps(0.999999f), a = _mm_set1_ps(1e-7f);
  for (int i = 0; i < 12; ++i) acc[i] = _mm_set1_ps(float(i));
  for (int64_t it = 0; it < iters; ++it) {
    for (int i = 0; i < 12; ++i) acc[i] = _mm_add_ps(_mm_mul_ps(acc[i], m), a);
  }
  alignas(16) float lanes[4];
  float sink = 0;
  for (int i = 0; i < 12; ++i) {
    _mm_store_ps(lanes, acc[i]);
    for (float f : lanes) sink += f;
  }
  return 2.0 * 4 * 12 * iters + (sink == 1.2345f ? 1 : 0);
}

double FmaPeakGflops(int threads, std::string* isa) {
  __builtin_cpu_init();
  double (*loop)(int64_t) = FmaLoopSse;
  *isa = "sse (mul+add)";
  if (__builtin_cpu_supports("avx512f")) {
    loop = FmaLoopAvx512;
    *isa = "avx512 fma";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    loop = FmaLoopAvx2;
    *isa = "avx2 fma";
  }
  constexpr int64_t kIters = 20'000'000;
  double best = 0;
  for (int run = 0; run < 7; ++run) {
    std::vector<double> flops(threads);
    std::vector<std::thread> pool;
    const double t0 = Now();
    for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { flops[t] = loop(kIters); });
    for (std::thread& t : pool) t.join();
    const double seconds = Now() - t0;
    double total = 0;
    for (double f : flops) total += f;
    best = std::max(best, total / seconds / 1e9);
  }
  return best;
}

class LayerTimes : public nn::LayerObserver {
 public:
  explicit LayerTimes(Device d) : device_(d) {}
  void Begin(const char* layer) override {
    nn::Context::Get(device_).Synchronize();
    start_ = Now();
  }
  void End(const char* layer) override {
    nn::Context::Get(device_).Synchronize();
    ms_[layer] += (Now() - start_) * 1e3;
  }
  json ToJson() const {
    json j = json::object();
    for (const auto& [k, v] : ms_) j[k] = std::round(v * 100) / 100;
    return j;
  }

 private:
  Device device_;
  double start_ = 0;
  std::map<std::string, double> ms_;
};

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Runs a shell command; returns its stdout, or an error with its exit status.
bool RunCommand(const std::string& cmd, std::string* out) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return false;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  return pclose(p) == 0;
}

std::string FindTorchScript(const char* argv0) {
  if (!absl::GetFlag(FLAGS_torch_script).empty()) return absl::GetFlag(FLAGS_torch_script);
  for (const std::string& c : {std::string("tools/bench_torch.py"),
                               std::string(argv0) + ".runfiles/sal360/tools/bench_torch.py"}) {
    if (access(c.c_str(), R_OK) == 0) return c;
  }
  return "";
}

// The PyTorch reference: {"batch:case" -> seconds}, or a reason it was skipped.
std::map<std::string, double> RunTorch(const char* argv0, int h, int w, const nn::ModelConfig& config,
                                       int threads, const std::string& batches, int reps,
                                       std::string* skipped) {
  std::map<std::string, double> result;
  if (absl::GetFlag(FLAGS_torch) == "off") {
    *skipped = "skipped: --torch=off";
    return result;
  }
  std::string python = absl::GetFlag(FLAGS_python);
  if (python.empty()) python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
  std::string ignored;
  if (!RunCommand(python + " -c 'import torch' 2>/dev/null", &ignored)) {
    *skipped = absl::StrCat("skipped: ", python,
                            " cannot import torch (Debian: apt-get install python3-torch)");
    return result;
  }
  const std::string script = FindTorchScript(argv0);
  if (script.empty()) {
    *skipped = "skipped: tools/bench_torch.py not found (pass --torch_script)";
    return result;
  }
  char tmpl[] = "/tmp/sal360_bench_XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    *skipped = "skipped: cannot create a temporary directory";
    return result;
  }
  const std::string dir = tmpl;
  int taps = 1;
  for (int l = 0; l < nn::kNumLevels; ++l) {
    sphere::TableSpec spec;
    spec.height = h >> l;
    spec.width = w >> l;
    spec.mode = config.table_mode;
    spec.convention = config.convention;
    const sphere::GatherTable& t = sphere::CachedGatherTable(spec);
    taps = t.taps;
    const std::string src(reinterpret_cast<const char*>(t.src.data()), t.src.size() * 4);
    const std::string wt(reinterpret_cast<const char*>(t.weight.data()), t.weight.size() * 4);
    if (!util::WriteFileAtomically(absl::StrCat(dir, "/level", l, "_src.i32"), src).ok() ||
        !util::WriteFileAtomically(absl::StrCat(dir, "/level", l, "_weight.f32"), wt).ok()) {
      *skipped = "skipped: cannot write the tables for PyTorch";
      return result;
    }
  }
  const std::string cmd = absl::StrCat(python, " ", script, " --tables=", dir, " --height=", h, " --width=", w,
                                       " --taps=", taps, " --threads=", threads, " --batches=", batches,
                                       " --reps=", reps);
  std::fprintf(stderr, "bench: running the PyTorch reference: %s\n", cmd.c_str());
  std::string out;
  const bool ok = RunCommand(cmd, &out);
  std::string rm;
  RunCommand("rm -rf " + dir, &rm);
  if (!ok) {
    *skipped = "skipped: the PyTorch reference failed (see stderr)";
    return result;
  }
  const json j = json::parse(Trim(out).substr(Trim(out).rfind('\n') + 1), nullptr, false);
  if (j.is_discarded() || !j.contains("cases")) {
    *skipped = "skipped: unreadable output from the PyTorch reference";
    return result;
  }
  try {
    for (const json& c : j.at("cases")) {
      result[absl::StrCat(c.at("batch").get<int>(), ":", c.at("case").get<std::string>())] =
          c.at("seconds").get<double>();
    }
  } catch (const json::exception& e) {
    *skipped = absl::StrCat("skipped: unreadable output from the PyTorch reference: ", e.what());
    return {};
  }
  *skipped = absl::StrCat("torch ", j.value("torch_version", "?"), ", ", j.value("threads", 0), " threads");
  return result;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Times the spherical U-Net: inference and training step per batch size, per-layer "
      "breakdown, GFLOP/s vs the same-run sgemm ceiling, peak memory, optional PyTorch "
      "reference. One JSON line per case on stdout.");
  ::sal360::tools::ParseCommandLine(argc, argv);
  const int h = absl::GetFlag(FLAGS_height), w = absl::GetFlag(FLAGS_width), reps = absl::GetFlag(FLAGS_reps);
  std::vector<int> batches;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_batches), ',')) {
    int b = 0;
    if (!absl::SimpleAtoi(s, &b) || b < 1 || b > 1024) {
      std::fprintf(stderr, "bench: --batches: '%s' is not a batch size (1..1024)\n", std::string(s).c_str());
      return 2;
    }
    batches.push_back(b);
  }
  const std::string shape_error = nn::SphericalUNet::CheckInputShape(Shape{1, h, w, 4});
  if (!shape_error.empty()) {
    std::fprintf(stderr, "bench: --height/--width: %s\n", shape_error.c_str());
    return 2;
  }
  if (reps < 1) {
    std::fprintf(stderr, "bench: --reps must be at least 1\n");
    return 2;
  }
  const std::string torch_flag = absl::GetFlag(FLAGS_torch);
  if (torch_flag != "auto" && torch_flag != "off") {
    std::fprintf(stderr, "bench: --torch must be auto or off, not '%s'\n", torch_flag.c_str());
    return 2;
  }
  absl::StatusOr<sphere::TableMode> mode = nn::ParseTableMode(absl::GetFlag(FLAGS_table_mode));
  if (!mode.ok()) {
    std::fprintf(stderr, "bench: --table_mode: %s\n", std::string(mode.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<Device> device = nn::ResolveDevice(absl::GetFlag(FLAGS_device));
  if (!device.ok()) {
    std::fprintf(stderr, "bench: --device: %s\n", std::string(device.status().message()).c_str());
    return 2;
  }
  if (absl::GetFlag(FLAGS_threads) < 0) {
    std::fprintf(stderr, "bench: --threads must be >= 0\n");
    return 2;
  }
  if (!absl::GetFlag(FLAGS_gemm).empty()) {
    nn::GemmPolicy policy;
    std::string error;
    if (!nn::ParseGemmPolicy(absl::GetFlag(FLAGS_gemm), &policy, &error)) {
      std::fprintf(stderr, "bench: --gemm: %s\n", error.c_str());
      return 2;
    }
    if (!policy.automatic && !nn::GemmBackendAvailable(policy.fixed, &error)) {
      std::fprintf(stderr, "bench: --gemm=%s: unavailable: %s\n", nn::GemmBackendName(policy.fixed),
                   error.c_str());
      return 2;
    }
    nn::SetGemmPolicy(policy);
  }
  nn::SetCpuThreads(absl::GetFlag(FLAGS_threads));
  const int threads = nn::CpuThreads();
  const nn::GemmPolicy gemm_policy = nn::CurrentGemmPolicy();
  const std::string gemm_name = gemm_policy.automatic ? "auto" : nn::GemmBackendName(gemm_policy.fixed);
  // The engine x precision combinations to measure: the CUDA ones from the flags, the
  // CPU's only native/fp32.
  std::vector<nn::GpuMath> maths;
  if (*device == Device::kCuda) {
    for (absl::string_view e : absl::StrSplit(absl::GetFlag(FLAGS_gpu_engines), ',', absl::SkipEmpty())) {
      absl::StatusOr<nn::GpuEngine> engine = nn::ParseGpuEngine(std::string(e));
      if (!engine.ok()) {
        std::fprintf(stderr, "bench: --gpu_engines: %s\n", std::string(engine.status().message()).c_str());
        return 2;
      }
      for (absl::string_view p : absl::StrSplit(absl::GetFlag(FLAGS_precisions), ',', absl::SkipEmpty())) {
        absl::StatusOr<nn::Precision> precision = nn::ParsePrecision(std::string(p));
        if (!precision.ok()) {
          std::fprintf(stderr, "bench: --precisions: %s\n", std::string(precision.status().message()).c_str());
          return 2;
        }
        maths.push_back(nn::GpuMath{*engine, *precision});
      }
    }
    if (maths.empty()) {
      std::fprintf(stderr, "bench: --gpu_engines and --precisions name no combination\n");
      return 2;
    }
  } else {
    maths.push_back(nn::GpuMath{});
  }
  nn::ModelConfig config;
  config.table_mode = *mode;

  nn::SphericalUNet model(*device, config);
  nn::Rng rng(1);
  model.Initialize(rng);
  nn::Optimizer opt(nn::OptimConfig{}, model.params());
  const Tensor row_weights = nn::LossRowWeights(h, w, *device);

  std::vector<json> lines;
  std::string batches_csv;
  for (int b : batches) batches_csv += (batches_csv.empty() ? "" : ",") + std::to_string(b);
  for (const nn::GpuMath& math : maths) {
  const json engine_json = *device == Device::kCuda ? json(nn::GpuEngineName(math.engine)) : json(nullptr);
  const json precision_json = *device == Device::kCuda ? json(nn::PrecisionName(math.precision)) : json(nullptr);
  if (absl::Status st = nn::Context::Get(*device).SetMath(math); !st.ok()) {
    std::fprintf(stderr, "bench: %s/%s: %s\n", nn::GpuEngineName(math.engine),
                 nn::PrecisionName(math.precision), std::string(st.message()).c_str());
    lines.push_back({{"case", "math_unavailable"},
                     {"gpu_engine", engine_json},
                     {"precision", precision_json},
                     {"why", std::string(st.message())}});
    continue;
  }
  for (int b : batches) {
    std::vector<float> xv(size_t(b) * h * w * 4), tv(size_t(b) * h * w);
    for (size_t i = 0; i < xv.size(); ++i) xv[i] = float((i * 2654435761u) % 1000) / 1000.0f;
    for (size_t i = 0; i < tv.size(); ++i) tv[i] = float((i * 40503u) % 1000) / 100.0f;
    const Tensor x = Tensor::FromVector(Shape{b, h, w, 4}, xv, *device);
    const Tensor target = Tensor::FromVector(Shape{b, h, w, 1}, tv, *device);
    auto forward = [&] { model.Forward(x, false); };
    LayerTimes* timing = nullptr;  // set for the per-layer run: also times loss and optimiser
    auto train_step = [&] {
      model.params().ZeroGrad();
      const Tensor& out = model.Forward(x, true);
      if (timing != nullptr) timing->Begin("loss");
      nn::SphereMseLoss(out, target, row_weights, &model.output_grad());
      if (timing != nullptr) timing->End("loss");
      model.Backward(model.output_grad());
      if (timing != nullptr) timing->Begin("adam");
      opt.Step();
      if (timing != nullptr) timing->End("adam");
    };
    for (const bool training : {false, true}) {
      const std::function<void()> step = training ? std::function<void()>(train_step) : forward;
      std::fprintf(stderr, "bench: %s batch %d (%s/%s) ...\n", training ? "train_step" : "forward", b,
                   nn::GpuEngineName(math.engine), nn::PrecisionName(math.precision));
      const double seconds = MinSeconds(*device, step, reps);
      const int64_t allocs_before = nn::Buffer::device_allocations();
      const LaunchCounts launches_before = LaunchCountsSoFar();
      step();
      nn::Context::Get(*device).Synchronize();
      const int64_t allocs = nn::Buffer::device_allocations() - allocs_before;
      const LaunchCounts launches_after = LaunchCountsSoFar();
      json line = {{"case", training ? "train_step" : "forward"},
                   {"device", nn::DeviceName(*device)},
                   {"cuda_device", *device == Device::kCuda ? json(nn::CudaDeviceDescription())
                                                            : json(nullptr)},
                   {"threads", threads},
                   {"gemm", *device == Device::kCpu ? json(gemm_name) : json(nullptr)},
                   {"gpu_engine", engine_json},
                   {"precision", precision_json},
                   {"height", h},
                   {"width", w},
                   {"batch", b},
                   {"table_mode", sphere::ModeName(config.table_mode)},
                   {"seconds", seconds},
                   {"gflop", ConvFlops(h, w, training) * b / 1e9},
                   {"gflops", ConvFlops(h, w, training) * b / 1e9 / seconds},
                   {"peak_rss_mib", PeakRssMiB()},
                   {"model_buffers_mib", model.workspace_bytes() / 1048576.0},
                   {"device_allocations_in_step", allocs}};
      // Launch overhead (issue #7): our kernels and cuBLAS GEMM calls in one more step;
      // null on the CPU.
      line["kernel_launches_per_step"] =
          *device == Device::kCuda ? json(launches_after.kernels - launches_before.kernels) : json(nullptr);
      line["cublas_gemms_per_step"] =
          *device == Device::kCuda ? json(launches_after.gemms - launches_before.gemms) : json(nullptr);
      line["cudnn_executions_per_step"] =
          *device == Device::kCuda ? json(launches_after.cudnn - launches_before.cudnn) : json(nullptr);
      if (absl::GetFlag(FLAGS_layers)) {
        LayerTimes times(*device);
        model.set_observer(&times);
        timing = &times;
        step();
        timing = nullptr;
        model.set_observer(nullptr);
        line["layers_ms"] = times.ToJson();
      }
      lines.push_back(line);
    }
  }
  }  // maths
  std::vector<json> extra_lines;  // "machine" and "gemm" lines, printed first
  if (*device == Device::kCpu) {
    json machine = {{"case", "machine"}, {"threads", threads}, {"gemm", gemm_name}};
    json libs = json::object();
    for (int b = 0; b < nn::kNumGemmBackends; ++b) {
      const auto backend = static_cast<nn::GemmBackend>(b);
      std::string why;
      libs[nn::GemmBackendName(backend)] =
          nn::GemmBackendAvailable(backend, &why) ? nn::GemmBackendDescription(backend) : "unavailable: " + why;
    }
    machine["gemm_libraries"] = libs;
    double peak = 0;
    if (absl::GetFlag(FLAGS_fma_peak)) {
      std::fprintf(stderr, "bench: FMA peak on %d threads ...\n", threads);
      std::string isa;
      peak = FmaPeakGflops(threads, &isa);
      machine["fma_peak_gflops"] = std::round(peak * 10) / 10;
      machine["fma_isa"] = isa;
    }
    std::vector<json> gemm_lines;
    if (absl::GetFlag(FLAGS_ceiling)) {
      std::fprintf(stderr, "bench: every GEMM library at the layers' GEMM shapes ...\n");
      const Ceiling c = MeasureCeiling(h, w, reps, &gemm_lines);
      machine["gemm_results_correct"] = c.all_correct;
      for (json& line : lines) {
        const int b = line["batch"].get<int>();
        const bool training = line["case"] == "train_step";
        const double gemm_s = b * (training ? c.forward + c.backward : c.forward);
        const double openblas_s = b * (training ? c.openblas_forward + c.openblas_backward : c.openblas_forward);
        line["gemm_ceiling_seconds"] = gemm_s;
        line["gemm_ceiling_gflops"] = line["gflop"].get<double>() / gemm_s;
        line["ceiling_fraction"] = gemm_s / line["seconds"].get<double>();
        line["openblas_ceiling_gflops"] = line["gflop"].get<double>() / openblas_s;
        line["openblas_ceiling_fraction"] = openblas_s / line["seconds"].get<double>();
      }
    }
    if (peak > 0) {
      for (json& line : lines) line["fma_peak_fraction"] = line["gflops"].get<double>() / peak;
    }
    extra_lines.push_back(machine);
    for (json& g : gemm_lines) extra_lines.push_back(g);
  }
  std::string torch_note;
  const std::map<std::string, double> torch =
      RunTorch(argv[0], h, w, config, threads, batches_csv, reps, &torch_note);
  for (json& line : lines) {
    if (!line.contains("batch")) continue;  // math_unavailable
    const auto it = torch.find(absl::StrCat(line["batch"].get<int>(), ":", line["case"].get<std::string>()));
    line["torch"] = torch_note;
    if (it != torch.end()) {
      line["torch_seconds"] = it->second;
      line["speedup_vs_torch"] = it->second / line["seconds"].get<double>();
    }
  }
  for (const json& line : extra_lines) std::printf("%s\n", line.dump().c_str());
  for (const json& line : lines) std::printf("%s\n", line.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace sal360

int main(int argc, char** argv) { return sal360::Main(argc, argv); }

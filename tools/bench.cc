// bench: speed and memory of the whole spherical U-Net (not a test).
//
// For each --batches entry, two cases, each printed as one JSON line on stdout:
//   "forward"     inference (eval mode) of a batch;
//   "train_step"  training forward + sphere-weighted MSE loss + backward + Adam step.
// Each line has the time (minimum over --reps after a warm-up), the FLOP count and
// achieved GFLOP/s (SphericalConv products only: 2·P·9·Cin·Cout per conv, x3 for
// training minus conv1's input gradient; 28.4 / 84.7 GFLOP per 240x480 image), the
// sgemm ceiling measured in the same run (see below) and the fraction of it achieved,
// the peak resident memory so far (getrusage), the model's buffer bytes, device
// allocations inside the timed step (must be 0), on CUDA the kernel launches and cuBLAS
// GEMM calls of one step (null on the CPU), a per-layer breakdown (from one extra
// run with per-layer synchronisation), and — when `import torch` works in python3 — the
// PyTorch reference of the same network on the same tables (tools/bench_torch.py) and
// the speed ratio. Without PyTorch the lines say "torch": "skipped: <why>".
//
// The ceiling: for every convolution, the plain cblas_sgemm calls of the algorithm the
// layer uses (nn::ChooseConvAlgo), whole image, on preallocated operands — the time the
// GEMMs alone would take. ceiling_gflops = FLOP / Σ GEMM time; "ceiling_fraction" =
// GEMM time / measured time, so the figure means the same on any machine.
//
//   bazel run -c opt //tools:bench                       # 240x480, batch 1 and 2, CPU
//   bazel run -c opt //tools:bench -- --batches=2 --reps=5 --torch=off
#include <cblas.h>
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
#include "nn/device.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "util/file.h"

#ifdef SAL360_WITH_CUDA
#include "nn/cuda/runtime.h"
#endif

ABSL_FLAG(std::string, device, "auto", "auto | cpu | cuda");
ABSL_FLAG(int, height, 240, "Input height (multiple of 8)");
ABSL_FLAG(int, width, 480, "Input width (multiple of 8)");
ABSL_FLAG(std::string, batches, "1,2", "Comma-separated batch sizes; each gives a forward and a train_step case");
ABSL_FLAG(int, reps, 3, "Timed repetitions per case (the minimum is reported)");
ABSL_FLAG(std::string, table_mode, "nearest", "nearest | bilinear");
ABSL_FLAG(int, threads, 0, "OpenBLAS threads (0: OpenBLAS's default, normally all cores); also PyTorch's");
ABSL_FLAG(bool, layers, true, "Per-layer breakdown (one extra run per case with per-layer synchronisation)");
ABSL_FLAG(bool, ceiling, true, "Measure the sgemm ceiling at the layers' GEMM shapes (CPU only)");
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
  int64_t kernels = 0, gemms = 0;
};
LaunchCounts LaunchCountsSoFar() {
#ifdef SAL360_WITH_CUDA
  return {nn::cuda::KernelLaunches(), nn::cuda::CublasGemmCalls()};
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

double GemmSeconds(bool ta, bool tb, int m, int n, int k, float beta, int reps) {
  std::vector<float> a(size_t(m) * k, 0.5f), b(size_t(k) * n, 0.25f), c(size_t(m) * n, 0.0f);
  return MinSeconds(
      Device::kCpu,
      [&] {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k,
                    1.0f, a.data(), ta ? m : k, b.data(), tb ? k : n, beta, c.data(), n);
      },
      reps);
}

// Seconds the plain GEMMs of every layer take for one image: forward and backward.
struct Ceiling {
  double forward = 0, backward = 0;
};
Ceiling MeasureCeiling(int h, int w, int reps) {
  Ceiling c;
  for (int i = 0; i < nn::kNumConvLayers; ++i) {
    const nn::ConvLayerSpec& l = nn::kConvLayers[i];
    const int pix = (h >> l.level) * (w >> l.level), kc = 9 * l.cin, kz = 9 * l.cout;
    const bool need_dx = i != 0;
    const bool fwd_in = nn::ChooseConvAlgo(l.cin, l.cout, nn::ConvPass::kForward) == nn::ConvAlgo::kGatherInput;
    const bool bwd_in = nn::ChooseConvAlgo(l.cin, l.cout, nn::ConvPass::kBackward) == nn::ConvAlgo::kGatherInput;
    c.forward += fwd_in ? GemmSeconds(false, false, pix, l.cout, kc, 1.0f, reps)   // col · w
                        : GemmSeconds(false, false, pix, kz, l.cin, 0.0f, reps);   // x · wz
    c.backward += bwd_in ? GemmSeconds(true, false, kc, l.cout, pix, 1.0f, reps) +  // colᵀ · dy
                               (need_dx ? GemmSeconds(false, true, pix, kc, l.cout, 0.0f, reps) : 0.0)
                         : GemmSeconds(true, false, l.cin, kz, pix, 1.0f, reps) +  // xᵀ · g
                               (need_dx ? GemmSeconds(false, true, pix, l.cin, kz, 0.0f, reps) : 0.0);
  }
  return c;
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
  if (absl::GetFlag(FLAGS_threads) > 0) openblas_set_num_threads(absl::GetFlag(FLAGS_threads));
  const int threads = openblas_get_num_threads();
  nn::ModelConfig config;
  config.table_mode = *mode;

  nn::SphericalUNet model(*device, config);
  nn::Rng rng(1);
  model.Initialize(rng);
  nn::Optimizer opt(nn::OptimConfig{}, model.params());
  const Tensor row_weights = nn::LossRowWeights(h, w, *device);

  std::vector<json> lines;
  std::string batches_csv;
  for (int b : batches) {
    batches_csv += (batches_csv.empty() ? "" : ",") + std::to_string(b);
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
      std::fprintf(stderr, "bench: %s batch %d ...\n", training ? "train_step" : "forward", b);
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
  if (absl::GetFlag(FLAGS_ceiling) && *device == Device::kCpu) {
    std::fprintf(stderr, "bench: sgemm ceiling at the layers' GEMM shapes ...\n");
    const Ceiling c = MeasureCeiling(h, w, reps);
    for (json& line : lines) {
      const int b = line["batch"].get<int>();
      const bool training = line["case"] == "train_step";
      const double gemm_s = b * (training ? c.forward + c.backward : c.forward);
      line["sgemm_ceiling_seconds"] = gemm_s;
      line["sgemm_ceiling_gflops"] = line["gflop"].get<double>() / gemm_s;
      line["ceiling_fraction"] = gemm_s / line["seconds"].get<double>();
    }
  }
  std::string torch_note;
  const std::map<std::string, double> torch =
      RunTorch(argv[0], h, w, config, threads, batches_csv, reps, &torch_note);
  for (json& line : lines) {
    const auto it = torch.find(absl::StrCat(line["batch"].get<int>(), ":", line["case"].get<std::string>()));
    line["torch"] = torch_note;
    if (it != torch.end()) {
      line["torch_seconds"] = it->second;
      line["speedup_vs_torch"] = it->second / line["seconds"].get<double>();
    }
    std::printf("%s\n", line.dump().c_str());
  }
  return 0;
}

}  // namespace
}  // namespace sal360

int main(int argc, char** argv) { return sal360::Main(argc, argv); }

// CpuSgemm: backends, the per-shape choice and its choice file. See cpu_gemm.h.
#include "nn/cpu_gemm.h"

#include <cblas.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <tuple>

#include "oneapi/dnnl/dnnl.h"
#include "util/splitmix.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace sal360::nn {
namespace {

[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "sal360: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// ---------------------------------------------------------------------------------
// BLIS through dlopen (RTLD_LOCAL: its cblas_* symbols stay out of the global scope)
// ---------------------------------------------------------------------------------

// BLIS 0.9's typed API (blis.h): trans_t is an enum, dim_t and inc_t are int64.
using BliSgemmFn = void (*)(int, int, int64_t, int64_t, int64_t, const float*, const float*,
                            int64_t, int64_t, const float*, int64_t, int64_t, const float*,
                            float*, int64_t, int64_t);
using BliIntFn = int (*)();
using BliArchStringFn = const char* (*)(int);
using BliStringFn = const char* (*)();
using BliSetThreadsFn = void (*)(int64_t);
constexpr int kBlisNoTranspose = 0;
constexpr int kBlisArchSkx = 0;  // BLIS_ARCH_SKX, the first entry of 0.9's arch_t

struct Blis {
  bool loaded = false;
  std::string why;  // when not loaded
  std::string description;
  BliSgemmFn sgemm = nullptr;
  BliSetThreadsFn set_threads = nullptr;
};

bool CpuHasAvx512Skx() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kUnderAsan = true;
#else
constexpr bool kUnderAsan = false;
#endif
#else
constexpr bool kUnderAsan = false;
#endif

std::atomic<int> g_threads{0};              // 0: not yet set (SetCpuThreads)
std::atomic<bool> g_blis_requested{false};  // GetBlis() has run (BLIS loaded or refused)

// Loaded on first use only (a pinned OpenBLAS or oneDNN never loads it).
const Blis& GetBlis() {
  static const Blis* blis = [] {
    g_blis_requested.store(true);
    auto* b = new Blis;
    if (kUnderAsan) {
      // LeakSanitizer's exit-time scan crashes on the dynamic TLS of a dlopen'ed library
      // ("Tracer caught signal 11", seen with BLIS); sanitizer builds go without it.
      b->why = "not loaded under AddressSanitizer (LeakSanitizer cannot scan a dlopen'ed library's TLS)";
      return b;
    }
    if (getenv("BLIS_ARCH_TYPE") == nullptr && CpuHasAvx512Skx()) {
      setenv("BLIS_ARCH_TYPE", std::to_string(kBlisArchSkx).c_str(), 0);
    }
    void* lib = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* e = dlerror();
      b->why = std::string("libblis.so.4 not loadable (Debian: libblis4): ") + (e ? e : "?");
      return b;
    }
    auto init = reinterpret_cast<void (*)()>(dlsym(lib, "bli_init"));
    b->sgemm = reinterpret_cast<BliSgemmFn>(dlsym(lib, "bli_sgemm"));
    b->set_threads = reinterpret_cast<BliSetThreadsFn>(dlsym(lib, "bli_thread_set_num_threads"));
    auto arch_id = reinterpret_cast<BliIntFn>(dlsym(lib, "bli_arch_query_id"));
    auto arch_string = reinterpret_cast<BliArchStringFn>(dlsym(lib, "bli_arch_string"));
    auto version = reinterpret_cast<BliStringFn>(dlsym(lib, "bli_info_get_version_str"));
    if (init == nullptr || b->sgemm == nullptr || b->set_threads == nullptr || arch_id == nullptr ||
        arch_string == nullptr || version == nullptr) {
      b->why = "libblis.so.4 lacks bli_sgemm or its info functions";
      return b;
    }
    init();  // the info queries below need the initialised context
    b->description = std::string("blis ") + version() + " " + arch_string(arch_id());
    if (g_threads.load() > 0) b->set_threads(g_threads.load());  // else EnsureThreads will
    b->loaded = true;
    return b;
  }();
  return *blis;
}

// ---------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------

int CoreCount() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

void ApplyThreads(int threads) {
  openblas_set_num_threads(threads);
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
  // BLIS takes the count when it is loaded; once loaded, it is told here.
  if (g_blis_requested.load()) {
    const Blis& blis = GetBlis();
    if (blis.loaded) blis.set_threads(threads);
  }
}

void EnsureThreads() {
  if (g_threads.load() == 0) SetCpuThreads(0);
}

// ---------------------------------------------------------------------------------
// One call per backend
// ---------------------------------------------------------------------------------

void RunBackend(GemmBackend backend, bool ta, bool tb, int m, int n, int k, float alpha,
                const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  switch (backend) {
    case GemmBackend::kOpenBlas:
      cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                  n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    case GemmBackend::kOneDnn: {
      const dnnl_status_t s = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b,
                                         ldb, beta, c, ldc);
      if (s != dnnl_success) {
        Fatal("dnnl_sgemm(" + std::to_string(m) + "x" + std::to_string(n) + "x" +
              std::to_string(k) + ") failed with status " + std::to_string(int(s)));
      }
      return;
    }
    case GemmBackend::kBlis: {
      const Blis& blis = GetBlis();
      // op(A) as an m x k matrix with general strides (no transpose flag needed).
      const int64_t rsa = ta ? 1 : lda, csa = ta ? lda : 1;
      const int64_t rsb = tb ? 1 : ldb, csb = tb ? ldb : 1;
      blis.sgemm(kBlisNoTranspose, kBlisNoTranspose, m, n, k, &alpha, a, rsa, csa, b, rsb, csb,
                 &beta, c, ldc, 1);
      return;
    }
  }
}

// ---------------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------------

std::mutex g_mutex;  // guards the policy and the choice map
std::optional<GemmPolicy> g_policy;

using ChoiceKey = std::tuple<bool, bool, int, int, int, bool, int>;  // + threads
std::map<ChoiceKey, GemmBackend> g_choices;

GemmPolicy PolicyLocked() {
  if (!g_policy.has_value()) {
    GemmPolicy p;
    const char* env = getenv("SAL360_GEMM");
    std::string error;
    if (env != nullptr && *env != '\0' && !ParseGemmPolicy(env, &p, &error)) {
      Fatal("SAL360_GEMM: " + error);
    }
    g_policy = p;
  }
  if (!g_policy->automatic) {
    std::string why;
    if (!GemmBackendAvailable(g_policy->fixed, &why)) {
      Fatal(std::string("GEMM backend ") + GemmBackendName(g_policy->fixed) +
            " requested but unavailable: " + why);
    }
  }
  return *g_policy;
}

// ---------------------------------------------------------------------------------
// The choice file
// ---------------------------------------------------------------------------------

constexpr off_t kMaxChoiceFileBytes = 1 << 20;

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string s = line.substr(colon + 1);
        while (!s.empty() && s.front() == ' ') s.erase(s.begin());
        for (char& ch : s) {
          if (ch == ' ' || ch == '\t') ch = '_';
        }
        return s;
      }
    }
  }
  return "unknown_cpu";
}

// Everything that may change a choice besides the shape.
const std::string& MachinePrefix() {
  static const std::string* prefix = [] {
    std::string s = "v1 " + CpuModel() + " ";
    for (int b = 0; b < kNumGemmBackends; ++b) {
      std::string d = GemmBackendDescription(static_cast<GemmBackend>(b));
      for (char& ch : d) {
        if (ch == ' ' || ch == '\t' || ch == '\n') ch = '_';
      }
      s += d + " ";
    }
    return new std::string(s);
  }();
  return *prefix;
}

std::string KeyText(const GemmShape& s, int threads) {
  std::ostringstream o;
  o << MachinePrefix() << "t" << threads << " " << (s.trans_a ? 'T' : 'N') << (s.trans_b ? 'T' : 'N')
    << " " << s.m << " " << s.n << " " << s.k << " " << (s.accumulate ? "acc" : "set");
  return o.str();
}

std::string ChoiceFilePath() {
  if (const char* p = getenv("SAL360_GEMM_CACHE"); p != nullptr && *p != '\0') return p;
  if (const char* x = getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0') {
    return std::string(x) + "/sal360/gemm_choices.txt";
  }
  if (const char* h = getenv("HOME"); h != nullptr && *h != '\0') {
    return std::string(h) + "/.cache/sal360/gemm_choices.txt";
  }
  // No home (Bazel's tests): the temporary directory, one file per user.
  const char* t = getenv("TMPDIR");
  return std::string(t != nullptr && *t != '\0' ? t : "/tmp") + "/sal360-gemm-choices-" +
         std::to_string(getuid()) + ".txt";
}

void MakeParents(const std::string& path) {
  for (size_t i = 1; i < path.size(); ++i) {
    if (path[i] == '/') mkdir(path.substr(0, i).c_str(), 0755);
  }
}

std::optional<GemmBackend> BackendFromName(const std::string& name) {
  for (int b = 0; b < kNumGemmBackends; ++b) {
    if (name == GemmBackendName(static_cast<GemmBackend>(b))) return static_cast<GemmBackend>(b);
  }
  return std::nullopt;
}

// The backend recorded for `key` in the open file, if any (first line wins). Lines are
// "KEY<TAB>BACKEND"; anything else, or an unavailable backend, is ignored.
std::optional<GemmBackend> FindInFile(int fd, const std::string& key) {
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size > kMaxChoiceFileBytes || !S_ISREG(st.st_mode)) {
    return std::nullopt;
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  if (pread(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) return std::nullopt;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const size_t tab = line.find('\t');
    if (tab == std::string::npos || line.compare(0, tab, key) != 0 || tab != key.size()) continue;
    const std::optional<GemmBackend> b = BackendFromName(line.substr(tab + 1));
    if (b.has_value() && GemmBackendAvailable(*b)) return b;
  }
  return std::nullopt;
}

GemmBackend Fastest(const GemmShape& shape) {
  const std::vector<GemmTrial> trials = MeasureGemmBackends(shape, 3, 0.005);
  const GemmTrial* best = nullptr;
  for (const GemmTrial& t : trials) {
    if (t.available && t.correct && (best == nullptr || t.seconds < best->seconds)) best = &t;
  }
  if (best == nullptr) {
    Fatal("no GEMM backend computes " + std::to_string(shape.m) + "x" + std::to_string(shape.n) +
          "x" + std::to_string(shape.k) + " correctly (not even OpenBLAS)");
  }
  return best->backend;
}

// Measures `shape` (or finds it in the choice file) under the file's lock.
GemmBackend DecideShared(const GemmShape& shape, int threads) {
  static std::atomic<bool> warned{false};
  const std::string path = ChoiceFilePath();
  int fd = -1;
  if (!path.empty()) {
    MakeParents(path);
    fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  }
  // The file may sit in a shared directory (/tmp): only a regular file of our own is
  // trusted (O_NOFOLLOW refused a symbolic link already).
  std::string problem = path.empty() ? "no path" : fd < 0 ? std::strerror(errno) : "";
  struct stat own;
  if (fd >= 0 && (fstat(fd, &own) != 0 || !S_ISREG(own.st_mode) || own.st_uid != geteuid())) {
    close(fd);
    fd = -1;
    problem = "not a regular file owned by this user";
  }
  if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
    problem = std::strerror(errno);
    close(fd);
    fd = -1;
  }
  if (fd < 0) {
    if (!warned.exchange(true)) {
      std::fprintf(stderr,
                   "sal360: cannot use the GEMM choice file '%s' (%s); choosing per process, so "
                   "another process may round differently (set SAL360_GEMM_CACHE or SAL360_GEMM)\n",
                   path.c_str(), problem.c_str());
    }
    return Fastest(shape);
  }
  const std::string key = KeyText(shape, threads);
  std::optional<GemmBackend> found = FindInFile(fd, key);
  GemmBackend chosen;
  if (found.has_value()) {
    chosen = *found;
  } else {
    chosen = Fastest(shape);
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size < kMaxChoiceFileBytes) {
      const std::string line = key + "\t" + GemmBackendName(chosen) + "\n";
      if (pwrite(fd, line.data(), line.size(), st.st_size) != static_cast<ssize_t>(line.size()) &&
          !warned.exchange(true)) {
        std::fprintf(stderr, "sal360: could not append to the GEMM choice file '%s'\n", path.c_str());
      }
    }
  }
  flock(fd, LOCK_UN);
  close(fd);
  return chosen;
}

}  // namespace

// ---------------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------------

const char* GemmBackendName(GemmBackend b) {
  switch (b) {
    case GemmBackend::kOpenBlas:
      return "openblas";
    case GemmBackend::kOneDnn:
      return "onednn";
    case GemmBackend::kBlis:
      return "blis";
  }
  return "?";
}

bool ParseGemmPolicy(const std::string& text, GemmPolicy* policy, std::string* error) {
  if (text == "auto") {
    *policy = GemmPolicy{};
    return true;
  }
  const std::optional<GemmBackend> b = BackendFromName(text);
  if (!b.has_value()) {
    *error = "'" + text + "' is not a GEMM policy (auto, openblas, onednn, blis)";
    return false;
  }
  policy->automatic = false;
  policy->fixed = *b;
  return true;
}

GemmPolicy CurrentGemmPolicy() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return PolicyLocked();
}

void SetGemmPolicy(const GemmPolicy& policy) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_policy = policy;
  PolicyLocked();  // checks availability
}

bool GemmBackendAvailable(GemmBackend b, std::string* why) {
  if (b == GemmBackend::kBlis) {
    const Blis& blis = GetBlis();
    if (!blis.loaded && why != nullptr) *why = blis.why;
    return blis.loaded;
  }
  return true;  // OpenBLAS and oneDNN are linked in
}

std::string GemmBackendDescription(GemmBackend b) {
  switch (b) {
    case GemmBackend::kOpenBlas:
      return std::string("openblas ") + openblas_get_config();
    case GemmBackend::kOneDnn: {
      const dnnl_version_t* v = dnnl_version();
      return "onednn " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
             std::to_string(v->patch);
    }
    case GemmBackend::kBlis: {
      const Blis& blis = GetBlis();
      return blis.loaded ? blis.description : "blis unavailable";
    }
  }
  return "?";
}

// The first of SAL360_THREADS, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS that holds a count
// in 1..1024, else 0.
int ThreadsFromEnvironment() {
  for (const char* name : {"SAL360_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}) {
    const char* v = getenv(name);
    if (v == nullptr || *v == '\0') continue;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (*end == '\0' && n >= 1 && n <= 1024) return static_cast<int>(n);
  }
  return 0;
}

void SetCpuThreads(int threads) {
  if (threads <= 0) threads = ThreadsFromEnvironment();
  if (threads <= 0) threads = CoreCount();
  g_threads.store(threads);
  ApplyThreads(threads);
}

int CpuThreads() {
  EnsureThreads();
  return g_threads.load();
}

void CpuSgemmWith(GemmBackend backend, bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                  const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  EnsureThreads();
  if (k == 0) {  // C = beta · C; not every library accepts k = 0
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < n; ++j) c[int64_t{i} * ldc + j] = beta == 0.0f ? 0.0f : beta * c[int64_t{i} * ldc + j];
    }
    return;
  }
  std::string why;
  if (!GemmBackendAvailable(backend, &why)) {
    Fatal(std::string("GEMM backend ") + GemmBackendName(backend) + " unavailable: " + why);
  }
  RunBackend(backend, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

GemmBackend ChosenGemmBackend(const GemmShape& shape) {
  const int threads = CpuThreads();
  std::unique_lock<std::mutex> lock(g_mutex);
  const GemmPolicy policy = PolicyLocked();
  if (!policy.automatic) return policy.fixed;
  const ChoiceKey key{shape.trans_a, shape.trans_b, shape.m, shape.n, shape.k, shape.accumulate, threads};
  const auto it = g_choices.find(key);
  if (it != g_choices.end()) return it->second;
  // Measured while holding the lock: a shape is decided once per process.
  const GemmBackend chosen = DecideShared(shape, threads);
  g_choices.emplace(key, chosen);
  return chosen;
}

void CpuSgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
              const float* b, int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  const GemmBackend backend =
      k == 0 ? GemmBackend::kOpenBlas
             : ChosenGemmBackend(GemmShape{trans_a, trans_b, m, n, k, beta != 0.0f});
  CpuSgemmWith(backend, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

std::vector<GemmTrial> MeasureGemmBackends(const GemmShape& s, int reps, double min_seconds) {
  EnsureThreads();
  const int lda = s.trans_a ? s.m : s.k, ldb = s.trans_b ? s.k : s.n, ldc = s.n;
  const int64_t a_size = int64_t{s.m} * s.k, b_size = int64_t{s.k} * s.n, c_size = int64_t{s.m} * s.n;
  std::vector<float> a(a_size), b(b_size), c0(c_size), c(c_size);
  uint64_t state = 0x5a1360;
  auto fill = [&](std::vector<float>& v) {
    for (float& x : v) x = static_cast<float>(2.0 * util::SplitMixUnit(state) - 1.0);
  };
  fill(a);
  fill(b);
  if (s.accumulate) {
    fill(c0);
  } else {
    // beta = 0 means C is not read: garbage (NaN) in it must not reach the result.
    std::fill(c0.begin(), c0.end(), std::nanf(""));
  }
  const float beta = s.accumulate ? 1.0f : 0.0f;

  // Sampled entries: all of them for small C, else 256 spread pseudo-randomly plus the
  // corners (edge tiles are where kernels go wrong).
  std::vector<std::pair<int, int>> samples;
  if (c_size <= 4096) {
    for (int i = 0; i < s.m; ++i)
      for (int j = 0; j < s.n; ++j) samples.emplace_back(i, j);
  } else {
    samples = {{0, 0}, {0, s.n - 1}, {s.m - 1, 0}, {s.m - 1, s.n - 1}};
    for (int t = 0; t < 256; ++t) {
      samples.emplace_back(static_cast<int>(util::SplitMix64(state) % s.m),
                           static_cast<int>(util::SplitMix64(state) % s.n));
    }
  }
  auto a_at = [&](int i, int p) { return s.trans_a ? a[int64_t{p} * lda + i] : a[int64_t{i} * lda + p]; };
  auto b_at = [&](int p, int j) { return s.trans_b ? b[int64_t{j} * ldb + p] : b[int64_t{p} * ldb + j]; };
  std::vector<double> ref(samples.size()), bound(samples.size());
  constexpr double kUnit = 1.0 / (1 << 23);
  for (size_t t = 0; t < samples.size(); ++t) {
    const auto [i, j] = samples[t];
    double acc = 0, mag = 0;
    for (int p = 0; p < s.k; ++p) {
      const double prod = double(a_at(i, p)) * double(b_at(p, j));
      acc += prod;
      mag += std::fabs(prod);
    }
    const double c_in = s.accumulate ? double(c0[int64_t{i} * ldc + j]) : 0.0;
    ref[t] = acc + c_in;
    bound[t] = s.k * kUnit * mag + kUnit * std::fabs(c_in) + 1e-30;
  }

  const double flop = 2.0 * s.m * s.n * s.k;
  std::vector<GemmTrial> trials;
  for (int bi = 0; bi < kNumGemmBackends; ++bi) {
    GemmTrial t;
    t.backend = static_cast<GemmBackend>(bi);
    t.available = GemmBackendAvailable(t.backend, &t.why_unavailable);
    if (!t.available) {
      trials.push_back(t);
      continue;
    }
    c = c0;
    CpuSgemmWith(t.backend, s.trans_a, s.trans_b, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb,
                 beta, c.data(), ldc);
    double worst = 0;
    for (size_t k = 0; k < samples.size(); ++k) {
      const auto [i, j] = samples[k];
      const double got = c[int64_t{i} * ldc + j];
      const double ratio = std::isfinite(got) ? std::fabs(got - ref[k]) / bound[k] : INFINITY;
      worst = std::max(worst, ratio);
    }
    t.error_ratio = worst;
    t.correct = worst <= 1.0;
    double best = INFINITY, spent = 0;
    for (int r = 0; r < 20 && (r < std::max(1, reps) || spent < min_seconds); ++r) {
      if (s.accumulate) std::copy(c0.begin(), c0.end(), c.begin());
      const double t0 = Now();
      CpuSgemmWith(t.backend, s.trans_a, s.trans_b, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(),
                   ldb, beta, c.data(), ldc);
      const double dt = Now() - t0;
      best = std::min(best, dt);
      spent += dt;
    }
    t.seconds = best;
    t.gflops = flop / best / 1e9;
    trials.push_back(t);
  }
  return trials;
}

}  // namespace sal360::nn

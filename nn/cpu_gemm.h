// CpuSgemm: the one single-precision GEMM of the CPU path, over the GEMM libraries that
// Debian offers, chosen per shape by measurement.
//
//   C (m, n) = alpha · op(A) · op(B) + beta · C        row-major, op = transpose or not
//
// Backends (each optional at run time; OpenBLAS is always there):
//   openblas  cblas_sgemm of libopenblas (the reference path of the first wave);
//   onednn    dnnl_sgemm of libdnnl (oneDNN 2.x, JIT kernels chosen by CPU features,
//             threads from OpenMP);
//   blis      bli_sgemm of libblis.so.4, loaded with dlopen(RTLD_LOCAL) because it exports
//             its own cblas_* symbols, which must not shadow OpenBLAS's. BLIS 0.9 knows
//             no CPU newer than Zen 3 / Skylake-X and falls back to unvectorised
//             "generic" kernels on them; where the CPU has AVX-512 (F, DQ, CD, BW, VL) and
//             BLIS_ARCH_TYPE is unset, we set it to BLIS's skx configuration before loading.
//             Loaded on first use only, and never under AddressSanitizer (LeakSanitizer's
//             exit scan crashes on a dlopen'ed library's TLS): there it is unavailable.
//
// The policy (environment variable SAL360_GEMM, or SetGemmPolicy):
//   auto      (default) per shape (transposes, m, n, k, beta == 0), on first use: every
//             available backend runs the shape on scratch operands, is checked against a
//             double-precision reference at sampled entries (MeasureGemmBackends), and the
//             fastest correct one is kept for that shape;
//   openblas | onednn | blis: that backend for every shape (a missing one is an error).
//
// Reproducibility: backends round differently, and timing is noisy, so two processes that
// measured separately could pick differently and their results could differ in the last
// bits. The auto choices are therefore kept in a choice file ("wisdom", as FFTW calls it)
// shared by every process of the machine: SAL360_GEMM_CACHE, else
// $XDG_CACHE_HOME/sal360/gemm_choices.txt, else $HOME/.cache/sal360/gemm_choices.txt, else
// (no home, as in Bazel's tests) $TMPDIR (or /tmp)/sal360-gemm-choices-UID.txt.
// A shape is measured under an exclusive lock of that file and appended to it, so the
// first process to meet a shape decides it for all the others (and for a resumed run).
// Lines are keyed by the CPU model, the thread count and the library versions, so a new
// machine or library measures afresh. Where no file can be written, choices live only in
// the process, with one warning.
//
// Threads: SetCpuThreads(n) sets every library's thread count (and OpenMP's, which our
// own parallel loops use); 0 = SAL360_THREADS, else OMP_NUM_THREADS, else
// OPENBLAS_NUM_THREADS, else all cores (the default before any call). Results of a backend may depend on the thread
// count; the choice key includes it.
#ifndef SAL360_NN_CPU_GEMM_H_
#define SAL360_NN_CPU_GEMM_H_

#include <string>
#include <vector>

namespace sal360::nn {

enum class GemmBackend { kOpenBlas = 0, kOneDnn = 1, kBlis = 2 };
inline constexpr int kNumGemmBackends = 3;
const char* GemmBackendName(GemmBackend b);

// "auto", or one backend for every shape.
struct GemmPolicy {
  bool automatic = true;
  GemmBackend fixed = GemmBackend::kOpenBlas;
};
// Parses "auto" | "openblas" | "onednn" | "blis"; false (and *error) otherwise.
bool ParseGemmPolicy(const std::string& text, GemmPolicy* policy, std::string* error);
// The policy in force: SetGemmPolicy's, else SAL360_GEMM's (an unknown value aborts,
// naming it), else auto. A fixed backend that is unavailable aborts with the reason.
GemmPolicy CurrentGemmPolicy();
void SetGemmPolicy(const GemmPolicy& policy);

// Whether a backend can run here; *why says why not.
bool GemmBackendAvailable(GemmBackend b, std::string* why = nullptr);
// Library versions and, for BLIS, the configuration it runs ("blis 0.9.0 skx").
std::string GemmBackendDescription(GemmBackend b);

// Sets the thread count of OpenBLAS, oneDNN (OpenMP), BLIS and our parallel loops;
// 0 = from the environment, else the number of cores (see above). CpuThreads() reports it.
void SetCpuThreads(int threads);
int CpuThreads();

// The GEMM. Shapes as in cblas_sgemm (row-major): lda >= (trans_a ? m : k), etc.
void CpuSgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
              int lda, const float* b, int ldb, float beta, float* c, int ldc);
// The same on one given backend (bench, tests). The backend must be available.
void CpuSgemmWith(GemmBackend backend, bool trans_a, bool trans_b, int m, int n, int k,
                  float alpha, const float* a, int lda, const float* b, int ldb, float beta,
                  float* c, int ldc);

// A shape as the choice sees it.
struct GemmShape {
  bool trans_a = false, trans_b = false;
  int m = 0, n = 0, k = 0;
  bool accumulate = false;  // beta != 0
};
// The backend CpuSgemm uses for `shape` under the current policy (measuring it now if
// auto and not yet chosen).
GemmBackend ChosenGemmBackend(const GemmShape& shape);

// One backend's run of a shape on scratch operands with entries in [-1, 1].
struct GemmTrial {
  GemmBackend backend;
  bool available = false;
  std::string why_unavailable;
  double seconds = 0;      // the fastest of the timed runs
  double gflops = 0;
  // Largest |C - reference| / bound over the sampled entries, where reference is the
  // double-precision product and bound = k·2^-23·Σ|a||b| + 2^-23·|beta·C0| (the
  // worst-case rounding of a float dot product of length k); <= 1 is correct.
  double error_ratio = 0;
  bool correct = false;
};
// Every backend on `shape`: one warm-up, then the fastest of `reps` runs (at least
// min_seconds of timed work in all, up to 20 runs).
std::vector<GemmTrial> MeasureGemmBackends(const GemmShape& shape, int reps,
                                           double min_seconds = 0.0);

}  // namespace sal360::nn

#endif  // SAL360_NN_CPU_GEMM_H_

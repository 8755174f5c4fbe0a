// CpuSgemm (nn/cpu_gemm.h): every GEMM library against a double-precision reference
// over a sweep of shapes, the policy parser, the per-shape choice and its choice file.
//
// Tolerance: |C - reference| <= k·2^-23·Σ|a·b| + 2^-23·|beta·C0|, the worst-case
// rounding of a float dot product of length k (any summation order, with or without
// FMA); a wrong kernel (a missed tile edge, a wrong stride) is off by O(|a·b|).
#include "nn/cpu_gemm.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/gradcheck.h"

namespace sal360::nn {
namespace {

std::vector<GemmBackend> AllBackends() {
  return {GemmBackend::kOpenBlas, GemmBackend::kOneDnn, GemmBackend::kBlis};
}

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// Row-major C (m, n) = alpha·op(A)·op(B) + beta·C with padded leading dimensions, on
// `backend`, checked entry by entry.
void CheckShape(GemmBackend backend, bool ta, bool tb, int m, int n, int k, float alpha, float beta,
                uint64_t seed) {
  const int pad = 3;
  const int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
  const int a_rows = ta ? k : m, b_rows = tb ? n : k;
  std::vector<float> a = testing::RandomFloats(int64_t{a_rows} * lda, seed);
  std::vector<float> b = testing::RandomFloats(int64_t{b_rows} * ldb, seed + 1);
  std::vector<float> c0 = testing::RandomFloats(int64_t{m} * ldc, seed + 2);
  if (beta == 0.0f) {
    for (float& v : c0) v = std::nanf("");  // beta = 0: C must not be read
  }
  std::vector<float> c = c0;
  CpuSgemmWith(backend, ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < ldc; ++j) {
      const int64_t at = int64_t{i} * ldc + j;
      if (j >= n) {  // the padding of C is never written
        ASSERT_TRUE(std::isnan(c[at]) ? std::isnan(c0[at]) : c[at] == c0[at])
            << GemmBackendName(backend) << " wrote C's padding at " << i << "," << j;
        continue;
      }
      double acc = 0, mag = 0;
      for (int p = 0; p < k; ++p) {
        const double av = ta ? a[int64_t{p} * lda + i] : a[int64_t{i} * lda + p];
        const double bv = tb ? b[int64_t{j} * ldb + p] : b[int64_t{p} * ldb + j];
        acc += av * bv;
        mag += std::fabs(av * bv);
      }
      const double c_in = beta == 0.0f ? 0.0 : double(beta) * c0[at];
      const double want = double(alpha) * acc + c_in;
      const double bound = (k + 2) * std::ldexp(1.0, -23) * (std::fabs(alpha) * mag + std::fabs(c_in)) + 1e-30;
      ASSERT_LE(std::fabs(c[at] - want), bound)
          << GemmBackendName(backend) << " " << (ta ? 'T' : 'N') << (tb ? 'T' : 'N') << " m" << m
          << " n" << n << " k" << k << " alpha " << alpha << " beta " << beta << " at " << i << ","
          << j << ": got " << c[at] << " want " << want;
    }
  }
}

TEST(CpuGemmTest, EveryBackendMatchesTheReferenceOverASweep) {
  int checked = 0;
  for (GemmBackend backend : AllBackends()) {
    std::string why;
    if (!GemmBackendAvailable(backend, &why)) {
      // OpenBLAS and oneDNN are linked; BLIS is dlopen'ed and installed by bootstrap.
      if (InCi()) ADD_FAILURE() << GemmBackendName(backend) << " unavailable under CI: " << why;
      std::printf("skipping %s: %s\n", GemmBackendName(backend), why.c_str());
      continue;
    }
    uint64_t seed = 1;
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        // Odd sizes, sizes around common tile widths (6, 8, 16, 32, 48), a tall-skinny
        // and a short-wide product like the convolution's.
        for (const auto& [m, n, k] : std::vector<std::tuple<int, int, int>>{
                 {1, 1, 1}, {3, 5, 7}, {17, 33, 9}, {47, 16, 65}, {129, 1, 36}, {6, 96, 300}, {2, 9, 128}}) {
          for (const auto& [alpha, beta] : std::vector<std::pair<float, float>>{{1, 0}, {1, 1}, {2, 0.5f}}) {
            CheckShape(backend, ta, tb, m, n, k, alpha, beta, seed += 3);
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GE(checked, 2 * 4 * 7 * 3);
}

TEST(CpuGemmTest, KZeroScalesC) {
  for (GemmBackend backend : AllBackends()) {
    if (!GemmBackendAvailable(backend)) continue;
    std::vector<float> c = {1, 2, 3, 4};
    CpuSgemmWith(backend, false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.5f, c.data(), 2);
    EXPECT_EQ(c, (std::vector<float>{0.5f, 1, 1.5f, 2}));
    std::vector<float> d = {NAN, NAN};
    CpuSgemmWith(backend, false, false, 1, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, d.data(), 2);
    EXPECT_EQ(d, (std::vector<float>{0, 0}));
  }
}

TEST(CpuGemmTest, PolicyParser) {
  GemmPolicy p;
  std::string error;
  ASSERT_TRUE(ParseGemmPolicy("auto", &p, &error));
  EXPECT_TRUE(p.automatic);
  ASSERT_TRUE(ParseGemmPolicy("onednn", &p, &error));
  EXPECT_FALSE(p.automatic);
  EXPECT_EQ(p.fixed, GemmBackend::kOneDnn);
  ASSERT_TRUE(ParseGemmPolicy("blis", &p, &error));
  EXPECT_EQ(p.fixed, GemmBackend::kBlis);
  EXPECT_FALSE(ParseGemmPolicy("mkl", &p, &error));
  EXPECT_NE(error.find("'mkl' is not a GEMM policy"), std::string::npos) << error;
  EXPECT_FALSE(ParseGemmPolicy("", &p, &error));
}

TEST(CpuGemmTest, MeasurementReportsEveryBackendCorrect) {
  const GemmShape shape{false, true, 200, 64, 576, false};
  const std::vector<GemmTrial> trials = MeasureGemmBackends(shape, 2);
  ASSERT_EQ(trials.size(), 3u);
  for (const GemmTrial& t : trials) {
    if (!t.available) continue;
    EXPECT_TRUE(t.correct) << GemmBackendName(t.backend) << " error ratio " << t.error_ratio;
    EXPECT_LE(t.error_ratio, 1.0);
    EXPECT_GT(t.gflops, 0.0);
  }
  EXPECT_TRUE(trials[0].available);  // OpenBLAS
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The choice file: a shape's choice is written once and read back; a recorded choice
// wins over measuring; garbage lines are ignored. One test, because the in-process
// choices are per process and the file path is read from the environment.
TEST(CpuGemmTest, ChoiceFileIsWrittenReadAndSurvivesGarbage) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") +
                           "/gemm_choices_test.txt";
  std::remove(path.c_str());
  {
    std::ofstream garbage(path);
    garbage << "not a choice line\n\t\n" << std::string(5000, 'x') << "\tonednn\nv1 junk\tmkl\n";
  }
  setenv("SAL360_GEMM_CACHE", path.c_str(), 1);
  SetGemmPolicy(GemmPolicy{});
  const GemmShape shape{true, false, 37, 41, 300, true};
  const GemmBackend first = ChosenGemmBackend(shape);
  EXPECT_EQ(ChosenGemmBackend(shape), first);  // cached in the process
  const std::string text = ReadAll(path);
  const std::string suffix = std::string(" TN 37 41 300 acc\t") + GemmBackendName(first) + "\n";
  const size_t at = text.find(suffix);
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_EQ(text.find(" TN 37 41 300 acc\t", at + 1), std::string::npos) << "written twice";

  // A second shape whose line we write ourselves, naming a backend that may well not be
  // the fastest: it is used without measuring.
  const size_t line_start = text.rfind('\n', at) + 1;
  const std::string key_prefix = text.substr(line_start, at - line_start);  // machine + threads
  const GemmShape forced{false, false, 23, 29, 31, false};
  for (GemmBackend want : AllBackends()) {
    if (!GemmBackendAvailable(want)) continue;
    const GemmShape s{forced.trans_a, forced.trans_b, forced.m, forced.n + static_cast<int>(want), forced.k,
                      false};
    {
      std::ofstream out(path, std::ios::app);
      out << key_prefix << " NN " << s.m << " " << s.n << " " << s.k << " set\t" << GemmBackendName(want) << "\n";
    }
    EXPECT_EQ(ChosenGemmBackend(s), want) << GemmBackendName(want);
  }
  unsetenv("SAL360_GEMM_CACHE");
}

// A choice file that is a symbolic link (say, planted in a shared /tmp) is not used and
// not written through: the choice falls back to the process.
TEST(CpuGemmTest, SymlinkedChoiceFileIsRefused) {
  const std::string dir = std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp";
  const std::string target = dir + "/gemm_choices_target.txt", link = dir + "/gemm_choices_link.txt";
  std::remove(target.c_str());
  std::remove(link.c_str());
  { std::ofstream(target) << ""; }
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  setenv("SAL360_GEMM_CACHE", link.c_str(), 1);
  SetGemmPolicy(GemmPolicy{});
  const GemmShape shape{false, true, 19, 23, 29, false};
  const GemmBackend b = ChosenGemmBackend(shape);
  EXPECT_TRUE(GemmBackendAvailable(b));
  EXPECT_EQ(ReadAll(target), "");  // nothing written through the link
  unsetenv("SAL360_GEMM_CACHE");
}

TEST(CpuGemmTest, FixedPolicyIsObeyed) {
  for (GemmBackend b : AllBackends()) {
    if (!GemmBackendAvailable(b)) continue;
    GemmPolicy p;
    p.automatic = false;
    p.fixed = b;
    SetGemmPolicy(p);
    EXPECT_EQ(ChosenGemmBackend(GemmShape{false, false, 5, 6, 7, false}), b);
  }
  SetGemmPolicy(GemmPolicy{});
}

TEST(CpuGemmTest, ThreadsAreSet) {
  SetCpuThreads(1);
  EXPECT_EQ(CpuThreads(), 1);
  SetCpuThreads(0);
  EXPECT_GE(CpuThreads(), 1);
}

}  // namespace
}  // namespace sal360::nn

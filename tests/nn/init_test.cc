// Rng and the PyTorch-style initialisers: the generator reproduces std::mt19937_64,
// draws portable 53-bit doubles, serialises for bit-identical resume and rejects bad
// state text; the initialisers keep PyTorch's bounds.
#include "nn/init.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace sal360::nn {
namespace {

TEST(Rng, ReproducesStdMt19937_64) {
  for (uint64_t seed : {uint64_t{5489}, uint64_t{0}, uint64_t{42}, ~uint64_t{0}}) {
    Rng rng(seed);
    std::mt19937_64 ref(seed);
    for (int i = 0; i < 2000; ++i) ASSERT_EQ(rng.NextU64(), ref()) << "seed " << seed << " i " << i;
  }
  // [rand.predef]: the 10000th output of a default-constructed mt19937_64 (seed 5489).
  Rng rng(5489);
  uint64_t v = 0;
  for (int i = 0; i < 10000; ++i) v = rng.NextU64();
  EXPECT_EQ(v, 9981545732273789042ULL);
}

TEST(Rng, UniformIsTheTop53BitsScaled) {
  Rng a(7), b(7);
  double lo = 1, hi = 0;
  for (int i = 0; i < 10000; ++i) {
    const double u = a.Uniform();
    EXPECT_EQ(u, static_cast<double>(b.NextU64() >> 11) / 9007199254740992.0);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
  EXPECT_LT(lo, 1e-3);
  EXPECT_GT(hi, 1 - 1e-3);
}

TEST(Rng, SerializeResumesBitIdentically) {
  Rng a(123);
  for (int i = 0; i < 500; ++i) a.NextU64();  // mid-block: index != 0, != 312
  const std::string state = a.Serialize();
  Rng b(999);
  ASSERT_TRUE(b.Deserialize(state));
  EXPECT_EQ(b.Serialize(), state);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.NextU64(), b.NextU64()) << i;
  // A fresh generator (index 312, i.e. before the first twist) round-trips too.
  Rng c(5), d(6);
  ASSERT_TRUE(d.Deserialize(c.Serialize()));
  EXPECT_EQ(c.NextU64(), d.NextU64());
}

TEST(Rng, DeserializeRejectsBadTextAndKeepsState) {
  Rng a(1);
  const std::string good = a.Serialize();
  std::vector<std::string> bad = {
      "",
      "garbage",
      good.substr(0, good.size() - 1),                     // truncated word
      good + " ",                                          // trailing text
      good + "0",                                          // an extra digit
      "sal360-rng mt19937_64 v2" + good.substr(24),        // unknown version
  };
  std::string bad_index = good;
  bad_index.replace(25, 3, "313");  // index > 312
  bad.push_back(bad_index);
  std::string bad_hex = good;
  bad_hex[good.size() - 3] = 'g';
  bad.push_back(bad_hex);
  std::string upper_hex = good;
  upper_hex[good.size() - 1] = 'F';  // only lower-case hex is written, only it is read
  if (upper_hex != good) bad.push_back(upper_hex);
  Rng b(77);
  const std::string before = b.Serialize();
  for (const std::string& text : bad) {
    EXPECT_FALSE(b.Deserialize(text)) << text.substr(0, 40);
    EXPECT_EQ(b.Serialize(), before);
  }
}

TEST(Init, KaimingUniformBoundAndMoments) {
  const int cin = 16, fan_in = 9 * cin;
  Tensor w(Shape{9, 1, cin, 32}, Device::kCpu);
  Rng rng(3);
  InitConvKaimingUniform(w, fan_in, rng);
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  double mean = 0, sq = 0, mx = 0;
  const auto v = w.ToVector();
  for (float x : v) {
    ASSERT_LE(std::fabs(x), bound);
    mean += x;
    sq += static_cast<double>(x) * x;
    mx = std::max(mx, std::fabs(static_cast<double>(x)));
  }
  mean /= v.size();
  sq /= v.size();
  // U(−b, b): mean 0, E[x²] = b²/3; n = 4608 draws, so the standard errors are
  // b/sqrt(3n) ≈ 0.0085·b for the mean and ≈ 0.0099·b² for E[x²] (5 sigma below).
  EXPECT_NEAR(mean, 0.0, 0.05 * bound);
  EXPECT_NEAR(sq, bound * bound / 3, 0.05 * bound * bound);
  EXPECT_GT(mx, 0.99 * bound);
  // Same seed, same values; the values are the documented map of the draws.
  Rng again(3);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(v[i], static_cast<float>(-bound + 2 * bound * again.Uniform()));
  }
}

TEST(Init, UniformBiasAndBatchNormAffine) {
  Tensor b(Shape{1, 1, 1, 64}, Device::kCpu);
  Rng rng(11);
  InitUniform(b, 0.25f, rng);
  for (float x : b.ToVector()) ASSERT_LE(std::fabs(x), 0.25f);
  Tensor gamma(Shape{1, 1, 1, 5}, Device::kCpu), beta(Shape{1, 1, 1, 5}, Device::kCpu);
  InitBatchNormAffine(gamma, beta);
  EXPECT_EQ(gamma.ToVector(), std::vector<float>(5, 1.0f));
  EXPECT_EQ(beta.ToVector(), std::vector<float>(5, 0.0f));
}

}  // namespace
}  // namespace sal360::nn

#include "nn/init.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "nn/ops/elementwise.h"

namespace sal360::nn {
namespace {

// std::mt19937_64's parameters ([rand.predef]).
constexpr int kN = Rng::kStateWords, kM = 156;
constexpr uint64_t kMatrixA = 0xB5026F5AA96619E9ULL;
constexpr uint64_t kUpperMask = 0xFFFFFFFF80000000ULL;  // most significant w − r = 33 bits
constexpr uint64_t kLowerMask = 0x7FFFFFFFULL;          // least significant r = 31 bits
constexpr char kHeader[] = "sal360-rng mt19937_64 v1";

void FillUniform(Tensor& t, double bound, Rng& rng) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  for (float& f : v) f = static_cast<float>(-bound + 2.0 * bound * rng.Uniform());
  CopyBytes(t.device(), t.data(), Device::kCpu, v.data(), v.size() * sizeof(float));
}

}  // namespace

Rng::Rng(uint64_t seed) {
  state_[0] = seed;
  for (int i = 1; i < kN; ++i) {
    state_[i] = 6364136223846793005ULL * (state_[i - 1] ^ (state_[i - 1] >> 62)) + i;
  }
  index_ = kN;
}

void Rng::Twist() {
  for (int i = 0; i < kN; ++i) {
    const uint64_t y = (state_[i] & kUpperMask) | (state_[(i + 1) % kN] & kLowerMask);
    state_[i] = state_[(i + kM) % kN] ^ (y >> 1) ^ ((y & 1) ? kMatrixA : 0);
  }
  index_ = 0;
}

uint64_t Rng::NextU64() {
  if (index_ >= kN) Twist();
  uint64_t z = state_[index_++];
  z ^= (z >> 29) & 0x5555555555555555ULL;
  z ^= (z << 17) & 0x71D67FFFEDA60000ULL;
  z ^= (z << 37) & 0xFFF7EEE000000000ULL;
  z ^= z >> 43;
  return z;
}

double Rng::Uniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }

std::string Rng::Serialize() const {
  std::string out = kHeader;
  char buf[32];
  std::snprintf(buf, sizeof(buf), " %d", index_);
  out += buf;
  for (int i = 0; i < kN; ++i) {
    std::snprintf(buf, sizeof(buf), " %016" PRIx64, state_[i]);
    out += buf;
  }
  return out;
}

bool Rng::Deserialize(const std::string& text) {
  const size_t header_len = sizeof(kHeader) - 1;
  if (text.compare(0, header_len, kHeader) != 0) return false;
  size_t pos = header_len;
  // One space, then a decimal index in [0, kN], then kN words of exactly 16 hex digits.
  auto space = [&]() {
    if (pos >= text.size() || text[pos] != ' ') return false;
    ++pos;
    return true;
  };
  if (!space()) return false;
  int index = 0, digits = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && digits < 4) {
    index = index * 10 + (text[pos++] - '0');
    ++digits;
  }
  if (digits == 0 || index > kN) return false;
  uint64_t words[kN];
  for (int i = 0; i < kN; ++i) {
    if (!space() || pos + 16 > text.size()) return false;
    uint64_t w = 0;
    for (int d = 0; d < 16; ++d) {
      const char ch = text[pos++];
      int v;
      if (ch >= '0' && ch <= '9') {
        v = ch - '0';
      } else if (ch >= 'a' && ch <= 'f') {
        v = ch - 'a' + 10;
      } else {
        return false;
      }
      w = (w << 4) | static_cast<uint64_t>(v);
    }
    words[i] = w;
  }
  if (pos != text.size()) return false;
  std::memcpy(state_, words, sizeof(words));
  index_ = index;
  return true;
}

void InitConvKaimingUniform(Tensor& w, int fan_in, Rng& rng) {
  // kaiming_uniform_(a=√5): gain = sqrt(2/(1+5)), bound = gain·sqrt(3/fan_in) = 1/sqrt(fan_in).
  FillUniform(w, fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0, rng);
}

void InitUniform(Tensor& t, float bound, Rng& rng) { FillUniform(t, bound, rng); }

void InitBatchNormAffine(Tensor& gamma, Tensor& beta) {
  Fill(gamma, 1.0f);
  Fill(beta, 0.0f);
}

}  // namespace sal360::nn

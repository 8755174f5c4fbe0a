#include "nn/math_mode.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace sal360::nn {

const char* PrecisionName(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kTf32: return "tf32";
    case Precision::kBf16: return "bf16";
  }
  return "?";
}

const char* GpuEngineName(GpuEngine e) {
  switch (e) {
    case GpuEngine::kNative: return "native";
    case GpuEngine::kCudnn: return "cudnn";
  }
  return "?";
}

absl::StatusOr<Precision> ParsePrecision(std::string_view name) {
  for (Precision p : {Precision::kFp32, Precision::kTf32, Precision::kBf16}) {
    if (name == PrecisionName(p)) return p;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown precision '", std::string(name), "' (want fp32, tf32 or bf16)"));
}

absl::StatusOr<GpuEngine> ParseGpuEngine(std::string_view name) {
  for (GpuEngine e : {GpuEngine::kNative, GpuEngine::kCudnn}) {
    if (name == GpuEngineName(e)) return e;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown GPU engine '", std::string(name), "' (want native or cudnn)"));
}

namespace {

// Keeps the top 1 + 8 + `keep` bits of x's encoding, rounding the dropped low bits.
float RoundMantissa(float x, int keep, bool ties_to_even) {
  if (!std::isfinite(x)) return x;  // NaN payloads and infinities pass unchanged
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  const int drop = 23 - keep;
  const uint32_t half = uint32_t{1} << (drop - 1);
  const uint32_t mask = (uint32_t{1} << drop) - 1;
  // Ties away from zero: add half (in magnitude: the sign bit is untouched). Ties to
  // even: add half - 1, plus 1 when the lowest kept bit is odd. A carry out of the
  // mantissa increments the exponent, which is the correct rounding (up to inf).
  const uint32_t add = ties_to_even ? (half - 1) + ((u >> drop) & 1u) : half;
  u = (u + add) & ~mask;
  float r;
  std::memcpy(&r, &u, sizeof r);
  return r;
}

}  // namespace

float RoundOperand(float x, Precision p) {
  switch (p) {
    case Precision::kFp32: return x;
    case Precision::kTf32: return RoundMantissa(x, 10, /*ties_to_even=*/false);
    case Precision::kBf16: return RoundMantissa(x, 7, /*ties_to_even=*/true);
  }
  return x;
}

double OperandUnitRoundoff(Precision p) {
  switch (p) {
    case Precision::kFp32: return std::ldexp(1.0, -24);
    case Precision::kTf32: return std::ldexp(1.0, -11);
    case Precision::kBf16: return std::ldexp(1.0, -8);
  }
  return 0;
}

}  // namespace sal360::nn

// nn/math_mode.h: the names of the CUDA settings, the operand rounding of TF32 and BF16
// (golden values from the formats' definitions: TF32 = FP32 with 10 explicit mantissa
// bits, rounded to nearest with ties away from zero as PTX cvt.rna.tf32.f32; BF16 = the
// top 16 bits of FP32, rounded to nearest even as cvt.rn.bf16.f32), and the context's
// refusal of settings a device cannot honour.
#include "nn/math_mode.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "nn/context.h"

namespace sal360::nn {
namespace {

float Bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
uint32_t BitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

TEST(MathMode, NamesRoundTripAndBadNamesAreRefused) {
  for (Precision p : {Precision::kFp32, Precision::kTf32, Precision::kBf16}) {
    ASSERT_TRUE(ParsePrecision(PrecisionName(p)).ok());
    EXPECT_EQ(*ParsePrecision(PrecisionName(p)), p);
  }
  for (GpuEngine e : {GpuEngine::kNative, GpuEngine::kCudnn}) {
    ASSERT_TRUE(ParseGpuEngine(GpuEngineName(e)).ok());
    EXPECT_EQ(*ParseGpuEngine(GpuEngineName(e)), e);
  }
  EXPECT_FALSE(ParsePrecision("fp16").ok());
  EXPECT_FALSE(ParsePrecision("").ok());
  EXPECT_FALSE(ParseGpuEngine("cublas").ok());
  EXPECT_NE(std::string(ParsePrecision("FP32").status().message()).find("fp32, tf32 or bf16"),
            std::string::npos);
}

TEST(MathMode, Tf32RoundsToNearestWithTiesAwayFromZero) {
  const float one = 1.0f;
  const float ulp = std::ldexp(1.0f, -10);  // TF32's spacing at 1
  EXPECT_EQ(RoundOperand(one, Precision::kTf32), one);
  EXPECT_EQ(RoundOperand(one + ulp, Precision::kTf32), one + ulp);             // representable
  EXPECT_EQ(RoundOperand(one + ulp / 4, Precision::kTf32), one);               // below half
  EXPECT_EQ(RoundOperand(one + ulp / 2, Precision::kTf32), one + ulp);         // tie: away
  EXPECT_EQ(RoundOperand(one + 3 * ulp / 2, Precision::kTf32), one + 2 * ulp); // tie: away
  EXPECT_EQ(RoundOperand(-(one + ulp / 2), Precision::kTf32), -(one + ulp));   // sign kept
  EXPECT_EQ(RoundOperand(one + 3 * ulp / 4, Precision::kTf32), one + ulp);     // above half
  // pi = 0x40490FDB: the dropped 13 bits 0x0FDB are below half (0x1000).
  EXPECT_EQ(BitsOf(RoundOperand(Bits(0x40490FDBu), Precision::kTf32)), 0x40490000u);
  // A mantissa of all ones carries into the exponent: 2 - 2^-23 -> 2.
  EXPECT_EQ(RoundOperand(Bits(0x3FFFFFFFu), Precision::kTf32), 2.0f);
}

TEST(MathMode, Bf16RoundsToNearestEven) {
  const float one = 1.0f;
  const float ulp = std::ldexp(1.0f, -7);  // BF16's spacing at 1
  EXPECT_EQ(RoundOperand(one + ulp / 2, Precision::kBf16), one);               // tie, even below
  EXPECT_EQ(RoundOperand(one + 3 * ulp / 2, Precision::kBf16), one + 2 * ulp); // tie, even above
  EXPECT_EQ(RoundOperand(one + ulp / 2 + std::ldexp(1.0f, -20), Precision::kBf16), one + ulp);
  EXPECT_EQ(BitsOf(RoundOperand(Bits(0x40490FDBu), Precision::kBf16)), 0x40490000u);  // 3.140625
  EXPECT_EQ(BitsOf(RoundOperand(Bits(0xC0490FDBu), Precision::kBf16)), 0xC0490000u);
  // FLT_MAX lies above the midpoint between BF16's largest finite and 2^128: inf.
  EXPECT_EQ(RoundOperand(FLT_MAX, Precision::kBf16), std::numeric_limits<float>::infinity());
  EXPECT_EQ(RoundOperand(-FLT_MAX, Precision::kBf16), -std::numeric_limits<float>::infinity());
}

TEST(MathMode, SpecialValuesPassAndFp32IsTheIdentity) {
  const float inf = std::numeric_limits<float>::infinity();
  for (Precision p : {Precision::kFp32, Precision::kTf32, Precision::kBf16}) {
    EXPECT_EQ(RoundOperand(inf, p), inf);
    EXPECT_EQ(RoundOperand(-inf, p), -inf);
    EXPECT_TRUE(std::isnan(RoundOperand(std::nanf(""), p)));
    EXPECT_EQ(BitsOf(RoundOperand(0.0f, p)), 0u);
    EXPECT_EQ(BitsOf(RoundOperand(-0.0f, p)), 0x80000000u);
  }
  EXPECT_EQ(BitsOf(RoundOperand(Bits(0x3F812345u), Precision::kFp32)), 0x3F812345u);
}

// For a million random floats over many binades: the result has the format's zero low
// bits, is one of the two neighbours of x in the format, and is within one unit roundoff.
TEST(MathMode, RoundingIsToANeighbourWithinTheUnitRoundoff) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> expo(-60, 60);
  for (Precision p : {Precision::kTf32, Precision::kBf16}) {
    const int drop = p == Precision::kTf32 ? 13 : 16;
    const uint32_t mask = (uint32_t{1} << drop) - 1;
    const double u = OperandUnitRoundoff(p);
    for (int i = 0; i < 1000000; ++i) {
      const float x = std::ldexp(mant(rng), expo(rng));
      const float r = RoundOperand(x, p);
      ASSERT_EQ(BitsOf(r) & mask, 0u) << x;
      const uint32_t down = BitsOf(x) & ~mask;
      ASSERT_TRUE(BitsOf(r) == down || BitsOf(r) == down + mask + 1) << x;
      ASSERT_LE(std::fabs(double(r) - double(x)), u * std::fabs(double(x))) << x;
    }
  }
  EXPECT_EQ(OperandUnitRoundoff(Precision::kFp32), std::ldexp(1.0, -24));
  EXPECT_EQ(OperandUnitRoundoff(Precision::kTf32), std::ldexp(1.0, -11));
  EXPECT_EQ(OperandUnitRoundoff(Precision::kBf16), std::ldexp(1.0, -8));
}

TEST(MathMode, TheCpuContextAcceptsOnlyNativeFp32) {
  Context& cpu = Context::Get(Device::kCpu);
  EXPECT_TRUE(cpu.SetMath(GpuMath{}).ok());
  const absl::Status tf32 = cpu.SetMath(GpuMath{GpuEngine::kNative, Precision::kTf32});
  EXPECT_FALSE(tf32.ok());
  EXPECT_NE(std::string(tf32.message()).find("CUDA settings"), std::string::npos) << tf32;
  EXPECT_FALSE(cpu.SetMath(GpuMath{GpuEngine::kCudnn, Precision::kFp32}).ok());
  EXPECT_EQ(cpu.math(), GpuMath{});  // unchanged by a refused setting
}

}  // namespace
}  // namespace sal360::nn

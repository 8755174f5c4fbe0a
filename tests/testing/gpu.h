// Helpers for CUDA-vs-CPU parity tests: skip cleanly, with the reason, when this
// binary has no CUDA or the machine has no usable device.
//
// With SAL360_REQUIRE_GPU=1 in the environment (the GPU kit sets it on GPU machines)
// such a skip is a failure instead: a machine that should run these tests must not pass
// them by skipping. Under --config=cuda_emu the emulated device is always present, so
// the tests run.
#ifndef SAL360_TESTS_TESTING_GPU_H_
#define SAL360_TESTS_TESTING_GPU_H_

#include <cstdlib>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "nn/context.h"
#include "nn/device.h"
#include "nn/math_mode.h"

namespace sal360::testing {

inline bool GpuRequired() {
  const char* v = std::getenv("SAL360_REQUIRE_GPU");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

// Sets the CUDA context's engine and precision for one test and restores native/fp32
// when it ends. `status` says whether the setting was accepted.
class ScopedGpuMath {
 public:
  explicit ScopedGpuMath(nn::GpuMath math)
      : status(nn::Context::Get(nn::Device::kCuda).SetMath(math)) {}
  ~ScopedGpuMath() { (void)nn::Context::Get(nn::Device::kCuda).SetMath(nn::GpuMath{}); }
  ScopedGpuMath(const ScopedGpuMath&) = delete;
  ScopedGpuMath& operator=(const ScopedGpuMath&) = delete;
  const absl::Status status;
};

// Whether the cudnn engine can be selected on this CUDA device; `why` if not.
inline bool CudnnEngineUsable(std::string* why) {
  ScopedGpuMath m(nn::GpuMath{nn::GpuEngine::kCudnn, nn::Precision::kFp32});
  if (!m.status.ok()) *why = std::string(m.status.message());
  return m.status.ok();
}

#if defined(SAL360_CUDA_EMU)
inline constexpr bool kCudaEmulated = true;
#else
inline constexpr bool kCudaEmulated = false;
#endif

}  // namespace sal360::testing

#define SAL_SKIP_WITHOUT_CUDA()                                                      \
  do {                                                                               \
    std::string sal_why;                                                             \
    if (::sal360::nn::CudaDeviceCount(&sal_why) == 0) {                              \
      if (::sal360::testing::GpuRequired()) {                                        \
        FAIL() << "SAL360_REQUIRE_GPU=1 but no usable CUDA device: " << sal_why;     \
      }                                                                              \
      GTEST_SKIP() << "no usable CUDA device: " << sal_why;                          \
    }                                                                                \
  } while (0)


// For the cudnn engine's parity tests: skips without a CUDA device (as above) and where
// the engine is unavailable, with the reason; with SAL360_REQUIRE_GPU=1 (the GPU kit, and
// --config=cuda_emu, whose emulated cuDNN provides the graph API) a failure instead.
#define SAL_SKIP_WITHOUT_CUDNN_ENGINE()                                                \
  do {                                                                                 \
    SAL_SKIP_WITHOUT_CUDA();                                                           \
    std::string sal_cudnn_why;                                                         \
    if (!::sal360::testing::CudnnEngineUsable(&sal_cudnn_why)) {                       \
      if (::sal360::testing::GpuRequired()) {                                          \
        FAIL() << "SAL360_REQUIRE_GPU=1 but the cudnn engine is unavailable: "         \
               << sal_cudnn_why;                                                       \
      }                                                                                \
      GTEST_SKIP() << "cudnn engine unavailable: " << sal_cudnn_why;                   \
    }                                                                                  \
  } while (0)

#endif  // SAL360_TESTS_TESTING_GPU_H_

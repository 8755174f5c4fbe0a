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
#include "nn/device.h"

namespace sal360::testing {

inline bool GpuRequired() {
  const char* v = std::getenv("SAL360_REQUIRE_GPU");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

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

#endif  // SAL360_TESTS_TESTING_GPU_H_

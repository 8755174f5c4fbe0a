// Helpers for CUDA-vs-CPU parity tests: skip cleanly, with the reason, when this
// binary has no CUDA or the machine has no usable device.
#ifndef SAL360_TESTS_TESTING_GPU_H_
#define SAL360_TESTS_TESTING_GPU_H_

#include <string>

#include "gtest/gtest.h"
#include "nn/device.h"

#define SAL_SKIP_WITHOUT_CUDA()                                                 \
  do {                                                                          \
    std::string sal_why;                                                        \
    if (::sal360::nn::CudaDeviceCount(&sal_why) == 0) {                         \
      GTEST_SKIP() << "no usable CUDA device: " << sal_why;                     \
    }                                                                           \
  } while (0)

#endif  // SAL360_TESTS_TESTING_GPU_H_

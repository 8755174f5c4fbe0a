// The one way an op chooses its device. In an op's .cc, before the CPU loop:
//
//   SAL_ON_CUDA(y.device(), {
//     return cuda::ReluForward(x.data(), y.data(), n, CudaStream());
//   });
//   for (...) ...  // the CPU loop
//
// With CUDA compiled in (--config=cuda, --config=cuda_emu) the block runs when the device
// is CUDA and must return from the op (falling off its end aborts, naming the op).
// Without CUDA the block is not compiled at all (the launchers are not declared), and a
// CUDA device aborts naming the op: no CUDA tensor can exist in such a build (Buffer
// refuses to allocate one), so reaching it is a bug, never a silent CPU loop over
// device pointers.
#ifndef SAL360_NN_OPS_DISPATCH_H_
#define SAL360_NN_OPS_DISPATCH_H_

#include <cstdio>
#include <cstdlib>

#include "nn/context.h"
#include "nn/device.h"

namespace sal360::nn::internal {

[[noreturn]] inline void CudaDispatchFailed(const char* op, const char* why) {
  std::fprintf(stderr, "sal360: %s on a CUDA tensor: %s\n", op, why);
  std::abort();
}

}  // namespace sal360::nn::internal

#if defined(SAL360_WITH_CUDA)

namespace sal360::nn {
// The CUDA context's stream, for launchers.
inline void* CudaStream() { return Context::Get(Device::kCuda).stream(); }
}  // namespace sal360::nn

#define SAL_ON_CUDA(device, ...)                                                        \
  do {                                                                                  \
    if ((device) == ::sal360::nn::Device::kCuda) {                                      \
      __VA_ARGS__                                                                       \
      ::sal360::nn::internal::CudaDispatchFailed(__func__, "its CUDA path did not return"); \
    }                                                                                   \
  } while (0)

#else

#define SAL_ON_CUDA(device, ...)                                                      \
  do {                                                                                \
    if ((device) == ::sal360::nn::Device::kCuda) {                                    \
      ::sal360::nn::internal::CudaDispatchFailed(__func__, "this build has no CUDA"); \
    }                                                                                 \
  } while (0)

#endif

#endif  // SAL360_NN_OPS_DISPATCH_H_

// The one way kernels are launched in sal360:
//
//   SAL_LAUNCH(MyKernel, grid, block, shared_bytes, stream)(arg0, arg1, ...);
//   SAL_CUDA_CHECK_LAUNCH();
//
// Under nvcc it is the triple-chevron launch, MyKernel<<<grid, block, shared_bytes,
// stream>>>(...). Under --config=cuda_emu (the host compiler, nn/cuda/emu/) it runs the
// grid on the emulator's block scheduler. The kernel may be a template-id whose
// remaining arguments are deduced (SegmentKernel<K>); a template-id with a comma needs
// an alias first, as any macro argument does.
#ifndef SAL360_NN_CUDA_LAUNCH_H_
#define SAL360_NN_CUDA_LAUNCH_H_

#if defined(SAL360_CUDA_EMU)
#include "nn/cuda/emu/launch.h"
#define SAL_LAUNCH(kernel, grid, block, shared_bytes, stream)                            \
  ::sal360::emu::Launcher(#kernel, (grid), (block), (shared_bytes), (stream))            \
      .Bind([](const auto&... sal_kernel_args) { kernel(sal_kernel_args...); })
#else
#define SAL_LAUNCH(kernel, grid, block, shared_bytes, stream) \
  kernel<<<(grid), (block), (shared_bytes), (stream)>>>
#endif

#endif  // SAL360_NN_CUDA_LAUNCH_H_

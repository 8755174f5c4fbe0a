// The CUDA C++ kernel language, for the host compiler (--config=cuda_emu).
//
// Under emulation every .cu file is compiled by g++ with this header force-included
// (as nvcc force-includes cuda_runtime.h). It gives the execution-space qualifiers,
// the built-in index variables and __syncthreads() their emulated meaning:
//
//   __global__ __device__ __host__    nothing: kernels are plain functions
//   __shared__                        `static`: one object per kernel (per template
//                                     instantiation), shared by every thread of the
//                                     block that runs it (blocks run one at a time).
//                                     Like uninitialised device memory it holds what
//                                     the previous block wrote (zeros at first), so a
//                                     read racing its write sees another block's data.
//   threadIdx blockIdx blockDim gridDim
//                                     globals that the scheduler sets before it runs or
//                                     resumes a thread (nn/cuda/emu/scheduler.cc)
//   __syncthreads()                   suspends the calling thread's fiber until every
//                                     thread of the block has reached a barrier
//
// Nothing here is visible to a kernel as "emulated": the kernel bodies are the same
// source nvcc compiles. See nn/cuda/emu/README.md.
#ifndef SAL360_NN_CUDA_EMU_DEVICE_H_
#define SAL360_NN_CUDA_EMU_DEVICE_H_

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct uint3 {
  unsigned int x, y, z;
};

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
      : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}  // NOLINT: implicit, as in CUDA
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

// Set by the scheduler; read-only for kernels (as in CUDA).
extern uint3 threadIdx;
extern uint3 blockIdx;
extern dim3 blockDim;
extern dim3 gridDim;
constexpr int warpSize = 32;

// Defined out of line (scheduler.cc) so that the compiler reloads the index variables
// after every barrier instead of keeping them in registers across a fiber switch.
void __syncthreads();

#endif  // SAL360_NN_CUDA_EMU_DEVICE_H_

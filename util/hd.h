// SAL_HD marks a function whose body is shared by the CPU loop and the CUDA kernel.
// Under nvcc it becomes __host__ __device__; under gcc a plain inline function, so
// the CPU tests exercise exactly the arithmetic the GPU runs.
#ifndef SAL360_UTIL_HD_H_
#define SAL360_UTIL_HD_H_

#if defined(__CUDACC__)
#define SAL_HD __host__ __device__ inline
#else
#define SAL_HD inline
#endif

#endif  // SAL360_UTIL_HD_H_

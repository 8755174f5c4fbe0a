// The CUDA emulation itself (nn/cuda/emu/): the kernel language, the block scheduler,
// the runtime's checks and cuBLAS's column-major semantics. These kernels are written
// for the test, in CUDA C++, and compiled against the emulation (the BUILD target
// force-includes nn/cuda/emu/device.h, as the cuda_emu build does for every .cu), so
// this test runs in every configuration.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nn/cuda/emu/launch.h"
#include "nn/cuda/launch.h"
#include "nn/math_mode.h"

namespace {

constexpr int kBlock = 256;

// ---- Kernels ----

__global__ void ReverseThroughShared(const int* in, int* out) {
  __shared__ int sh[kBlock];
  const int t = threadIdx.x, base = blockIdx.x * kBlock;
  sh[t] = in[base + t];
  __syncthreads();
  out[base + t] = sh[kBlock - 1 - t];
}

// Each thread reads its neighbour's slot: correct only with the barrier.
template <bool kWithBarrier>
__global__ void NeighbourRead(int salt, int* out) {
  __shared__ int sh[kBlock];
  const int t = threadIdx.x;
  sh[t] = t * 7 + salt;
  if (kWithBarrier) __syncthreads();
  out[t] = sh[(t + 1) % kBlock];
}

// Tree sum of 256 values; the inner barrier is what the race test removes.
template <bool kInnerBarrier>
__global__ void TreeSum(const int* in, int* out) {
  __shared__ int sh[kBlock];
  const int t = threadIdx.x;
  sh[t] = in[blockIdx.x * kBlock + t];
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] += sh[t + s];
    if (kInnerBarrier) __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = sh[0];
}

struct Seen {
  int block[3], thread[3], bdim[3], gdim[3];
};
__global__ void RecordIndices(Seen* seen) {
  const int bl = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const int tl = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  Seen& s = seen[bl * blockDim.x * blockDim.y * blockDim.z + tl];
  s = Seen{{int(blockIdx.x), int(blockIdx.y), int(blockIdx.z)},
           {int(threadIdx.x), int(threadIdx.y), int(threadIdx.z)},
           {int(blockDim.x), int(blockDim.y), int(blockDim.z)},
           {int(gridDim.x), int(gridDim.y), int(gridDim.z)}};
}

// The order in which threads (or blocks) start: a ticket per thread.
__global__ void Tickets(int* counter, int* ticket) {
  ticket[blockIdx.x * blockDim.x + threadIdx.x] = (*counter)++;
}

__global__ void EarlyExitBeforeBarrier(int* out) {
  if (threadIdx.x < 10) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void WriteOne(int* out) { out[blockIdx.x * blockDim.x + threadIdx.x] = 1; }

// ---- Helpers ----

template <class T>
T* DeviceCopy(const std::vector<T>& v) {
  T* d = nullptr;
  EXPECT_EQ(cudaMalloc(&d, v.size() * sizeof(T)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  return d;
}
template <class T>
std::vector<T> HostCopy(const T* d, size_t n) {
  std::vector<T> v(n);
  EXPECT_EQ(cudaMemcpy(v.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  return v;
}

class Emulation : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(cudaDeviceReset(), cudaSuccess); }
  void TearDown() override { cudaDeviceReset(); }
};

// ---- Kernel language and scheduling ----

TEST_F(Emulation, SharedMemoryIsSharedAcrossTheBlockAndBarriersSeparatePhases) {
  const int blocks = 5;
  std::vector<int> in(blocks * kBlock);
  std::iota(in.begin(), in.end(), 1000);
  int* din = DeviceCopy(in);
  int* dout = DeviceCopy(std::vector<int>(in.size(), -1));
  for (int launch = 0; launch < 3; ++launch) {  // every launch draws new orders
    SAL_LAUNCH(ReverseThroughShared, blocks, kBlock, 0, nullptr)(din, dout);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    const std::vector<int> out = HostCopy(dout, in.size());
    for (int b = 0; b < blocks; ++b) {
      for (int t = 0; t < kBlock; ++t) {
        ASSERT_EQ(out[b * kBlock + t], in[b * kBlock + kBlock - 1 - t]) << b << " " << t;
      }
    }
  }
}

TEST_F(Emulation, EveryThreadOfAThreeDimensionalGridRunsOnceWithItsIndices) {
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  const int n = 12 * 24;
  Seen* d = nullptr;
  ASSERT_EQ(cudaMalloc(&d, n * sizeof(Seen)), cudaSuccess);
  ASSERT_EQ(cudaMemset(d, 0xff, n * sizeof(Seen)), cudaSuccess);
  SAL_LAUNCH(RecordIndices, grid, block, 0, nullptr)(d);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::vector<Seen> seen = HostCopy(d, n);
  int i = 0;
  for (int bz = 0; bz < 2; ++bz)
    for (int by = 0; by < 2; ++by)
      for (int bx = 0; bx < 3; ++bx)
        for (int tz = 0; tz < 2; ++tz)
          for (int ty = 0; ty < 3; ++ty)
            for (int tx = 0; tx < 4; ++tx, ++i) {
              const Seen& s = seen[i];
              ASSERT_EQ(s.block[0], bx);
              ASSERT_EQ(s.block[1], by);
              ASSERT_EQ(s.block[2], bz);
              ASSERT_EQ(s.thread[0], tx);
              ASSERT_EQ(s.thread[1], ty);
              ASSERT_EQ(s.thread[2], tz);
              ASSERT_EQ(s.bdim[0] * 100 + s.bdim[1] * 10 + s.bdim[2], 432);
              ASSERT_EQ(s.gdim[0] * 100 + s.gdim[1] * 10 + s.gdim[2], 322);
            }
}

TEST_F(Emulation, AMissingBarrierGivesWrongResultsThatDependOnTheSeed) {
  // Shared memory keeps what the previous block wrote, as uninitialised device memory
  // does, so every launch here writes values no earlier launch wrote (a new salt): a
  // read that comes before its write then sees a wrong value.
  int* dout = DeviceCopy(std::vector<int>(kBlock, 0));
  int salt = 100;
  // Which threads read their neighbour's slot before it was written (true = wrong).
  auto run = [&](bool barrier, unsigned long long seed) {
    sal360::emu::SetSchedulerSeed(seed);
    salt += 1000;
    if (barrier) {
      SAL_LAUNCH(NeighbourRead<true>, 1, kBlock, 0, nullptr)(salt, dout);
    } else {
      SAL_LAUNCH(NeighbourRead<false>, 1, kBlock, 0, nullptr)(salt, dout);
    }
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
    const std::vector<int> out = HostCopy(dout, kBlock);
    std::vector<bool> wrong(kBlock);
    for (int t = 0; t < kBlock; ++t) wrong[t] = out[t] != ((t + 1) % kBlock) * 7 + salt;
    return wrong;
  };
  const std::vector<bool> none(kBlock, false);
  std::set<std::vector<bool>> patterns;
  for (unsigned long long seed = 1; seed <= 4; ++seed) {
    EXPECT_EQ(run(true, seed), none) << "seed " << seed;
    const std::vector<bool> wrong = run(false, seed);
    EXPECT_NE(wrong, none) << "seed " << seed;
    patterns.insert(wrong);
  }
  EXPECT_GT(patterns.size(), 1u);  // different seeds, different wrong threads
  EXPECT_EQ(run(false, 3), run(false, 3)) << "one seed replays exactly";
}

TEST_F(Emulation, AReductionWithoutItsInnerBarrierIsWrong) {
  const int blocks = 3;
  std::vector<int> in(blocks * kBlock);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int>(i * 37 % 101);
  int* din = DeviceCopy(in);
  int* dout = DeviceCopy(std::vector<int>(blocks, 0));
  std::vector<int> sums(blocks, 0);
  for (int b = 0; b < blocks; ++b) {
    for (int t = 0; t < kBlock; ++t) sums[b] += in[b * kBlock + t];
  }
  SAL_LAUNCH(TreeSum<true>, blocks, kBlock, 0, nullptr)(din, dout);
  EXPECT_EQ(HostCopy(dout, blocks), sums);
  SAL_LAUNCH(TreeSum<false>, blocks, kBlock, 0, nullptr)(din, dout);
  EXPECT_NE(HostCopy(dout, blocks), sums);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST_F(Emulation, ThreadAndBlockOrdersChangeFromLaunchToLaunchAndReplayWithTheSeed) {
  int* counter = DeviceCopy(std::vector<int>{0});
  int* ticket = DeviceCopy(std::vector<int>(4 * 64, 0));
  auto order = [&] {
    EXPECT_EQ(cudaMemset(counter, 0, sizeof(int)), cudaSuccess);
    SAL_LAUNCH(Tickets, 4, 64, 0, nullptr)(counter, ticket);
    return HostCopy(ticket, 4 * 64);
  };
  sal360::emu::SetSchedulerSeed(11);
  const std::vector<int> a1 = order(), a2 = order();
  sal360::emu::SetSchedulerSeed(11);
  const std::vector<int> b1 = order(), b2 = order();
  sal360::emu::SetSchedulerSeed(12);
  const std::vector<int> c1 = order();
  EXPECT_NE(a1, a2);
  EXPECT_EQ(a1, b1);
  EXPECT_EQ(a2, b2);
  EXPECT_NE(a1, c1);
  std::vector<int> sorted = a1;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 4 * 64; ++i) ASSERT_EQ(sorted[i], i);  // each thread exactly once
  // Not the linear order, and the blocks not in index order either.
  std::vector<int> linear(4 * 64);
  std::iota(linear.begin(), linear.end(), 0);
  EXPECT_NE(a1, linear);
}

TEST_F(Emulation, KernelsWithoutBarriersRunABlockOnOneFiber) {
  int* d = DeviceCopy(std::vector<int>(64 * 128, 0));
  const auto before = sal360::emu::GetSchedulerStats();
  SAL_LAUNCH(WriteOne, 64, 128, 0, nullptr)(d);
  const auto after = sal360::emu::GetSchedulerStats();
  EXPECT_EQ(after.launches - before.launches, 1);
  EXPECT_EQ(after.fiber_switches - before.fiber_switches, 64);  // one resume per block
  const std::vector<int> out = HostCopy(d, 64 * 128);
  EXPECT_EQ(std::count(out.begin(), out.end(), 1), 64 * 128);
}

TEST_F(Emulation, ABarrierThatSomeThreadsNeverReachIsALaunchFailure) {
  int* d = DeviceCopy(std::vector<int>(kBlock, 0));
  ::testing::internal::CaptureStderr();
  SAL_LAUNCH(EarlyExitBeforeBarrier, 2, kBlock, 0, nullptr)(d);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("EarlyExitBeforeBarrier"), std::string::npos) << err;
  EXPECT_NE(err.find("reached by 246 of 256 threads; 10 left the kernel"), std::string::npos)
      << err;
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  // Sticky, as a device fault is: every later call fails until the device is reset.
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, 16), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
  ASSERT_EQ(cudaDeviceReset(), cudaSuccess);
  EXPECT_EQ(cudaMalloc(&p, 16), cudaSuccess);
  // The abandoned fibers were recycled: a correct kernel with barriers runs again.
  std::vector<int> in(kBlock, 1);
  int* din = DeviceCopy(in);
  int* dout = DeviceCopy(std::vector<int>(1, 0));
  SAL_LAUNCH(TreeSum<true>, 1, kBlock, 0, nullptr)(din, dout);
  EXPECT_EQ(HostCopy(dout, 1)[0], kBlock);
}

TEST_F(Emulation, InvalidLaunchConfigurationsAreReportedAndNotSticky) {
  int* d = DeviceCopy(std::vector<int>(2048, 0));
  SAL_LAUNCH(WriteOne, 1, 1025, 0, nullptr)(d);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  SAL_LAUNCH(WriteOne, 0, 32, 0, nullptr)(d);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  SAL_LAUNCH(WriteOne, dim3(1, 65536), 1, 0, nullptr)(d);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  SAL_LAUNCH(WriteOne, 1, dim3(1, 1, 65), 0, nullptr)(d);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  int not_a_stream = 0;
  SAL_LAUNCH(WriteOne, 1, 32, 0, reinterpret_cast<cudaStream_t>(&not_a_stream))(d);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidResourceHandle);
  ::testing::internal::CaptureStderr();
  SAL_LAUNCH(WriteOne, 1, 32, 128, nullptr)(d);
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("dynamic shared memory"),
            std::string::npos);
  EXPECT_EQ(cudaGetLastError(), cudaErrorNotSupported);
  const std::vector<int> out = HostCopy(d, 2048);
  EXPECT_EQ(std::count(out.begin(), out.end(), 1), 0);  // none of them ran
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  SAL_LAUNCH(WriteOne, 2, 1024, 0, s)(d);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s), cudaErrorInvalidResourceHandle);
  const std::vector<int> out2 = HostCopy(d, 2048);
  EXPECT_EQ(std::count(out2.begin(), out2.end(), 1), 2048);
}

TEST_F(Emulation, SyncthreadsOutsideAKernelAborts) {
  EXPECT_DEATH(__syncthreads(), "outside a kernel");
}

// ---- Runtime ----

TEST_F(Emulation, CopiesMustNameTheirSidesTruthfully) {
  std::vector<float> host(64, 1.0f);
  float* dev = nullptr;
  ASSERT_EQ(cudaMalloc(&dev, 64 * sizeof(float)), cudaSuccess);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(dev) % 256, 0u);
  EXPECT_EQ(cudaMemcpy(dev, host.data(), 256, cudaMemcpyHostToDevice), cudaSuccess);
  // Host pointer where the device side should be, and the reverse.
  EXPECT_EQ(cudaMemcpy(host.data(), dev, 256, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(dev, host.data(), 256, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  // Past the end of the allocation.
  EXPECT_EQ(cudaMemcpy(dev + 1, host.data(), 256, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemset(dev, 0, 257), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpyAsync(host.data(), dev, 256, cudaMemcpyDeviceToHost, nullptr), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(dev, dev, 256, cudaMemcpyDeviceToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(host.data(), host.data() + 32, 64, cudaMemcpyDefault), cudaSuccess);
  EXPECT_EQ(cudaFree(host.data()), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFree(dev), cudaSuccess);
  EXPECT_EQ(cudaFree(dev), cudaErrorInvalidValue);  // double free
  EXPECT_EQ(cudaFree(nullptr), cudaSuccess);
}

TEST_F(Emulation, DeviceMemoryIsLimitedAndAccounted) {
  size_t free0 = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free0, &total), cudaSuccess);
  EXPECT_EQ(free0, total);
  void* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 1 << 20), cudaSuccess);
  size_t free1 = 0;
  ASSERT_EQ(cudaMemGetInfo(&free1, &total), cudaSuccess);
  EXPECT_EQ(free0 - free1, size_t{1} << 20);
  void* q = nullptr;
  EXPECT_EQ(cudaMalloc(&q, total), cudaErrorMemoryAllocation);
  EXPECT_EQ(q, nullptr);
  cudaDeviceProp prop;
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  EXPECT_NE(std::string(prop.name).find("emulation"), std::string::npos);
  EXPECT_EQ(prop.totalGlobalMem, total);
  EXPECT_EQ(cudaGetDeviceProperties(&prop, 1), cudaErrorInvalidDevice);
  int count = 0;
  EXPECT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  EXPECT_EQ(count, 1);
  EXPECT_STREQ(cudaGetErrorName(cudaErrorMemoryAllocation), "cudaErrorMemoryAllocation");
}

TEST_F(Emulation, CudnnHandlesAndVersion) {
  cudnnHandle_t h = nullptr;
  ASSERT_EQ(cudnnCreate(&h), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnSetStream(h, nullptr), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnGetVersion(), 90000u);
  EXPECT_NE(std::string(cudnnGetErrorString(CUDNN_STATUS_NOT_SUPPORTED)).find("emulated"),
            std::string::npos);
  EXPECT_EQ(cudnnDestroy(h), CUDNN_STATUS_SUCCESS);
}

// The emulated backend API: a 3x3 convolution (padding 1, stride 2) through descriptors,
// heuristics, a plan and a variant pack, against a direct loop; and cuDNN's refusals.
namespace graph {
cudnnBackendDescriptor_t Make(cudnnBackendDescriptorType_t t) {
  cudnnBackendDescriptor_t d = nullptr;
  EXPECT_EQ(cudnnBackendCreateDescriptor(t, &d), CUDNN_STATUS_SUCCESS);
  return d;
}
cudnnBackendDescriptor_t Tensor(int64_t uid, std::vector<int64_t> dims, bool finalize = true) {
  cudnnBackendDescriptor_t t = Make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  std::vector<int64_t> strides(4);  // NCHW packed
  strides[3] = 1;
  for (int i = 2; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
  const cudnnDataType_t f = CUDNN_DATA_FLOAT;
  EXPECT_EQ(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data()), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data()), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid), CUDNN_STATUS_SUCCESS);
  if (finalize) EXPECT_EQ(cudnnBackendFinalize(t), CUDNN_STATUS_SUCCESS);
  return t;
}
}  // namespace graph

TEST_F(Emulation, CudnnGraphConvolutionMatchesADirectLoop) {
  using namespace graph;
  cudnnHandle_t h = nullptr;
  ASSERT_EQ(cudnnCreate(&h), CUDNN_STATUS_SUCCESS);
  const int64_t N = 2, C = 3, H = 7, W = 6, K = 4, P = 4, Q = 3;  // (7 + 2 - 3) / 2 + 1 = 4
  cudnnBackendDescriptor_t x = Tensor(1, {N, C, H, W}), w = Tensor(2, {K, C, 3, 3}),
                           y = Tensor(3, {N, K, P, Q}), y_bad = Tensor(4, {N, K, P + 1, Q});
  cudnnBackendDescriptor_t conv = Make(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const int64_t two = 2, ones[2] = {1, 1}, strides[2] = {2, 2};
  const cudnnDataType_t f = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  EXPECT_EQ(cudnnBackendFinalize(conv), CUDNN_STATUS_BAD_PARAM);  // nothing set yet
  cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &two);
  cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f);
  cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
  cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, ones);
  cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, strides);
  cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, ones);
  cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, ones);
  ASSERT_EQ(cudnnBackendFinalize(conv), CUDNN_STATUS_SUCCESS);
  const auto make_op = [&](cudnnBackendDescriptor_t out) {
    cudnnBackendDescriptor_t op = Make(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
    const float alpha = 1, beta = 0;
    cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha);
    cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta);
    cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv);
    cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w);
    cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &out);
    return op;
  };
  cudnnBackendDescriptor_t bad = make_op(y_bad);
  EXPECT_EQ(cudnnBackendFinalize(bad), CUDNN_STATUS_BAD_PARAM);  // the output shape is wrong
  cudnnBackendDescriptor_t op = make_op(y);
  ASSERT_EQ(cudnnBackendFinalize(op), CUDNN_STATUS_SUCCESS);
  const float two_f = 2;
  EXPECT_EQ(cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &two_f),
            CUDNN_STATUS_NOT_SUPPORTED);  // finalised descriptors are frozen
  cudnnBackendDescriptor_t g = Make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  cudnnBackendSetAttribute(g, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
  cudnnBackendSetAttribute(g, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op);
  ASSERT_EQ(cudnnBackendFinalize(g), CUDNN_STATUS_SUCCESS);
  cudnnBackendDescriptor_t heur = Make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  const cudnnBackendHeurMode_t hm = CUDNN_HEUR_MODE_A;
  cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g);
  cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &hm);
  ASSERT_EQ(cudnnBackendFinalize(heur), CUDNN_STATUS_SUCCESS);
  int64_t n = 0;
  ASSERT_EQ(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &n, nullptr),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(n, 1);
  cudnnBackendDescriptor_t cfg = Make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
  ASSERT_EQ(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &cfg),
            CUDNN_STATUS_SUCCESS);
  cudnnBackendDescriptor_t plan = Make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
  cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
  cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg);
  ASSERT_EQ(cudnnBackendFinalize(plan), CUDNN_STATUS_SUCCESS);
  int64_t ws_bytes = 0;
  ASSERT_EQ(cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, &ws_bytes),
            CUDNN_STATUS_SUCCESS);

  std::vector<float> xv(N * C * H * W), wv(K * C * 9);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = float(int(i * 7 % 13) - 6);
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = float(int(i * 5 % 11) - 5);
  float* dx = DeviceCopy(xv);
  float* dw = DeviceCopy(wv);
  float* dy = DeviceCopy(std::vector<float>(N * K * P * Q, 0.0f));
  float* ws = DeviceCopy(std::vector<float>(static_cast<size_t>(ws_bytes) / 4 + 1, 0.0f));
  const auto execute = [&](void* y_ptr, void* ws_ptr) {
    cudnnBackendDescriptor_t pack = Make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    const int64_t uids[3] = {1, 2, 3};
    void* ptrs[3] = {dx, dw, y_ptr};
    cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids);
    cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, ptrs);
    cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws_ptr);
    EXPECT_EQ(cudnnBackendFinalize(pack), CUDNN_STATUS_SUCCESS);
    const cudnnStatus_t st = cudnnBackendExecute(h, plan, pack);
    cudnnBackendDestroyDescriptor(pack);
    return st;
  };
  std::vector<float> host_y(N * K * P * Q);
  EXPECT_EQ(execute(host_y.data(), ws), CUDNN_STATUS_EXECUTION_FAILED);  // y not device memory
  EXPECT_EQ(execute(dy, host_y.data()), CUDNN_STATUS_EXECUTION_FAILED);  // nor the workspace
  ASSERT_EQ(execute(dy, ws), CUDNN_STATUS_SUCCESS);
  const std::vector<float> got = HostCopy(dy, host_y.size());
  for (int64_t a = 0; a < N; ++a)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          double s = 0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t r = 0; r < 3; ++r)
              for (int64_t t = 0; t < 3; ++t) {
                const int64_t hh = 2 * p + r - 1, ww = 2 * q + t - 1;
                if (hh < 0 || hh >= H || ww < 0 || ww >= W) continue;
                s += xv[((a * C + c) * H + hh) * W + ww] * wv[((k * C + c) * 3 + r) * 3 + t];
              }
          ASSERT_EQ(got[((a * K + k) * P + p) * Q + q], float(s)) << a << k << p << q;
        }
  for (cudnnBackendDescriptor_t d : {x, w, y, y_bad, conv, bad, op, g, heur, cfg, plan}) {
    EXPECT_EQ(cudnnBackendDestroyDescriptor(d), CUDNN_STATUS_SUCCESS);
  }
  EXPECT_EQ(cudnnBackendDestroyDescriptor(x), CUDNN_STATUS_BAD_PARAM);  // already destroyed
  EXPECT_EQ(cudnnDestroy(h), CUDNN_STATUS_SUCCESS);
}

// ---- cuBLAS ----

// C (m x n, ldc) = alpha·op(A)·op(B) + beta·C, column-major, in double.
void ReferenceGemm(bool ta, bool tb, int m, int n, int k, float alpha, const std::vector<float>& a,
                   int lda, const std::vector<float>& b, int ldb, float beta,
                   std::vector<float>& c, int ldc) {
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < m; ++i) {
      double s = 0;
      for (int p = 0; p < k; ++p) {
        const double av = ta ? a[p + size_t(i) * lda] : a[i + size_t(p) * lda];
        const double bv = tb ? b[j + size_t(p) * ldb] : b[p + size_t(j) * ldb];
        s += av * bv;
      }
      c[i + size_t(j) * ldc] = static_cast<float>(alpha * s + beta * c[i + size_t(j) * ldc]);
    }
  }
}

TEST_F(Emulation, SgemmIsColumnMajorWithLeadingDimensions) {
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  const int m = 5, n = 7, k = 3;
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      const int lda = (ta ? k : m) + 2, ldb = (tb ? n : k) + 1, ldc = m + 3;
      std::vector<float> a(size_t(lda) * (ta ? m : k)), b(size_t(ldb) * (tb ? k : n)),
          c(size_t(ldc) * n);
      for (size_t i = 0; i < a.size(); ++i) a[i] = float(int(i * 7 % 11) - 5);
      for (size_t i = 0; i < b.size(); ++i) b[i] = float(int(i * 5 % 13) - 6);
      for (size_t i = 0; i < c.size(); ++i) c[i] = float(int(i % 3));
      std::vector<float> expected = c;
      const float alpha = 0.5f, beta = 2.0f;
      ReferenceGemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, expected, ldc);
      float* da = DeviceCopy(a);
      float* db = DeviceCopy(b);
      float* dc = DeviceCopy(c);
      ASSERT_EQ(cublasSgemm(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m,
                            n, k, &alpha, da, lda, db, ldb, &beta, dc, ldc),
                CUBLAS_STATUS_SUCCESS);
      EXPECT_EQ(HostCopy(dc, c.size()), expected) << "ta " << ta << " tb " << tb;
    }
  }
  EXPECT_EQ(cublasDestroy(h), CUBLAS_STATUS_SUCCESS);
}

TEST_F(Emulation, SgemmChecksItsArgumentsAsCublasDoes) {
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  float* a = DeviceCopy(std::vector<float>(64, 1.0f));
  float* b = DeviceCopy(std::vector<float>(64, 1.0f));
  float* c = DeviceCopy(std::vector<float>(64, 0.0f));
  const float one = 1, zero = 0;
  const auto N = CUBLAS_OP_N, T = CUBLAS_OP_T;
  EXPECT_EQ(cublasSgemm(h, N, N, 4, 4, 4, &one, a, 4, b, 4, &zero, c, 4), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(HostCopy(c, 16), std::vector<float>(16, 4.0f));
  // lda below m (op N) / below k (op T); ldb below k / n; ldc below m.
  EXPECT_EQ(cublasSgemm(h, N, N, 4, 4, 4, &one, a, 3, b, 4, &zero, c, 4), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(h, T, N, 4, 4, 2, &one, a, 1, b, 4, &zero, c, 4), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(h, N, N, 4, 4, 4, &one, a, 4, b, 3, &zero, c, 4), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(h, N, T, 4, 5, 4, &one, a, 4, b, 4, &zero, c, 4), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(h, N, N, 4, 4, 4, &one, a, 4, b, 4, &zero, c, 3), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(h, N, N, -1, 4, 4, &one, a, 4, b, 4, &zero, c, 4), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(h, static_cast<cublasOperation_t>(7), N, 4, 4, 4, &one, a, 4, b, 4, &zero,
                        c, 4),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(nullptr, N, N, 4, 4, 4, &one, a, 4, b, 4, &zero, c, 4),
            CUBLAS_STATUS_NOT_INITIALIZED);
  // A host operand, and one that runs past its allocation: a real device faults.
  std::vector<float> host(64, 1.0f);
  EXPECT_EQ(cublasSgemm(h, N, N, 4, 4, 4, &one, host.data(), 4, b, 4, &zero, c, 4),
            CUBLAS_STATUS_EXECUTION_FAILED);
  EXPECT_EQ(cublasSgemm(h, N, N, 8, 8, 8, &one, a, 8, b, 16, &zero, c, 8),
            CUBLAS_STATUS_EXECUTION_FAILED);
  int not_a_stream = 0;
  EXPECT_EQ(cublasSetStream(h, reinterpret_cast<cudaStream_t>(&not_a_stream)),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasDestroy(h), CUBLAS_STATUS_SUCCESS);
}

// cublasGemmEx (issue #17): the tensor-core compute types multiply operands rounded as
// the hardware reads them (nn::RoundOperand), accumulating in FP32. The data are chosen
// so that rounding matters: entries 1 + j·2^-14 lie between TF32's (2^-10 apart at 1)
// and BF16's (2^-7) grid points, so each compute type gives a different, predictable C.
TEST_F(Emulation, GemmExRoundsTheOperandsAsItsComputeTypeSays) {
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  const int m = 6, n = 5, k = 9;
  for (const bool ta : {false, true}) {
    const int lda = (ta ? k : m) + 1, ldb = k + 2, ldc = m;
    std::vector<float> a(size_t(lda) * (ta ? m : k)), b(size_t(ldb) * n), c(size_t(ldc) * n, 0.5f);
    for (size_t i = 0; i < a.size(); ++i) a[i] = 1.0f + std::ldexp(float(i * 37 % 23), -14);
    for (size_t i = 0; i < b.size(); ++i) b[i] = -1.0f - std::ldexp(float(i * 11 % 29), -14);
    float* da = DeviceCopy(a);
    float* db = DeviceCopy(b);
    const float alpha = 1.0f, beta = 1.0f;
    std::vector<std::vector<float>> results;
    for (const auto& [compute, precision] :
         std::vector<std::pair<cublasComputeType_t, sal360::nn::Precision>>{
             {CUBLAS_COMPUTE_32F, sal360::nn::Precision::kFp32},
             {CUBLAS_COMPUTE_32F_FAST_TF32, sal360::nn::Precision::kTf32},
             {CUBLAS_COMPUTE_32F_FAST_16BF, sal360::nn::Precision::kBf16}}) {
      std::vector<float> ra = a, rb = b, expected = c;
      for (float& v : ra) v = sal360::nn::RoundOperand(v, precision);
      for (float& v : rb) v = sal360::nn::RoundOperand(v, precision);
      ReferenceGemm(ta, false, m, n, k, alpha, ra, lda, rb, ldb, beta, expected, ldc);
      float* dc = DeviceCopy(c);
      ASSERT_EQ(cublasGemmEx(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da,
                             CUDA_R_32F, lda, db, CUDA_R_32F, ldb, &beta, dc, CUDA_R_32F, ldc,
                             compute, CUBLAS_GEMM_DEFAULT),
                CUBLAS_STATUS_SUCCESS);
      const std::vector<float> got = HostCopy(dc, c.size());
      for (size_t i = 0; i < got.size(); ++i) {
        // FP32 accumulation of 9 products of magnitude ~1 against a double reference.
        ASSERT_NEAR(got[i], expected[i], 1e-5f) << "compute " << compute << " ta " << ta << " i " << i;
      }
      results.push_back(got);
    }
    // COMPUTE_32F is cublasSgemm's product, bit for bit; the rounded ones differ from it
    // by far more than FP32 rounding (the operands moved by up to 2^-11 and 2^-8).
    float* dc = DeviceCopy(c);
    ASSERT_EQ(cublasSgemm(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da, lda,
                          db, ldb, &beta, dc, ldc),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(HostCopy(dc, c.size()), results[0]);
    double d_tf32 = 0, d_bf16 = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      d_tf32 = std::max(d_tf32, std::fabs(double(results[1][i]) - results[0][i]));
      d_bf16 = std::max(d_bf16, std::fabs(double(results[2][i]) - results[0][i]));
    }
    EXPECT_GT(d_tf32, 1e-4);
    EXPECT_GT(d_bf16, 1e-3);
  }
  EXPECT_EQ(cublasDestroy(h), CUBLAS_STATUS_SUCCESS);
}

TEST_F(Emulation, GemmExRefusesWhatTheEmulationDoesNotModel) {
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  float* a = DeviceCopy(std::vector<float>(16, 1.0f));
  float* c = DeviceCopy(std::vector<float>(16, 0.0f));
  const float one = 1, zero = 0;
  const auto N = CUBLAS_OP_N;
  EXPECT_EQ(cublasGemmEx(h, N, N, 4, 4, 4, &one, a, CUDA_R_16BF, 4, a, CUDA_R_32F, 4, &zero, c,
                         CUDA_R_32F, 4, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(cublasGemmEx(h, N, N, 4, 4, 4, &one, a, CUDA_R_32F, 4, a, CUDA_R_32F, 4, &zero, c,
                         CUDA_R_32F, 4, CUBLAS_COMPUTE_32F_FAST_16F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_NOT_SUPPORTED);
  // The argument rules are cublasSgemm's.
  EXPECT_EQ(cublasGemmEx(h, N, N, 4, 4, 4, &one, a, CUDA_R_32F, 3, a, CUDA_R_32F, 4, &zero, c,
                         CUDA_R_32F, 4, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasGemmEx(nullptr, N, N, 4, 4, 4, &one, a, CUDA_R_32F, 4, a, CUDA_R_32F, 4, &zero,
                         c, CUDA_R_32F, 4, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_EQ(cublasGemmEx(h, N, N, 4, 4, 4, &one, a, CUDA_R_32F, 4, a, CUDA_R_32F, 4, &zero, c,
                         CUDA_R_32F, 4, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(HostCopy(c, 16), std::vector<float>(16, 4.0f));
  EXPECT_EQ(cublasDestroy(h), CUBLAS_STATUS_SUCCESS);
}

}  // namespace

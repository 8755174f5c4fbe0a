#include "nn/ops/pool.h"

#include <cstdint>

#include "nn/context.h"
#include "nn/ops/check_args.h"
#include "nn/ops/dispatch.h"
#include "nn/ops/pool_kernels.h"
#include "nn/parallel.h"

#ifdef SAL360_WITH_CUDA
#include <cstdio>
#include <string>

#include "nn/cuda/cudnn_graph.h"
#endif

namespace sal360::nn {
namespace {

void CheckArgmax(const Buffer& argmax, const Shape& pooled, Device device, const char* op) {
  const size_t need = static_cast<size_t>(pooled.numel()) * sizeof(int32_t);
  SAL_NN_CHECK(argmax.bytes() >= need, "%s: argmax buffer has %zu bytes, needs %zu for %s", op,
               argmax.bytes(), need, pooled.ToString().c_str());
  SAL_NN_CHECK(argmax.device() == device, "%s: argmax on a different device", op);
}

}  // namespace

void MaxPool2x2Forward(const Tensor& x, Tensor& y, Buffer& argmax) {
  const char* op = "MaxPool2x2Forward";
  const Shape& s = x.shape();
  const Shape pooled{s.n, s.h / 2, s.w / 2, s.c};
  SAL_NN_CHECK(y.shape() == pooled, "%s: y %s, want %s", op, y.shape().ToString().c_str(),
               pooled.ToString().c_str());
  SAL_NN_CHECK(x.device() == y.device(), "%s: x and y on different devices", op);
  CheckArgmax(argmax, pooled, x.device(), op);
  auto* arg = static_cast<int32_t*>(argmax.data());
  SAL_ON_CUDA(x.device(), {
    // The cudnn engine: cuDNN's resample max-pool, its window indices turned into our
    // argmax, so that the backward (our gather) is the same in both engines.
    Context& ctx = Context::Get(Device::kCuda);
    if (ctx.math().engine == GpuEngine::kCudnn) {
      size_t ws = 0;
      std::string why;
      if (cuda::CudnnMaxPoolSupported(ctx.cudnn(), s.n, s.h, s.w, s.c, &ws, &why)) {
        Arena::Scope scope(ctx.arena());
        auto* k = static_cast<int8_t*>(ctx.arena().Alloc(static_cast<size_t>(pooled.numel())));
        cuda::CudnnMaxPool(ctx.cudnn(), s.n, s.h, s.w, s.c, x.data(), y.data(), k,
                           ws > 0 ? ctx.arena().Alloc(ws) : nullptr);
        return cuda::ArgmaxFromWindowIndex(k, s.n, s.h, s.w, s.c, arg, CudaStream());
      }
      static bool told = false;
      if (!told) {
        told = true;
        std::fprintf(stderr, "sal360: cudnn engine: max-pool %s runs on the native kernel: %s\n",
                     s.ToString().c_str(), why.c_str());
      }
    }
    return cuda::MaxPool2x2Forward(x.data(), s.n, s.h, s.w, s.c, y.data(), arg,
                                   CudaStream());
  });
  const float* px = x.data();
  float* py = y.data();  // (N, H/2, W/2, C)
  const int64_t row = int64_t{s.w} * s.c;
  // One pooled image row per index (n, ho); each writes only its own outputs.
  ParallelFor(0, int64_t{s.n} * pooled.h, GrainFor(4 * row), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int n = static_cast<int>(r / pooled.h), ho = static_cast<int>(r % pooled.h);
      int64_t o = r * pooled.w * s.c;
      for (int wo = 0; wo < pooled.w; ++wo, o += s.c) {
        const float* p00 = px + kernels::NhwcIndex(n, 2 * ho, 2 * wo, 0, s.h, s.w, s.c);
        const float* p01 = p00 + s.c;
        const float* p10 = p00 + row;
        const float* p11 = p10 + s.c;
        const int32_t index00 = 2 * ho * s.w + 2 * wo;
        for (int c = 0; c < s.c; ++c) {
          py[o + c] = kernels::MaxPool2x2Window(p00[c], p01[c], p10[c], p11[c], index00, s.w,
                                                &arg[o + c]);
        }
      }
    }
  });
}

void MaxPool2x2Backward(const Tensor& dy, const Buffer& argmax, Tensor& dx) {
  const char* op = "MaxPool2x2Backward";
  const Shape& s = dx.shape();
  const Shape pooled{s.n, s.h / 2, s.w / 2, s.c};
  SAL_NN_CHECK(dy.shape() == pooled, "%s: dy %s, want %s for dx %s", op,
               dy.shape().ToString().c_str(), pooled.ToString().c_str(), s.ToString().c_str());
  SAL_NN_CHECK(dx.device() == dy.device(), "%s: dx and dy on different devices", op);
  CheckArgmax(argmax, pooled, dx.device(), op);
  const auto* arg = static_cast<const int32_t*>(argmax.data());
  SAL_ON_CUDA(dx.device(), {
    return cuda::MaxPool2x2Backward(dy.data(), arg, s.n, s.h, s.w, s.c, dx.data(),
                                    CudaStream());
  });
  const float* pdy = dy.data();
  float* pdx = dx.data();  // (N, H, W, C)
  ParallelFor(0, int64_t{s.n} * s.h, GrainFor(int64_t{s.w} * s.c), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int n = static_cast<int>(r / s.h), h = static_cast<int>(r % s.h);
      int64_t i = r * s.w * s.c;
      for (int w = 0; w < s.w; ++w) {
        for (int c = 0; c < s.c; ++c, ++i) {
          pdx[i] = kernels::MaxPool2x2GradAt(pdy, arg, s.h, s.w, s.c, n, h, w, c);
        }
      }
    }
  });
}

void UpsampleNearest2xForward(const Tensor& x, Tensor& y) {
  const char* op = "UpsampleNearest2xForward";
  const Shape& s = x.shape();
  const Shape up{s.n, 2 * s.h, 2 * s.w, s.c};
  SAL_NN_CHECK(y.shape() == up, "%s: y %s, want %s", op, y.shape().ToString().c_str(),
               up.ToString().c_str());
  SAL_NN_CHECK(x.device() == y.device(), "%s: x and y on different devices", op);
  SAL_ON_CUDA(x.device(), {
    return cuda::UpsampleNearest2xForward(x.data(), s.n, s.h, s.w, s.c, y.data(),
                                          CudaStream());
  });
  const float* px = x.data();
  float* py = y.data();  // (N, 2H, 2W, C)
  ParallelFor(0, int64_t{s.n} * up.h, GrainFor(int64_t{up.w} * s.c), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int n = static_cast<int>(r / up.h), h = static_cast<int>(r % up.h);
      int64_t o = r * up.w * s.c;
      for (int w = 0; w < up.w; ++w) {
        for (int c = 0; c < s.c; ++c, ++o) py[o] = kernels::Upsample2xAt(px, s.h, s.w, s.c, n, h, w, c);
      }
    }
  });
}

void UpsampleNearest2xBackward(const Tensor& dy, Tensor& dx) {
  const char* op = "UpsampleNearest2xBackward";
  const Shape& s = dx.shape();
  const Shape up{s.n, 2 * s.h, 2 * s.w, s.c};
  SAL_NN_CHECK(dy.shape() == up, "%s: dy %s, want %s", op, dy.shape().ToString().c_str(),
               up.ToString().c_str());
  SAL_NN_CHECK(dx.device() == dy.device(), "%s: dx and dy on different devices", op);
  SAL_ON_CUDA(dx.device(), {
    return cuda::UpsampleNearest2xBackward(dy.data(), s.n, s.h, s.w, s.c, dx.data(),
                                           CudaStream());
  });
  const float* pdy = dy.data();
  float* pdx = dx.data();  // (N, H, W, C)
  ParallelFor(0, int64_t{s.n} * s.h, GrainFor(4 * int64_t{s.w} * s.c), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int n = static_cast<int>(r / s.h), h = static_cast<int>(r % s.h);
      int64_t i = r * s.w * s.c;
      for (int w = 0; w < s.w; ++w) {
        for (int c = 0; c < s.c; ++c, ++i) {
          pdx[i] = kernels::Upsample2xGradAt(pdy, s.h, s.w, s.c, n, h, w, c);
        }
      }
    }
  });
}

}  // namespace sal360::nn

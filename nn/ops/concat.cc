#include "nn/ops/concat.h"

#include <cstdint>

#include "nn/context.h"
#include "nn/ops/check_args.h"
#include "nn/ops/concat_kernels.h"
#include "nn/ops/dispatch.h"
#include "nn/parallel.h"

namespace sal360::nn {
namespace {

bool SameSpatial(const Shape& a, const Shape& b) { return a.n == b.n && a.h == b.h && a.w == b.w; }

void CheckConcatShapes(const Tensor& a, const Tensor& b, const Tensor& y, const char* op) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const Shape& sy = y.shape();
  SAL_NN_CHECK(SameSpatial(sa, sb) && SameSpatial(sa, sy) && sy.c == sa.c + sb.c,
               "%s: parts %s + %s do not concatenate to %s", op, sa.ToString().c_str(),
               sb.ToString().c_str(), sy.ToString().c_str());
  SAL_NN_CHECK(a.device() == b.device() && a.device() == y.device(),
               "%s: tensors on different devices", op);
}

}  // namespace

void ConcatChannelsForward(const Tensor& a, const Tensor& b, Tensor& y) {
  CheckConcatShapes(a, b, y, "ConcatChannelsForward");
  const int ca = a.shape().c, cb = b.shape().c;
  SAL_ON_CUDA(y.device(), {
    const int64_t m = int64_t{y.shape().n} * y.shape().h * y.shape().w;
    return cuda::ConcatChannels(a.data(), b.data(), m, ca, cb, y.data(),
                                CudaStream());
  });
  const float* __restrict pa = a.data();  // (M, Ca)
  const float* __restrict pb = b.data();  // (M, Cb)
  float* __restrict py = y.data();        // (M, Ca+Cb)
  const int64_t m = int64_t{y.shape().n} * y.shape().h * y.shape().w;
  const int cy = ca + cb;
  ParallelFor(0, m, GrainFor(cy), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      // Two loops so that each is a branch-free copy.
      for (int k = 0; k < ca; ++k) py[i * cy + k] = kernels::ConcatAt(pa, pb, ca, cb, i, k);
      for (int k = ca; k < cy; ++k) py[i * cy + k] = kernels::ConcatAt(pa, pb, ca, cb, i, k);
    }
  });
}

void ConcatChannelsBackward(const Tensor& dy, Tensor& da, Tensor& db) {
  CheckConcatShapes(da, db, dy, "ConcatChannelsBackward");
  const int64_t m = int64_t{dy.shape().n} * dy.shape().h * dy.shape().w;
  const int cy = dy.shape().c, ca = da.shape().c, cb = db.shape().c;
  SAL_ON_CUDA(dy.device(), {
    void* stream = CudaStream();
    cuda::SplitChannels(dy.data(), m, cy, 0, ca, da.data(), stream);
    cuda::SplitChannels(dy.data(), m, cy, ca, cb, db.data(), stream);
    return;
  });
  // One pass over dy (two passes, one per part, would stream dy from memory twice: the
  // prefetcher pulls whole rows).
  const float* __restrict pdy = dy.data();  // (M, Ca+Cb)
  float* __restrict pa = da.data();         // (M, Ca)
  float* __restrict pb = db.data();         // (M, Cb)
  ParallelFor(0, m, GrainFor(cy), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      for (int k = 0; k < ca; ++k) pa[i * ca + k] = kernels::SplitAt(pdy, cy, 0, i, k);
      for (int k = 0; k < cb; ++k) pb[i * cb + k] = kernels::SplitAt(pdy, cy, ca, i, k);
    }
  });
}

}  // namespace sal360::nn

#include "nn/ops/concat.h"

#include <cstdint>

#include "nn/context.h"
#include "nn/ops/check_args.h"
#include "nn/ops/concat_kernels.h"

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

void Split(const Tensor& dy, int first, Tensor& part) {
  const int64_t m = int64_t{dy.shape().n} * dy.shape().h * dy.shape().w;
  const int cy = dy.shape().c, cpart = part.shape().c;
  if (dy.device() == Device::kCuda) {
#ifdef SAL360_WITH_CUDA
    return cuda::SplitChannels(dy.data(), m, cy, first, cpart, part.data(),
                               Context::Get(Device::kCuda).stream());
#endif
  }
  const float* pdy = dy.data();
  float* pp = part.data();  // (M, cpart)
  const int64_t n = m * cpart;
  for (int64_t i = 0; i < n; ++i) pp[i] = kernels::SplitAt(pdy, cy, first, cpart, i);
}

}  // namespace

void ConcatChannelsForward(const Tensor& a, const Tensor& b, Tensor& y) {
  CheckConcatShapes(a, b, y, "ConcatChannelsForward");
  const int ca = a.shape().c, cb = b.shape().c;
  if (y.device() == Device::kCuda) {
#ifdef SAL360_WITH_CUDA
    const int64_t m = int64_t{y.shape().n} * y.shape().h * y.shape().w;
    return cuda::ConcatChannels(a.data(), b.data(), m, ca, cb, y.data(),
                                Context::Get(Device::kCuda).stream());
#endif
  }
  const float* pa = a.data();
  const float* pb = b.data();
  float* py = y.data();  // (M, Ca+Cb)
  const int64_t n = y.numel();
  for (int64_t i = 0; i < n; ++i) py[i] = kernels::ConcatAt(pa, pb, ca, cb, i);
}

void ConcatChannelsBackward(const Tensor& dy, Tensor& da, Tensor& db) {
  CheckConcatShapes(da, db, dy, "ConcatChannelsBackward");
  Split(dy, 0, da);
  Split(dy, da.shape().c, db);
}

}  // namespace sal360::nn

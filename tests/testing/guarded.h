// Sentinel-guarded tensors for tests: a tensor view with kGuardFloats floats of a
// sentinel bit pattern on each side (in the same allocation, on the tensor's device).
// Ops write into `tensor()`; GuardsIntact() then proves that nothing was written out of
// range (ggml-style guard buffers). Header-only; depends on //nn:core.
#ifndef SAL360_TESTS_TESTING_GUARDED_H_
#define SAL360_TESTS_TESTING_GUARDED_H_

#include <cstdint>
#include <cstring>
#include <vector>

#include "nn/tensor.h"

namespace sal360::testing {

class GuardedTensor {
 public:
  static constexpr int64_t kGuardFloats = 256;
  static constexpr uint32_t kSentinelBits = 0x7fc0beefu;  // a quiet NaN with a payload

  // The interior starts as a copy of `init` (or the sentinel when empty).
  GuardedTensor(nn::Shape shape, nn::Device device, const std::vector<float>& init = {})
      : shape_(shape), storage_(nn::Shape{1, 1, 1, static_cast<int>(shape.numel() + 2 * kGuardFloats)}, device) {
    float sentinel;
    std::memcpy(&sentinel, &kSentinelBits, sizeof(float));
    std::vector<float> host(static_cast<size_t>(storage_.numel()), sentinel);
    if (!init.empty()) std::memcpy(host.data() + kGuardFloats, init.data(), init.size() * sizeof(float));
    storage_.CopyFrom(nn::Tensor::FromVector(storage_.shape(), host, nn::Device::kCpu));
    view_ = nn::Tensor::View(storage_.data() + kGuardFloats, shape, device);
  }

  nn::Tensor& tensor() { return view_; }

  // Number of guard floats whose bits changed (0 when intact).
  int64_t DamagedGuards() const {
    const std::vector<float> host = storage_.ToVector();
    int64_t damaged = 0;
    const int64_t n = static_cast<int64_t>(host.size());
    for (int64_t i = 0; i < n; ++i) {
      if (i >= kGuardFloats && i < n - kGuardFloats) continue;
      uint32_t bits;
      std::memcpy(&bits, &host[i], sizeof(bits));
      damaged += bits != kSentinelBits;
    }
    return damaged;
  }

 private:
  nn::Shape shape_;
  nn::Tensor storage_;
  nn::Tensor view_;
};

}  // namespace sal360::testing

#endif  // SAL360_TESTS_TESTING_GUARDED_H_

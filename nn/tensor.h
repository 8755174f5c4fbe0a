// Tensor: float32, 4-D, channels-last (NHWC), on one device.
//
// Layout choice: NHWC. The spherical gather copies whole channel vectors (contiguous
// in NHWC) and the GEMM writes NHWC output directly; see nn/README or issue #4.
// Checkpoints keep PyTorch's (Cout, Cin, 3, 3) weight shapes; layers permute at load.
#ifndef SAL360_NN_TENSOR_H_
#define SAL360_NN_TENSOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "nn/buffer.h"
#include "nn/device.h"

namespace sal360::nn {

struct Shape {
  int n = 0, h = 0, w = 0, c = 0;
  int64_t numel() const { return int64_t{n} * h * w * c; }
  bool operator==(const Shape& o) const { return n == o.n && h == o.h && w == o.w && c == o.c; }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string ToString() const;  // "(N,H,W,C)"
};

class Tensor {
 public:
  Tensor() = default;
  Tensor(Shape shape, Device device);  // uninitialised
  static Tensor Zeros(Shape shape, Device device);
  // Non-owning view over memory owned elsewhere (an Arena, a slab).
  static Tensor View(float* data, Shape shape, Device device);
  static Tensor FromVector(Shape shape, const std::vector<float>& values, Device device);

  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  const Shape& shape() const { return shape_; }
  Device device() const { return buffer_.device(); }
  int64_t numel() const { return shape_.numel(); }
  bool empty() const { return numel() == 0; }
  float* data() { return static_cast<float*>(buffer_.data()); }
  const float* data() const { return static_cast<const float*>(buffer_.data()); }

  Tensor Clone() const;
  Tensor To(Device device) const;
  void CopyFrom(const Tensor& src);  // shapes must match; devices may differ
  void SetZero();
  std::vector<float> ToVector() const;  // copies to the host

 private:
  Shape shape_;
  Buffer buffer_;
};

}  // namespace sal360::nn

#endif  // SAL360_NN_TENSOR_H_

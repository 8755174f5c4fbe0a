#include "nn/tensor.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_format.h"

namespace sal360::nn {

std::string Shape::ToString() const { return absl::StrFormat("(%d,%d,%d,%d)", n, h, w, c); }

Tensor::Tensor(Shape shape, Device device)
    : shape_(shape), buffer_(device, static_cast<size_t>(shape.numel()) * sizeof(float)) {}

Tensor Tensor::Zeros(Shape shape, Device device) {
  Tensor t(shape, device);
  t.SetZero();
  return t;
}

Tensor Tensor::View(float* data, Shape shape, Device device) {
  Tensor t;
  t.shape_ = shape;
  t.buffer_ = Buffer::View(device, data, static_cast<size_t>(shape.numel()) * sizeof(float));
  return t;
}

Tensor Tensor::FromVector(Shape shape, const std::vector<float>& values, Device device) {
  if (static_cast<int64_t>(values.size()) != shape.numel()) {
    std::fprintf(stderr, "Tensor::FromVector: %zu values for shape %s\n", values.size(),
                 shape.ToString().c_str());
    std::abort();
  }
  Tensor t(shape, device);
  CopyBytes(device, t.data(), Device::kCpu, values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::Clone() const { return To(device()); }

Tensor Tensor::To(Device d) const {
  Tensor t(shape_, d);
  CopyBytes(d, t.data(), device(), data(), static_cast<size_t>(numel()) * sizeof(float));
  return t;
}

void Tensor::CopyFrom(const Tensor& src) {
  if (src.shape_ != shape_) {
    std::fprintf(stderr, "Tensor::CopyFrom: shape %s into %s\n", src.shape_.ToString().c_str(),
                 shape_.ToString().c_str());
    std::abort();
  }
  CopyBytes(device(), data(), src.device(), src.data(), static_cast<size_t>(numel()) * sizeof(float));
}

void Tensor::SetZero() { ZeroBytes(device(), data(), static_cast<size_t>(numel()) * sizeof(float)); }

std::vector<float> Tensor::ToVector() const {
  std::vector<float> v(static_cast<size_t>(numel()));
  CopyBytes(Device::kCpu, v.data(), device(), data(), v.size() * sizeof(float));
  return v;
}

}  // namespace sal360::nn

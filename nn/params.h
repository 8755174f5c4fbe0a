// ParamStore: every trainable parameter of a model in one contiguous slab, and every
// gradient in a second slab with the same layout, on one device.
//
// Layout: parameters in the order of `specs`; each starts at an offset that is a
// multiple of kParamAlignFloats (64 floats = 256 bytes, cudaMalloc's alignment, so
// cuBLAS and vector loads see aligned pointers). The gaps are zero in both slabs and
// stay zero under every optimiser (zero gradient, zero value, zero state). Both slabs
// start zeroed; initialise parameters with nn/init.h.
// Invariant: backward passes ACCUMULATE into grad(i) ("+="), so call ZeroGrad() once per
// step before the backward.
#ifndef SAL360_NN_PARAMS_H_
#define SAL360_NN_PARAMS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nn/device.h"
#include "nn/tensor.h"

namespace sal360::nn {

inline constexpr int64_t kParamAlignFloats = 64;

class ParamStore {
 public:
  // Names must be unique and non-empty (aborts otherwise: a programming error).
  ParamStore(Device device, const std::vector<std::pair<std::string, Shape>>& specs);
  // Movable (the views keep pointing into the same heap slabs); not copyable. An
  // Optimizer holds a reference: do not move a store that an Optimizer uses.
  ParamStore(ParamStore&&) noexcept = default;
  ParamStore& operator=(ParamStore&&) noexcept = default;
  ParamStore(const ParamStore&) = delete;
  ParamStore& operator=(const ParamStore&) = delete;

  int size() const { return static_cast<int>(names_.size()); }
  const std::string& name(int i) const { return names_.at(i); }
  int Find(const std::string& name) const;  // index, or -1
  Device device() const { return device_; }
  int64_t offset(int i) const { return offsets_.at(i); }  // in floats, into the slabs
  int64_t total() const { return total_; }                // slab length in floats
  int64_t num_values() const;                             // Σ numel, without the gaps

  Tensor& param(int i) { return params_.at(i); }  // non-owning views into the slabs
  Tensor& grad(int i) { return grads_.at(i); }
  const Tensor& param(int i) const { return params_.at(i); }
  const Tensor& grad(int i) const { return grads_.at(i); }
  Tensor& params_flat() { return params_flat_; }  // Shape{1,1,1,total}
  Tensor& grads_flat() { return grads_flat_; }
  const Tensor& params_flat() const { return params_flat_; }
  const Tensor& grads_flat() const { return grads_flat_; }
  void ZeroGrad();

 private:
  Device device_ = Device::kCpu;
  int64_t total_ = 0;
  std::vector<std::string> names_;
  std::vector<int64_t> offsets_;
  Tensor params_flat_, grads_flat_;  // owning
  std::vector<Tensor> params_, grads_;  // views
};

}  // namespace sal360::nn

#endif  // SAL360_NN_PARAMS_H_

#include "nn/params.h"

#include <set>

#include "nn/ops/check_args.h"

namespace sal360::nn {

ParamStore::ParamStore(Device device, const std::vector<std::pair<std::string, Shape>>& specs)
    : device_(device) {
  std::set<std::string> seen;
  int64_t offset = 0;
  for (const auto& [name, shape] : specs) {
    SAL_NN_CHECK(!name.empty(), "ParamStore: empty parameter name");
    SAL_NN_CHECK(seen.insert(name).second, "ParamStore: duplicate parameter name '%s'",
                 name.c_str());
    SAL_NN_CHECK(shape.n >= 0 && shape.h >= 0 && shape.w >= 0 && shape.c >= 0,
                 "ParamStore: negative shape %s for '%s'", shape.ToString().c_str(), name.c_str());
    names_.push_back(name);
    offsets_.push_back(offset);
    offset += (shape.numel() + kParamAlignFloats - 1) / kParamAlignFloats * kParamAlignFloats;
  }
  total_ = offset;
  SAL_NN_CHECK(total_ <= int64_t{1} << 31, "ParamStore: %lld floats is too many",
               static_cast<long long>(total_));
  params_flat_ = Tensor::Zeros(Shape{1, 1, 1, static_cast<int>(total_)}, device);
  grads_flat_ = Tensor::Zeros(Shape{1, 1, 1, static_cast<int>(total_)}, device);
  for (size_t i = 0; i < specs.size(); ++i) {
    params_.push_back(Tensor::View(params_flat_.data() + offsets_[i], specs[i].second, device));
    grads_.push_back(Tensor::View(grads_flat_.data() + offsets_[i], specs[i].second, device));
  }
}

int ParamStore::Find(const std::string& name) const {
  for (int i = 0; i < size(); ++i) {
    if (names_[i] == name) return i;
  }
  return -1;
}

int64_t ParamStore::num_values() const {
  int64_t n = 0;
  for (const Tensor& p : params_) n += p.numel();
  return n;
}

void ParamStore::ZeroGrad() { grads_flat_.SetZero(); }

}  // namespace sal360::nn

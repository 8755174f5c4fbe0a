#include "nn/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "util/version.h"

namespace sal360::nn {
namespace {

using util::Safetensors;
using util::SafetensorsTensor;

// PyTorch shape of parameter i of the model (conv weights (Cout,Cin,3,3); vectors (C)).
std::vector<int64_t> TorchShape(const SphericalUNet& model, int i) {
  const Shape& s = model.params().param(i).shape();
  for (int k = 0; k < kNumConvLayers; ++k) {
    if (model.conv_weight_index(k) == i) return {s.c, s.w, 3, 3};  // (9,1,Cin,Cout) internally
  }
  return {s.numel()};
}

int ConvLayerOfWeight(const SphericalUNet& model, int i) {
  for (int k = 0; k < kNumConvLayers; ++k) {
    if (model.conv_weight_index(k) == i) return k;
  }
  return -1;
}

// Host values of parameter i in PyTorch layout, from `flat` (a host copy of a slab with
// the ParamStore layout).
std::vector<float> ToTorchLayout(const SphericalUNet& model, int i, std::vector<float>& flat) {
  const Shape& shape = model.params().param(i).shape();
  float* begin = flat.data() + model.params().offset(i);
  if (ConvLayerOfWeight(model, i) < 0) return std::vector<float>(begin, begin + shape.numel());
  std::vector<float> out(static_cast<size_t>(shape.numel()));
  const Tensor view = Tensor::View(begin, shape, Device::kCpu);
  ConvWeightToPytorch(view, out.data());
  return out;
}

// The inverse: writes PyTorch-layout `values` of parameter i into `flat`.
void FromTorchLayout(const SphericalUNet& model, int i, const std::vector<float>& values,
                     std::vector<float>& flat) {
  const Shape& shape = model.params().param(i).shape();
  float* begin = flat.data() + model.params().offset(i);
  const int k = ConvLayerOfWeight(model, i);
  if (k < 0) {
    std::copy(values.begin(), values.end(), begin);
    return;
  }
  Tensor view = Tensor::View(begin, shape, Device::kCpu);
  ConvWeightFromPytorch(values.data(), kConvLayers[k].cout, kConvLayers[k].cin, view);
}

std::string BnName(int i, const char* field) { return absl::StrCat("bn", i + 1, ".", field); }

}  // namespace

absl::StatusOr<sphere::TableMode> ParseTableMode(const std::string& name) {
  if (name == "nearest") return sphere::TableMode::kNearest;
  if (name == "bilinear") return sphere::TableMode::kBilinear;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown table mode '", name, "' (expected nearest or bilinear)"));
}

absl::StatusOr<sphere::Convention> ParseConvention(const std::string& name) {
  if (name == "pixel_centre" || name == "pixel-centre") return sphere::Convention::kPixelCentre;
  if (name == "seed") return sphere::Convention::kSeed;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown convention '", name, "' (expected pixel_centre or seed)"));
}

void ExportModel(const SphericalUNet& model, Safetensors& out) {
  const ParamStore& params = model.params();
  std::vector<float> flat = params.params_flat().ToVector();
  for (int i = 0; i < params.size(); ++i) {
    out.tensors[params.name(i)] =
        SafetensorsTensor::FromFloat32(TorchShape(model, i), ToTorchLayout(model, i, flat));
  }
  for (int i = 0; i < kNumBatchNorms; ++i) {
    const BatchNormStats& stats = model.bn_stats(i);
    const int64_t c = SphericalUNet::BatchNormChannels(i);
    out.tensors[BnName(i, "running_mean")] =
        SafetensorsTensor::FromFloat32({c}, stats.running_mean.ToVector());
    out.tensors[BnName(i, "running_var")] =
        SafetensorsTensor::FromFloat32({c}, stats.running_var.ToVector());
    out.tensors[BnName(i, "num_batches_tracked")] =
        SafetensorsTensor::FromInt64({}, {stats.num_batches_tracked});
  }
  out.metadata[kMetaFormat] = kCheckpointFormat;
  out.metadata[kMetaVersion] = kVersion;
  out.metadata[kMetaTableMode] = sphere::ModeName(model.config().table_mode);
  out.metadata[kMetaConvention] = sphere::ConventionName(model.config().convention);
}

constexpr float kMaxRunningMean = 1e10f;

absl::Status ImportModel(const Safetensors& st, const std::string& file, SphericalUNet& model) {
  // One strict loader for every reader (test, predict, resume): the format and the
  // table metadata must be readable (inference may then override the tables on purpose;
  // the trainer's resume compares them with the run's configuration).
  if (absl::StatusOr<ModelConfig> config = ModelConfigFromCheckpoint(st, file); !config.ok()) {
    return config.status();
  }
  ParamStore& params = model.params();
  std::set<std::string> expected;
  // Validate and convert everything first, then write: a bad file leaves the model as it was.
  std::vector<float> flat(static_cast<size_t>(params.total()), 0.0f);
  for (int i = 0; i < params.size(); ++i) {
    expected.insert(params.name(i));
    absl::StatusOr<std::vector<float>> v = st.GetFloat32(file, params.name(i), TorchShape(model, i));
    if (!v.ok()) return v.status();
    FromTorchLayout(model, i, *v, flat);
  }
  struct Bn {
    std::vector<float> mean, var;
    int64_t tracked;
  };
  std::vector<Bn> bns;
  for (int i = 0; i < kNumBatchNorms; ++i) {
    const int64_t c = SphericalUNet::BatchNormChannels(i);
    for (const char* f : {"running_mean", "running_var", "num_batches_tracked"}) {
      expected.insert(BnName(i, f));
    }
    absl::StatusOr<std::vector<float>> mean = st.GetFloat32(file, BnName(i, "running_mean"), {c});
    if (!mean.ok()) return mean.status();
    absl::StatusOr<std::vector<float>> var = st.GetFloat32(file, BnName(i, "running_var"), {c});
    if (!var.ok()) return var.status();
    absl::StatusOr<std::vector<int64_t>> tracked =
        st.GetInt64(file, BnName(i, "num_batches_tracked"), {});
    if (!tracked.ok()) return tracked.status();
    // Statistics a training run can produce: finite means of plausible size (activations
    // here are O(1..1e3); 1e10 is far beyond), finite non-negative variances.
    for (int64_t k = 0; k < c; ++k) {
      const float m = (*mean)[k], v = (*var)[k];
      if (!std::isfinite(m) || std::fabs(m) > kMaxRunningMean) {
        return absl::InvalidArgumentError(absl::StrCat(file, ": ", BnName(i, "running_mean"), "[", k, "] is ", m,
                                                       " (expected finite, |x| <= 1e10)"));
      }
      if (!std::isfinite(v) || v < 0) {
        return absl::InvalidArgumentError(absl::StrCat(file, ": ", BnName(i, "running_var"), "[", k, "] is ", v,
                                                       " (expected finite and >= 0)"));
      }
    }
    if ((*tracked)[0] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", BnName(i, "num_batches_tracked"), " is negative"));
    }
    bns.push_back(Bn{*std::move(mean), *std::move(var), (*tracked)[0]});
  }
  for (const auto& [name, t] : st.tensors) {
    if (expected.count(name) == 0 && !absl::StartsWith(name, "optim.")) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": unexpected tensor '", name, "' ", util::SafetensorsDTypeName(t.dtype), " ",
          util::ShapeString(t.shape), " (not part of the spherical U-Net's state dict)"));
    }
  }
  for (const float v : flat) {
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": model weights contain NaN or Inf"));
    }
  }
  Tensor host = Tensor::View(flat.data(), params.params_flat().shape(), Device::kCpu);
  params.params_flat().CopyFrom(host);
  for (int i = 0; i < kNumBatchNorms; ++i) {
    BatchNormStats& stats = model.bn_stats(i);
    const Shape s = stats.running_mean.shape();
    stats.running_mean.CopyFrom(Tensor::View(bns[i].mean.data(), s, Device::kCpu));
    stats.running_var.CopyFrom(Tensor::View(bns[i].var.data(), s, Device::kCpu));
    stats.num_batches_tracked = bns[i].tracked;
  }
  return absl::OkStatus();
}

void ExportOptimizer(const SphericalUNet& model, const Optimizer& optimizer, Safetensors& out) {
  const ParamStore& params = model.params();
  for (const auto& [state_name, tensor] : optimizer.StateTensors()) {
    std::vector<float> flat = tensor->ToVector();
    for (int i = 0; i < params.size(); ++i) {
      out.tensors[absl::StrCat(state_name, ".", params.name(i))] =
          SafetensorsTensor::FromFloat32(TorchShape(model, i), ToTorchLayout(model, i, flat));
    }
  }
  out.tensors["optim.step"] = SafetensorsTensor::FromInt64({}, {optimizer.step_count()});
  out.metadata[kMetaOptimKind] = optimizer.config().kind;
}

absl::Status ImportOptimizer(const Safetensors& st, const std::string& file,
                             const SphericalUNet& model, Optimizer& optimizer) {
  absl::StatusOr<std::string> kind = st.GetMetadata(file, kMetaOptimKind);
  if (!kind.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": no optimiser state in this checkpoint (", kind.status().message(), ")"));
  }
  if (*kind != optimizer.config().kind) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": optimiser state is for '", *kind,
                                                   "', the run uses '", optimizer.config().kind, "'"));
  }
  const ParamStore& params = model.params();
  std::vector<std::pair<std::string, std::vector<float>>> loaded;
  for (const auto& [state_name, tensor] : optimizer.StateTensors()) {
    std::vector<float> flat(static_cast<size_t>(params.total()), 0.0f);
    for (int i = 0; i < params.size(); ++i) {
      absl::StatusOr<std::vector<float>> v =
          st.GetFloat32(file, absl::StrCat(state_name, ".", params.name(i)), TorchShape(model, i));
      if (!v.ok()) return v.status();
      FromTorchLayout(model, i, *v, flat);
    }
    // Moments a run can produce: finite, and second moments non-negative.
    const bool second_moment = absl::StrContains(state_name, "exp_avg_sq");
    for (size_t k = 0; k < flat.size(); ++k) {
      if (!std::isfinite(flat[k]) || (second_moment && flat[k] < 0)) {
        return absl::InvalidArgumentError(absl::StrCat(file, ": optimiser state '", state_name, "' holds ", flat[k],
                                                       second_moment ? " (expected finite and >= 0)" : " (expected finite)"));
      }
    }
    loaded.emplace_back(state_name, std::move(flat));
  }
  absl::StatusOr<std::vector<int64_t>> step = st.GetInt64(file, "optim.step", {});
  if (!step.ok()) return step.status();
  if ((*step)[0] < 0) return absl::InvalidArgumentError(absl::StrCat(file, ": optim.step is negative"));
  for (const auto& [name, values] : loaded) {
    if (absl::Status s = optimizer.LoadState(name, values); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", s.message()));
    }
  }
  optimizer.set_step_count((*step)[0]);
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ModelConfigFromCheckpoint(const Safetensors& st, const std::string& file) {
  ModelConfig config;
  const auto format = st.metadata.find(kMetaFormat);
  if (format != st.metadata.end() && format->second != kCheckpointFormat) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": checkpoint format '", format->second,
                                                   "', this build reads '", kCheckpointFormat,
                                                   "' (written by a different sal360 version?)"));
  }
  if (auto it = st.metadata.find(kMetaTableMode); it != st.metadata.end()) {
    absl::StatusOr<sphere::TableMode> mode = ParseTableMode(it->second);
    if (!mode.ok()) return absl::InvalidArgumentError(absl::StrCat(file, ": ", mode.status().message()));
    config.table_mode = *mode;
  }
  if (auto it = st.metadata.find(kMetaConvention); it != st.metadata.end()) {
    absl::StatusOr<sphere::Convention> conv = ParseConvention(it->second);
    if (!conv.ok()) return absl::InvalidArgumentError(absl::StrCat(file, ": ", conv.status().message()));
    config.convention = *conv;
  }
  return config;
}

absl::Status SaveCheckpoint(const std::string& path, const SphericalUNet& model,
                            const Optimizer* optimizer,
                            const std::map<std::string, std::string>& metadata) {
  Safetensors st;
  ExportModel(model, st);
  if (optimizer != nullptr) ExportOptimizer(model, *optimizer, st);
  for (const auto& [k, v] : metadata) st.metadata[k] = v;
  return util::WriteSafetensors(path, st);
}

}  // namespace sal360::nn

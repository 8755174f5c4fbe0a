#include "infer/sequence.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nn/tensor.h"

namespace sal360::infer {

absl::StatusOr<TemporalInput> ParseTemporalInput(const std::string& value, const std::string& flag) {
  if (value == "pred") return TemporalInput::kPrediction;
  if (value == "gt") return TemporalInput::kGroundTruth;
  if (value == "none") return TemporalInput::kNone;
  return absl::InvalidArgumentError(absl::StrCat(flag, " must be pred, gt or none, not '", value, "'"));
}

const char* TemporalInputName(TemporalInput input) {
  switch (input) {
    case TemporalInput::kPrediction:
      return "pred";
    case TemporalInput::kGroundTruth:
      return "gt";
    case TemporalInput::kNone:
      return "none";
  }
  return "?";
}

void PackInput(const float* rgb_hwc, const float* prev_hw, int h, int w, float* dst) {
  const int64_t pixels = int64_t{h} * w;
  for (int64_t p = 0; p < pixels; ++p) {
    dst[4 * p + 0] = rgb_hwc[3 * p + 0];
    dst[4 * p + 1] = rgb_hwc[3 * p + 1];
    dst[4 * p + 2] = rgb_hwc[3 * p + 2];
    dst[4 * p + 3] = prev_hw != nullptr ? prev_hw[p] : 0.0f;
  }
}

absl::StatusOr<std::string> CheckInputValues(const std::vector<float>& values, const std::vector<int64_t>& shape,
                                             InputKind kind, const std::string& file) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (size_t k = 0; k < values.size(); ++k) {
    const float v = values[k];
    if (!std::isfinite(v)) {
      std::string index;
      int64_t rest = static_cast<int64_t>(k);
      for (size_t d = shape.size(); d-- > 0;) {
        const int64_t extent = std::max<int64_t>(shape[d], 1);
        index = absl::StrCat(rest % extent, index.empty() ? "" : ", ", index);
        rest /= extent;
      }
      return absl::InvalidArgumentError(absl::StrCat(file, ": non-finite value ", v, " at [", index,
                                                     "]; the model's output would be NaN"));
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (values.empty()) return std::string();
  constexpr float kSlack = 1e-3f;
  if (kind == InputKind::kRgb && (lo < -kSlack || hi > 1 + kSlack)) {
    return absl::StrFormat("%s: RGB values span [%g, %g], but the model expects [0, 1]%s", file, lo, hi,
                           hi > 2 && hi <= 255.5f ? " (an 8-bit image not divided by 255?)" : "");
  }
  if (kind == InputKind::kSaliency && lo < -kSlack) {
    return absl::StrFormat("%s: the saliency map has negative values (down to %g); maps are >= 0", file, lo);
  }
  return std::string();
}

std::vector<float> ForwardHost(nn::SphericalUNet& model, const std::vector<float>& input, int n, int h, int w) {
  const nn::Tensor x = nn::Tensor::FromVector(nn::Shape{n, h, w, 4}, input, model.device());
  return model.Forward(x, false).ToVector();
}

SequenceRunner::SequenceRunner(nn::SphericalUNet& model, int height, int width, SequenceOptions options,
                               OutputFn on_output)
    : model_(model),
      h_(height),
      w_(width),
      pixels_(int64_t{height} * width),
      options_(std::move(options)),
      on_output_(std::move(on_output)) {}

absl::Status SequenceRunner::Push(int id, const float* rgb, const float* prev_gt) {
  if (options_.interval < 1 || options_.max_batch < 1) {
    return absl::InvalidArgumentError("SequenceRunner: interval and max_batch must be at least 1");
  }
  if (has_last_ && id <= last_id_) {
    return absl::InvalidArgumentError(
        absl::StrCat("SequenceRunner: frame ids must increase (", id, " after ", last_id_, ")"));
  }
  const int prev_id = id - options_.interval;
  const bool full = static_cast<int>(pending_ids_.size()) == options_.max_batch;
  const bool waits = options_.input == TemporalInput::kPrediction && !pending_ids_.empty() &&
                     prev_id >= pending_ids_.front();
  if (full || waits) {
    if (absl::Status s = Flush(); !s.ok()) return s;
  }
  // The temporal input in the network's scale.
  std::vector<float> prev(static_cast<size_t>(pixels_), 0.0f);
  if (options_.input == TemporalInput::kGroundTruth) {
    if (prev_gt == nullptr) return absl::InvalidArgumentError("SequenceRunner: the gt input needs prev_gt");
    for (int64_t p = 0; p < pixels_; ++p) prev[p] = prev_gt[p] * nn::kMapScale;
  } else if (options_.input == TemporalInput::kPrediction) {
    if (const auto it = outputs_.find(prev_id); it != outputs_.end()) {
      prev = it->second;  // already in the network's scale
    } else {
      if (static_cast<int64_t>(options_.first_frames_map.size()) != pixels_) {
        return absl::InvalidArgumentError("SequenceRunner: first_frames_map must be (H, W)");
      }
      for (int64_t p = 0; p < pixels_; ++p) prev[p] = options_.first_frames_map[p] * nn::kMapScale;
    }
  }
  const size_t k = pending_ids_.size();
  input_.resize((k + 1) * static_cast<size_t>(pixels_) * 4);
  PackInput(rgb, prev.data(), h_, w_, input_.data() + k * pixels_ * 4);
  pending_ids_.push_back(id);
  has_last_ = true;
  last_id_ = id;
  // Predictions no later frame can ask for (ids below the next frame's predecessor).
  outputs_.erase(outputs_.begin(), outputs_.lower_bound(id + 1 - options_.interval));
  return absl::OkStatus();
}

absl::Status SequenceRunner::Flush() {
  if (pending_ids_.empty()) return absl::OkStatus();
  const int n = static_cast<int>(pending_ids_.size());
  const std::vector<float> y = ForwardHost(model_, input_, n, h_, w_);
  for (int k = 0; k < n; ++k) {
    const float* map = y.data() + k * pixels_;
    if (options_.input == TemporalInput::kPrediction) outputs_[pending_ids_[k]].assign(map, map + pixels_);
    if (absl::Status s = on_output_(next_index_ + k, pending_ids_[k], map); !s.ok()) return s;
  }
  next_index_ += n;
  pending_ids_.clear();
  input_.clear();
  return absl::OkStatus();
}

absl::Status SequenceRunner::Finish() { return Flush(); }

void SequenceRunner::Reset() {
  outputs_.clear();
  has_last_ = false;
  pending_ids_.clear();
  input_.clear();
}

}  // namespace sal360::infer

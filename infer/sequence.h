// The one autoregressive inference loop: a video's frames go through the model in
// order, each with its temporal input (the fourth input channel), and frames whose
// inputs are already known run together as one batch. `test`, `predict` (and video
// input) all run through SequenceRunner, so they agree on:
//   - the temporal input (TemporalInput): the model's own prediction for frame
//     id - interval (deployment), the ground truth of that frame (the published
//     protocol: the caller passes it), or zeros;
//   - the first-frames rule: a frame whose predecessor was not run (a video's first
//     `interval` frames) gets `first_frames_map` (data::FirstFramesMap: the centre
//     prior, as in training, or zeros);
//   - the scale: maps are passed in the data's scale and enter the network multiplied
//     by nn::kMapScale; outputs are in the network's scale, as the model writes them.
// Batching: a frame joins the pending batch unless the batch is full or (prediction
// input) its predecessor is in the batch, so the results are the same for any
// max_batch up to the bits the batch size itself may change.
#ifndef SAL360_INFER_SEQUENCE_H_
#define SAL360_INFER_SEQUENCE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nn/model.h"

namespace sal360::infer {

enum class TemporalInput { kPrediction, kGroundTruth, kNone };
// "pred" | "gt" | "none", with an error naming `flag`.
absl::StatusOr<TemporalInput> ParseTemporalInput(const std::string& value, const std::string& flag = "--prev");
const char* TemporalInputName(TemporalInput input);

struct SequenceOptions {
  TemporalInput input = TemporalInput::kPrediction;
  int interval = 5;                     // >= 1
  std::vector<float> first_frames_map;  // (H, W), data scale; kPrediction only
  int max_batch = 8;                    // >= 1
};

// One image of network input, (H, W, 4) channels-last: rgb (H, W, 3) in [0,1] and the
// previous map `prev_hw` already in the network's scale, or zeros when null.
void PackInput(const float* rgb_hwc, const float* prev_hw, int h, int w, float* dst_hw4);

// Checks of raw network input from a user's array (predict --input=X.npy, --prev):
// a NaN or ±Inf is an error naming `file` and the element's index in `shape`; values
// outside the expected range give a warning (returned, empty when none): RGB outside
// [0, 1] (values up to 255 suggest an undivided 8-bit image), a negative saliency map.
enum class InputKind { kRgb, kSaliency };
absl::StatusOr<std::string> CheckInputValues(const std::vector<float>& values, const std::vector<int64_t>& shape,
                                             InputKind kind, const std::string& file);

// Runs the model on host input (n, h, w, 4) and returns the (n, h, w) output.
std::vector<float> ForwardHost(nn::SphericalUNet& model, const std::vector<float>& input, int n, int h, int w);

class SequenceRunner {
 public:
  // Called in push order, once per frame: `index` counts pushes from 0, `map` is the
  // (H, W) output in the network's scale (valid during the call).
  using OutputFn = std::function<absl::Status(int64_t index, int id, const float* map)>;

  SequenceRunner(nn::SphericalUNet& model, int height, int width, SequenceOptions options, OutputFn on_output);

  // Frame `id` (strictly increasing within a video; its predecessor is id - interval),
  // `rgb` (H, W, 3) in [0,1]. `prev_gt` (H, W, data scale) is the ground truth of the
  // predecessor, required for TemporalInput::kGroundTruth and ignored otherwise. The
  // arrays are copied; outputs may come later (at a later Push or at Finish).
  absl::Status Push(int id, const float* rgb, const float* prev_gt = nullptr);
  // Runs what is pending. The runner can then take the next video (Reset) or stop.
  absl::Status Finish();
  // Forgets the previous video's predictions (call between videos, after Finish).
  void Reset();

 private:
  absl::Status Flush();

  nn::SphericalUNet& model_;
  const int h_, w_;
  const int64_t pixels_;
  SequenceOptions options_;
  OutputFn on_output_;
  std::vector<float> input_;      // (pending, H, W, 4)
  std::vector<int> pending_ids_;  // ids of the pending batch
  int64_t next_index_ = 0;        // index of the first pending frame
  std::map<int, std::vector<float>> outputs_;  // id -> output, while a later frame may need it
  bool has_last_ = false;
  int last_id_ = 0;
};

}  // namespace sal360::infer

#endif  // SAL360_INFER_SEQUENCE_H_

// SphericalUNet: the published spherical U-Net for 360-degree saliency (issue #7).
//
// Input (N,H,W,4): RGB in [0,1] and the previous saliency map (x10, as published).
// Output (N,H,W,1): the saliency map on the target's x10 scale. H and W must be
// multiples of 8 (three 2x2 poolings); level l works at (H/2^l, W/2^l) with the
// spherical tables of that resolution.
//
//   level 0  x ─conv1(4→64)─bn1─relu─ e1 ─────────────────────────────┐  cat7 = [up(e6) | e1]
//   level 1     pool ─conv2(64→128)─bn2─relu─ e2 ──────────────────┐   │  ─conv7(128→1)─ out
//   level 2        pool ─conv3(128→256)─bn3─relu─ e3 ───────────┐  │   │
//   level 3           pool ─conv4(256→256)─bn4─relu─ e4 ─up─ cat5 = [up(e4) | e3]
//                                          ─conv5(512→128)─bn5─relu─ e5 ─up─ cat6 = [up(e5) | e2]
//                                          ─conv6(256→64)─bn6─relu─ e6 ─up─ (cat7)
//
// Parameters live in one ParamStore under the PyTorch state_dict names (conv1.weight,
// conv1.bias, bn1.weight, bn1.bias, ...); conv weights are stored in the internal
// (9,1,Cin,Cout) layout of nn/ops/spherical_conv.h and converted to/from PyTorch's
// (Cout,Cin,3,3) only when a state dict is exported or imported (nn/checkpoint.h). The
// BatchNorm running statistics are buffers, not parameters (as in PyTorch).
//
// Memory: every activation, every gradient and the tables are allocated on the first
// Forward for a given (H, W) and a batch of up to the largest N seen so far; later calls
// with the same (H, W) and N <= that maximum allocate nothing (smaller batches use a
// prefix of the same buffers). The gradient workspace is reused across the levels'
// backward steps (see model.cc for the schedule); during the forward it holds the
// upsampled maps, which the backward does not need.
//
// Invariants: Forward writes its output with "="; Backward ACCUMULATES into the
// parameter gradients (call params().ZeroGrad() once per step). Everything is
// deterministic on the CPU (the layers are): the same inputs give the same bits.
#ifndef SAL360_NN_MODEL_H_
#define SAL360_NN_MODEL_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/buffer.h"
#include "nn/collective.h"
#include "nn/device.h"
#include "nn/init.h"
#include "nn/ops/batchnorm.h"
#include "nn/ops/spherical_conv.h"
#include "nn/params.h"
#include "nn/tensor.h"
#include "sphere/tables.h"

namespace sal360::nn {

struct ConvLayerSpec {
  const char* name;  // "conv1" ... "conv7"
  int cin, cout;
  int level;  // 0: full resolution, l: (H/2^l, W/2^l)
};
// The published input/target scale: saliency maps enter (the previous-map channel) and
// leave the network multiplied by 10. The one place this number lives; the loader takes
// it as data::LoaderOptions::map_scale, inference as infer/sequence.h's scale.
inline constexpr float kMapScale = 10.0f;

inline constexpr int kNumConvLayers = 7;
inline constexpr int kNumBatchNorms = 6;  // bn_i follows conv_i for i = 1..6
inline constexpr int kNumLevels = 4;
inline constexpr std::array<ConvLayerSpec, kNumConvLayers> kConvLayers = {{
    {"conv1", 4, 64, 0},
    {"conv2", 64, 128, 1},
    {"conv3", 128, 256, 2},
    {"conv4", 256, 256, 3},
    {"conv5", 512, 128, 2},
    {"conv6", 256, 64, 1},
    {"conv7", 128, 1, 0},
}};
inline constexpr int kModelInputChannels = 4;

// Which spherical tables the convolutions use (stored in checkpoints' metadata).
struct ModelConfig {
  sphere::TableMode table_mode = sphere::TableMode::kNearest;
  sphere::Convention convention = sphere::Convention::kPixelCentre;
};

// Optional per-layer timing for benchmarks: each layer's forward and backward work is
// bracketed by Begin/End with a stable name ("conv3", "bn3+relu", "pool2", "up5",
// "cat5", and "conv3.bwd", ...). The observer synchronises the device if it needs to.
class LayerObserver {
 public:
  virtual ~LayerObserver() = default;
  virtual void Begin(const char* layer) = 0;
  virtual void End(const char* layer) = 0;
};

// What a model at (n, H, W) needs in memory, computed from the shapes before anything is
// allocated (issue #18: refuse an impossible size with the estimate instead of dying in
// an allocation). workspace: exactly the activation and gradient buffers Forward
// allocates (workspace_bytes() after it, tested); tables: the four levels' gather and
// inverse tables on the device plus the process's host copies; scratch: an upper bound
// of the per-layer arena (one image's full column or z buffer of the widest layer);
// params: weights, gradients and two optimiser moments.
struct MemoryEstimate {
  int64_t workspace = 0, tables = 0, scratch = 0, params = 0;
  int64_t total() const { return workspace + tables + scratch + params; }
};
// Saturates at INT64_MAX instead of overflowing for absurd sizes.
MemoryEstimate EstimateMemory(int64_t n, int64_t h, int64_t w, sphere::TableMode mode);

class SphericalUNet {
 public:
  // Parameters start zeroed; call Initialize (or load a state dict) before use.
  SphericalUNet(Device device, ModelConfig config);
  ~SphericalUNet();
  SphericalUNet(const SphericalUNet&) = delete;
  SphericalUNet& operator=(const SphericalUNet&) = delete;

  // PyTorch's default initialisation (nn/init.h), drawn layer by layer in the order
  // conv1.weight, conv1.bias, conv2.weight, ...; BatchNorm weight 1, bias 0, running
  // statistics reset.
  void Initialize(Rng& rng);

  // x: (N,H,W,4) on device(). Returns the output (N,H,W,1), a view into the model's
  // buffers, valid until the next Forward. `training`: BatchNorm uses batch statistics
  // and updates its running statistics (num_batches_tracked += 1), and everything the
  // backward needs is kept; `x` must stay alive and unchanged until Backward.
  // Otherwise BatchNorm uses the running statistics. Aborts on a bad shape (callers
  // validate user input with CheckInputShape first).
  const Tensor& Forward(const Tensor& x, bool training);

  // dout: (N,H,W,1), dL/d(output) of the last training Forward. Accumulates "+=" into
  // params().grad(i). No gradient is computed for the input.
  void Backward(const Tensor& dout);

  // A preallocated (N,H,W,1) buffer shaped like the last Forward's output, for the
  // loss to write dL/d(output) into (so the training step allocates nothing).
  Tensor& output_grad();

  // OK when (N,H,W,C) is a valid input shape; the message says why not.
  static std::string CheckInputShape(const Shape& shape);

  Device device() const { return device_; }
  const ModelConfig& config() const { return config_; }
  ParamStore& params() { return params_; }
  const ParamStore& params() const { return params_; }
  // Index into params() of conv `i`'s weight/bias (i = 0..6) and bn `i`'s weight/bias
  // (i = 0..5).
  int conv_weight_index(int i) const { return conv_w_[i]; }
  int conv_bias_index(int i) const { return conv_b_[i]; }
  int bn_weight_index(int i) const { return bn_w_[i]; }
  int bn_bias_index(int i) const { return bn_b_[i]; }
  BatchNormStats& bn_stats(int i) { return bn_stats_[i]; }
  const BatchNormStats& bn_stats(int i) const { return bn_stats_[i]; }
  static int BatchNormChannels(int i) { return kConvLayers[i].cout; }

  void set_observer(LayerObserver* observer) { observer_ = observer; }
  // Data-parallel training: with a Collective, the training forward/backward of every
  // BatchNorm uses the statistics of all ranks (--sync_bn; nn/ops/batchnorm.h).
  void set_sync_batchnorm(Collective* sync) { sync_bn_ = sync; }
  // Called during Backward as soon as a layer's parameter gradients are final, with the
  // slab range [begin, end) (floats, params().grads_flat()) they occupy. Layers finish
  // from conv7 down to conv1, and each range ends where the previous one began, so the
  // ranges are suffixes of the slab growing toward 0 (gradient bucketing, dist/).
  void set_grad_ready_hook(std::function<void(int64_t begin, int64_t end)> hook) { grad_ready_ = std::move(hook); }
  // Bytes of activation + gradient buffers currently allocated (excluding the arena).
  int64_t workspace_bytes() const;

 private:
  struct Workspace;
  void EnsureWorkspace(int n, int h, int w);

  Device device_;
  ModelConfig config_;
  ParamStore params_;
  std::array<int, kNumConvLayers> conv_w_{}, conv_b_{};
  std::array<int, kNumBatchNorms> bn_w_{}, bn_b_{};
  std::vector<BatchNormStats> bn_stats_;
  std::unique_ptr<Workspace> ws_;
  LayerObserver* observer_ = nullptr;
  Collective* sync_bn_ = nullptr;
  std::function<void(int64_t, int64_t)> grad_ready_;
};

}  // namespace sal360::nn

#endif  // SAL360_NN_MODEL_H_

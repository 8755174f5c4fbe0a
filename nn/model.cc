#include "nn/model.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nn/ops/check_args.h"
#include "nn/ops/concat.h"
#include "nn/ops/elementwise.h"
#include "nn/ops/pool.h"

namespace sal360::nn {

// Buffers for one (H, W) and a batch capacity. Activations (level l has H/2^l x W/2^l
// pixels; channel counts in brackets):
//   level 0: c1 [64] (conv1 out), e1 [64] (bn1+relu), cat7 [128], out [1], dout [1]
//   level 1: p1 [64], c2 [128], e2 [128], cat6 [256], c6 [64], e6 [64]
//   level 2: p2 [128], c3 [256], e3 [256], cat5 [512], c5 [128], e5 [128]
//   level 3: p3 [256], c4 [256], e4 [256]
// Gradient workspace, three slots per level (A, B, C) reused in this schedule (dX of
// one step is dead before the slot is written again):
//   L0: A[128] dcat7 → de1 | B[64] du6 → dc1 | C[64] de1(skip part)
//   L1: A[256] dcat6 → de2 | B[128] de6 → du5 → dc2 | C[128] dc6 → de2(skip) → dp1
//   L2: A[512] dcat5 → de3 | B[256] de5 → du4 → dc3 | C[256] dc5 → de3(skip) → dp2
//   L3: A[256] de4 → dp3   | B[256] dc4
// During the forward, u4 = up(e4) lives in L2.B, u5 in L1.B and u6 in L0.B.
struct SphericalUNet::Workspace {
  int h = 0, w = 0, capacity = 0;  // allocation: (capacity, h, w)
  int n = 0;                       // batch of the current views
  std::array<ConvTable, kNumLevels> tables;

  // Owning storage, each sized for `capacity` images.
  std::array<Tensor, kNumConvLayers> c_mem;  // conv outputs (c7 is the network output)
  std::array<Tensor, kNumBatchNorms> e_mem;  // bn + relu outputs
  std::array<Tensor, 3> p_mem;               // pools of e1, e2, e3
  std::array<Tensor, 3> cat_mem;             // cat5, cat6, cat7
  std::array<Buffer, 3> argmax;              // int32, like p_mem
  Tensor dout_mem;
  std::array<std::array<Tensor, 3>, kNumLevels> g_mem;  // gradient slots A, B, C per level
  std::array<std::array<int, 3>, kNumLevels> g_channels{};

  // Views for the current batch n.
  std::array<Tensor, kNumConvLayers> c;
  std::array<Tensor, kNumBatchNorms> e;
  std::array<Tensor, 3> p, cat;
  Tensor dout;
  std::array<BatchNormCache, kNumBatchNorms> bn_cache;

  const Tensor* input = nullptr;  // of the last training Forward
  bool have_training_forward = false;

  int lh(int level) const { return h >> level; }
  int lw(int level) const { return w >> level; }
  Shape LevelShape(int level, int channels) const { return Shape{n, lh(level), lw(level), channels}; }

  // A view of gradient slot `slot` of `level` with `channels` channels.
  Tensor G(int level, int slot, int channels) {
    SAL_NN_CHECK(channels <= g_channels[level][slot], "gradient slot %d.%d holds %d channels, asked %d",
                 level, slot, g_channels[level][slot], channels);
    Tensor& mem = g_mem[level][slot];
    return Tensor::View(mem.data(), LevelShape(level, channels), mem.device());
  }
  int64_t bytes() const {
    int64_t total = 0;
    auto add = [&](const Tensor& t) { total += t.numel() * 4; };
    for (const Tensor& t : c_mem) add(t);
    for (const Tensor& t : e_mem) add(t);
    for (const Tensor& t : p_mem) add(t);
    for (const Tensor& t : cat_mem) add(t);
    for (const Buffer& b : argmax) total += static_cast<int64_t>(b.bytes());
    add(dout_mem);
    for (const auto& level : g_mem) {
      for (const Tensor& t : level) add(t);
    }
    return total;
  }
};

namespace {

// Level of each BatchNorm's input and its position in the e-buffers: bn_i follows conv_i.
constexpr int kPoolChannels[3] = {64, 128, 256};
constexpr int kCatChannels[3] = {512, 256, 128};  // cat5 (level 2), cat6 (level 1), cat7 (level 0)
constexpr int kCatLevel[3] = {2, 1, 0};
constexpr int kGradSlotChannels[kNumLevels][3] = {
    {128, 64, 64}, {256, 128, 128}, {512, 256, 256}, {256, 256, 0}};

class Scoped {
 public:
  Scoped(LayerObserver* o, const char* name) : o_(o), name_(name) {
    if (o_ != nullptr) o_->Begin(name_);
  }
  ~Scoped() {
    if (o_ != nullptr) o_->End(name_);
  }
  Scoped(const Scoped&) = delete;
  Scoped& operator=(const Scoped&) = delete;

 private:
  LayerObserver* o_;
  const char* name_;
};

constexpr const char* kBnReluNames[kNumBatchNorms] = {"bn1+relu", "bn2+relu", "bn3+relu",
                                                      "bn4+relu", "bn5+relu", "bn6+relu"};
constexpr const char* kConvBwdNames[kNumConvLayers] = {"conv1.bwd", "conv2.bwd", "conv3.bwd",
                                                       "conv4.bwd", "conv5.bwd", "conv6.bwd",
                                                       "conv7.bwd"};
constexpr const char* kBnReluBwdNames[kNumBatchNorms] = {
    "bn1+relu.bwd", "bn2+relu.bwd", "bn3+relu.bwd", "bn4+relu.bwd", "bn5+relu.bwd", "bn6+relu.bwd"};

std::vector<std::pair<std::string, Shape>> ParamSpecs() {
  std::vector<std::pair<std::string, Shape>> specs;
  for (int i = 0; i < kNumConvLayers; ++i) {
    const ConvLayerSpec& l = kConvLayers[i];
    specs.emplace_back(absl::StrCat(l.name, ".weight"), Shape{9, 1, l.cin, l.cout});
    specs.emplace_back(absl::StrCat(l.name, ".bias"), Shape{1, 1, 1, l.cout});
    if (i < kNumBatchNorms) {
      specs.emplace_back(absl::StrCat("bn", i + 1, ".weight"), Shape{1, 1, 1, l.cout});
      specs.emplace_back(absl::StrCat("bn", i + 1, ".bias"), Shape{1, 1, 1, l.cout});
    }
  }
  return specs;
}

}  // namespace

SphericalUNet::SphericalUNet(Device device, ModelConfig config)
    : device_(device), config_(config), params_(device, ParamSpecs()) {
  for (int i = 0; i < kNumConvLayers; ++i) {
    conv_w_[i] = params_.Find(absl::StrCat(kConvLayers[i].name, ".weight"));
    conv_b_[i] = params_.Find(absl::StrCat(kConvLayers[i].name, ".bias"));
  }
  for (int i = 0; i < kNumBatchNorms; ++i) {
    bn_w_[i] = params_.Find(absl::StrCat("bn", i + 1, ".weight"));
    bn_b_[i] = params_.Find(absl::StrCat("bn", i + 1, ".bias"));
    bn_stats_.push_back(BatchNormStats::Create(BatchNormChannels(i), device));
  }
}

SphericalUNet::~SphericalUNet() = default;

void SphericalUNet::Initialize(Rng& rng) {
  for (int i = 0; i < kNumConvLayers; ++i) {
    const int fan_in = 9 * kConvLayers[i].cin;
    InitConvKaimingUniform(params_.param(conv_w_[i]), fan_in, rng);
    InitUniform(params_.param(conv_b_[i]),
                static_cast<float>(1.0 / std::sqrt(static_cast<double>(fan_in))), rng);
  }
  for (int i = 0; i < kNumBatchNorms; ++i) {
    InitBatchNormAffine(params_.param(bn_w_[i]), params_.param(bn_b_[i]));
    bn_stats_[i] = BatchNormStats::Create(BatchNormChannels(i), device_);
  }
}

std::string SphericalUNet::CheckInputShape(const Shape& s) {
  if (s.n < 1) return absl::StrCat("batch size must be at least 1, got ", s.n);
  if (s.c != kModelInputChannels) {
    return absl::StrCat("input must have ", kModelInputChannels,
                        " channels (RGB + previous map), got ", s.c);
  }
  if (s.h < 16 || s.w < 16 || s.h % 8 != 0 || s.w % 8 != 0) {
    return absl::StrCat("height and width must be multiples of 8 and at least 16 (three 2x2 ",
                        "poolings), got ", s.h, "x", s.w);
  }
  return "";
}

void SphericalUNet::EnsureWorkspace(int n, int h, int w) {
  if (ws_ == nullptr || ws_->h != h || ws_->w != w || ws_->capacity < n) {
    auto ws = std::make_unique<Workspace>();
    ws->h = h;
    ws->w = w;
    ws->capacity = (ws_ != nullptr && ws_->h == h && ws_->w == w) ? std::max(n, ws_->capacity) : n;
    if (ws_ != nullptr && ws_->h == h && ws_->w == w) {
      ws->tables = std::move(ws_->tables);
    } else {
      for (int l = 0; l < kNumLevels; ++l) {
        sphere::TableSpec spec;
        spec.height = h >> l;
        spec.width = w >> l;
        spec.mode = config_.table_mode;
        spec.convention = config_.convention;
        ws->tables[l] = ConvTable::Create(spec, device_);
      }
    }
    ws_.reset();  // release the old buffers before allocating the new ones
    const int cap = ws->capacity;
    auto alloc = [&](int level, int channels) {
      return Tensor(Shape{cap, h >> level, w >> level, channels}, device_);
    };
    for (int i = 0; i < kNumConvLayers; ++i) ws->c_mem[i] = alloc(kConvLayers[i].level, kConvLayers[i].cout);
    for (int i = 0; i < kNumBatchNorms; ++i) ws->e_mem[i] = alloc(kConvLayers[i].level, kConvLayers[i].cout);
    for (int i = 0; i < 3; ++i) {
      ws->p_mem[i] = alloc(i + 1, kPoolChannels[i]);
      ws->argmax[i] = Buffer(device_, static_cast<size_t>(ws->p_mem[i].numel()) * sizeof(int32_t));
      ws->cat_mem[i] = alloc(kCatLevel[i], kCatChannels[i]);
    }
    ws->dout_mem = alloc(0, 1);
    for (int l = 0; l < kNumLevels; ++l) {
      for (int s = 0; s < 3; ++s) {
        ws->g_channels[l][s] = kGradSlotChannels[l][s];
        if (kGradSlotChannels[l][s] > 0) ws->g_mem[l][s] = alloc(l, kGradSlotChannels[l][s]);
      }
    }
    ws_ = std::move(ws);
  }
  Workspace& s = *ws_;
  if (s.n == n) return;
  s.n = n;
  auto view = [&](Tensor& mem, int level, int channels) {
    return Tensor::View(mem.data(), s.LevelShape(level, channels), device_);
  };
  for (int i = 0; i < kNumConvLayers; ++i) {
    s.c[i] = view(s.c_mem[i], kConvLayers[i].level, kConvLayers[i].cout);
  }
  for (int i = 0; i < kNumBatchNorms; ++i) {
    s.e[i] = view(s.e_mem[i], kConvLayers[i].level, kConvLayers[i].cout);
  }
  for (int i = 0; i < 3; ++i) {
    s.p[i] = view(s.p_mem[i], i + 1, kPoolChannels[i]);
    s.cat[i] = view(s.cat_mem[i], kCatLevel[i], kCatChannels[i]);
  }
  s.dout = view(s.dout_mem, 0, 1);
  s.have_training_forward = false;
}

int64_t SphericalUNet::workspace_bytes() const { return ws_ == nullptr ? 0 : ws_->bytes(); }

Tensor& SphericalUNet::output_grad() {
  SAL_NN_CHECK(ws_ != nullptr, "SphericalUNet::output_grad before the first Forward");
  return ws_->dout;
}

const Tensor& SphericalUNet::Forward(const Tensor& x, bool training) {
  const std::string bad = CheckInputShape(x.shape());
  SAL_NN_CHECK(bad.empty(), "SphericalUNet::Forward: %s", bad.c_str());
  SAL_NN_CHECK(x.device() == device_, "SphericalUNet::Forward: input on %s, model on %s",
               DeviceName(x.device()), DeviceName(device_));
  EnsureWorkspace(x.shape().n, x.shape().h, x.shape().w);
  Workspace& s = *ws_;
  LayerObserver* const o = observer_;

  auto conv = [&](int i, const Tensor& in, Tensor& out) {
    Scoped scope(o, kConvLayers[i].name);
    SphericalConvForward(s.tables[kConvLayers[i].level], in, params_.param(conv_w_[i]),
                         params_.param(conv_b_[i]), out);
  };
  auto bn_relu = [&](int i) {
    Scoped scope(o, kBnReluNames[i]);
    Tensor& gamma = params_.param(bn_w_[i]);
    Tensor& beta = params_.param(bn_b_[i]);
    if (training) {
      BatchNormForwardTrain(s.c[i], gamma, beta, bn_stats_[i], s.bn_cache[i], s.e[i]);
    } else {
      BatchNormForwardEval(s.c[i], gamma, beta, bn_stats_[i], s.e[i]);
    }
    ReluForward(s.e[i], s.e[i]);
  };
  auto pool = [&](int i) {  // pool of e_{i+1} into p_{i+1}
    static constexpr const char* kNames[3] = {"pool1", "pool2", "pool3"};
    Scoped scope(o, kNames[i]);
    MaxPool2x2Forward(s.e[i], s.p[i], s.argmax[i]);
  };
  // up(e_src) into gradient slot B of `level`, then cat with the skip e_skip.
  auto up_cat = [&](int k, int src, int skip) {
    static constexpr const char* kUp[3] = {"up5", "up6", "up7"};
    static constexpr const char* kCat[3] = {"cat5", "cat6", "cat7"};
    const int level = kCatLevel[k];
    Tensor u = s.G(level, 1, s.e[src].shape().c);
    {
      Scoped scope(o, kUp[k]);
      UpsampleNearest2xForward(s.e[src], u);
    }
    Scoped scope(o, kCat[k]);
    ConcatChannelsForward(u, s.e[skip], s.cat[k]);
  };

  conv(0, x, s.c[0]);  // (N,H,W,64)
  bn_relu(0);
  pool(0);             // (N,H/2,W/2,64)
  conv(1, s.p[0], s.c[1]);  // (N,H/2,W/2,128)
  bn_relu(1);
  pool(1);
  conv(2, s.p[1], s.c[2]);  // (N,H/4,W/4,256)
  bn_relu(2);
  pool(2);
  conv(3, s.p[2], s.c[3]);  // (N,H/8,W/8,256)
  bn_relu(3);
  up_cat(0, 3, 2);          // cat5 (N,H/4,W/4,512) = [up(e4) | e3]
  conv(4, s.cat[0], s.c[4]);  // (N,H/4,W/4,128)
  bn_relu(4);
  up_cat(1, 4, 1);          // cat6 (N,H/2,W/2,256) = [up(e5) | e2]
  conv(5, s.cat[1], s.c[5]);  // (N,H/2,W/2,64)
  bn_relu(5);
  up_cat(2, 5, 0);          // cat7 (N,H,W,128) = [up(e6) | e1]
  conv(6, s.cat[2], s.c[6]);  // (N,H,W,1)

  s.input = training ? &x : nullptr;
  s.have_training_forward = training;
  return s.c[6];
}

void SphericalUNet::Backward(const Tensor& dout) {
  SAL_NN_CHECK(ws_ != nullptr && ws_->have_training_forward,
               "SphericalUNet::Backward needs a training Forward first");
  Workspace& s = *ws_;
  SAL_NN_CHECK(dout.shape() == s.c[6].shape(), "SphericalUNet::Backward: dout %s, output %s",
               dout.shape().ToString().c_str(), s.c[6].shape().ToString().c_str());
  LayerObserver* const o = observer_;

  auto conv_bwd = [&](int i, const Tensor& in, const Tensor& dy, Tensor* dx) {
    Scoped scope(o, kConvBwdNames[i]);
    SphericalConvBackward(s.tables[kConvLayers[i].level], in, params_.param(conv_w_[i]), dy, dx,
                          params_.grad(conv_w_[i]), params_.grad(conv_b_[i]));
  };
  // de (the gradient w.r.t. e_i, overwritten in place with the one w.r.t. bn's output)
  // -> dc (w.r.t. conv_i's output).
  auto bn_relu_bwd = [&](int i, Tensor& de, Tensor& dc) {
    Scoped scope(o, kBnReluBwdNames[i]);
    ReluBackward(s.e[i], de, de);
    BatchNormBackward(s.c[i], params_.param(bn_w_[i]), s.bn_cache[i], de, dc,
                      params_.grad(bn_w_[i]), params_.grad(bn_b_[i]));
  };
  auto cat_up_bwd = [&](int k, const Tensor& dcat, Tensor& du, Tensor& dskip, Tensor& de_src) {
    static constexpr const char* kUp[3] = {"up5.bwd", "up6.bwd", "up7.bwd"};
    static constexpr const char* kCat[3] = {"cat5.bwd", "cat6.bwd", "cat7.bwd"};
    {
      Scoped scope(o, kCat[k]);
      ConcatChannelsBackward(dcat, du, dskip);
    }
    Scoped scope(o, kUp[k]);
    UpsampleNearest2xBackward(du, de_src);
  };
  auto pool_bwd_add = [&](int i, const Tensor& dp, Tensor& de, const Tensor& dskip) {
    static constexpr const char* kNames[3] = {"pool1.bwd", "pool2.bwd", "pool3.bwd"};
    Scoped scope(o, kNames[i]);
    MaxPool2x2Backward(dp, s.argmax[i], de);
    Axpy(1.0f, dskip, de);
  };

  // Level 0 → 1: conv7, cat7, up(e6).
  Tensor dcat7 = s.G(0, 0, 128);
  conv_bwd(6, s.cat[2], dout, &dcat7);
  Tensor du6 = s.G(0, 1, 64), de1_skip = s.G(0, 2, 64);
  Tensor de6 = s.G(1, 1, 64);
  cat_up_bwd(2, dcat7, du6, de1_skip, de6);
  // Level 1: bn6, conv6, cat6, up(e5).
  Tensor dc6 = s.G(1, 2, 64);
  bn_relu_bwd(5, de6, dc6);
  Tensor dcat6 = s.G(1, 0, 256);
  conv_bwd(5, s.cat[1], dc6, &dcat6);
  Tensor du5 = s.G(1, 1, 128), de2_skip = s.G(1, 2, 128);
  Tensor de5 = s.G(2, 1, 128);
  cat_up_bwd(1, dcat6, du5, de2_skip, de5);
  // Level 2: bn5, conv5, cat5, up(e4).
  Tensor dc5 = s.G(2, 2, 128);
  bn_relu_bwd(4, de5, dc5);
  Tensor dcat5 = s.G(2, 0, 512);
  conv_bwd(4, s.cat[0], dc5, &dcat5);
  Tensor du4 = s.G(2, 1, 256), de3_skip = s.G(2, 2, 256);
  Tensor de4 = s.G(3, 0, 256);
  cat_up_bwd(0, dcat5, du4, de3_skip, de4);
  // Level 3: bn4, conv4, pool3.
  Tensor dc4 = s.G(3, 1, 256);
  bn_relu_bwd(3, de4, dc4);
  Tensor dp3 = s.G(3, 0, 256);
  conv_bwd(3, s.p[2], dc4, &dp3);
  // Level 2: e3 gets the pool3 gradient plus the skip's; bn3, conv3, pool2.
  Tensor de3 = s.G(2, 0, 256);
  pool_bwd_add(2, dp3, de3, de3_skip);
  Tensor dc3 = s.G(2, 1, 256);
  bn_relu_bwd(2, de3, dc3);
  Tensor dp2 = s.G(2, 2, 128);
  conv_bwd(2, s.p[1], dc3, &dp2);
  // Level 1: e2; bn2, conv2, pool1.
  Tensor de2 = s.G(1, 0, 128);
  pool_bwd_add(1, dp2, de2, de2_skip);
  Tensor dc2 = s.G(1, 1, 128);
  bn_relu_bwd(1, de2, dc2);
  Tensor dp1 = s.G(1, 2, 64);
  conv_bwd(1, s.p[0], dc2, &dp1);
  // Level 0: e1; bn1, conv1 (no input gradient).
  Tensor de1 = s.G(0, 0, 64);
  pool_bwd_add(0, dp1, de1, de1_skip);
  Tensor dc1 = s.G(0, 1, 64);
  bn_relu_bwd(0, de1, dc1);
  conv_bwd(0, *s.input, dc1, nullptr);
}

}  // namespace sal360::nn

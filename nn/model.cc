#include "nn/model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nn/ops/check_args.h"
#include "nn/ops/concat.h"
#include "nn/ops/elementwise.h"
#include "nn/ops/pool.h"

namespace sal360::nn {

// Buffers for one (H, W) and a batch capacity. Activations (level l has H/2^l x W/2^l
// pixels; channel counts in brackets):
//   level 0: e1 [64] (bn1+relu), out [1], dout [1]; c1 [64] (conv1 out) is a tenant of
//            slot C below, not a buffer of its own

//   level 1: p1 [64], c2 [128], e2 [128], cat6 [256], c6 [64], e6 [64]
//   level 2: p2 [128], c3 [256], e3 [256], cat5 [512], c5 [128], e5 [128]
//   level 3: p3 [256], c4 [256], e4 [256]
// conv7 reads [up(e6) | e1] without forming it (SphericalConvUpCat*: no cat7 [128] and no
// up(e6) at level 0, and its backward writes de6 and de1_skip directly), which took the
// two widest level-0 buffers, 118 MB per 240x480 image, out of the workspace (issue #19).
// The gradient workspace: three slots per level (A, B, C). Every gradient of the
// backward, and in the forward each upsampled map, is a named tenant of one slot from
// its first write to its last read; kGradPlan below is the one place that assigns them,
// and each slot is sized for its widest tenant. Workspace::Take checks that a slot is
// free (its last tenant was Released) before handing it out, so a schedule that would
// overwrite a live gradient aborts instead of computing garbage; in debug builds (no
// NDEBUG, which includes the tests) Release also fills the dead tenant with NaN, so any
// read after the last one poisons the gradients the tests compare.
//   L0: A de1                  | B dc1                        | C c1 (fwd), de1_skip, c1 (recomputed)
// c1 is needed twice: by bn1's forward, and by its backward at the very end, when slot C
// is free again; in between it would be the widest buffer of level 0. So the backward
// recomputes it (conv1's forward again, on the kept input: the same bits, ~1% of a
// training step) instead of keeping it (issue #19: 29.5 MB per 240x480 image).
//   L1: A dcat6 → de2          | B u5 (fwd), de6 → du5 → dc2  | C dc6 → de2_skip → dp1
//   L2: A dcat5 → de3          | B u4 (fwd), de5 → du4 → dc3  | C dc5 → de3_skip → dp2
//   L3: A de4 → dp3            | B dc4
namespace {

enum Slot { kSlotA = 0, kSlotB = 1, kSlotC = 2, kSlotsPerLevel = 3 };
enum GradBuffer {
  kC1,       // conv1's output, in the forward and recomputed at the end of the backward
  kU4, kU5,  // forward: up(e4), up(e5) before their concatenation
  kDe1Skip, kDe6, kDc6, kDcat6, kDu5, kDe2Skip, kDe5, kDc5, kDcat5, kDu4, kDe3Skip,
  kDe4, kDc4, kDp3, kDe3, kDc3, kDp2, kDe2, kDc2, kDp1, kDe1, kDc1,
  kNumGradBuffers
};
struct GradBufferSpec {
  const char* name;
  int level, slot, channels;
};
constexpr GradBufferSpec kGradPlan[kNumGradBuffers] = {
    {"c1", 0, kSlotC, 64},
    {"u4", 2, kSlotB, 256},       {"u5", 1, kSlotB, 128},       {"de1_skip", 0, kSlotC, 64},
    {"de6", 1, kSlotB, 64},       {"dc6", 1, kSlotC, 64},       {"dcat6", 1, kSlotA, 256},
    {"du5", 1, kSlotB, 128},      {"de2_skip", 1, kSlotC, 128}, {"de5", 2, kSlotB, 128},
    {"dc5", 2, kSlotC, 128},      {"dcat5", 2, kSlotA, 512},    {"du4", 2, kSlotB, 256},
    {"de3_skip", 2, kSlotC, 256}, {"de4", 3, kSlotA, 256},      {"dc4", 3, kSlotB, 256},
    {"dp3", 3, kSlotA, 256},      {"de3", 2, kSlotA, 256},      {"dc3", 2, kSlotB, 256},
    {"dp2", 2, kSlotC, 128},      {"de2", 1, kSlotA, 128},      {"dc2", 1, kSlotB, 128},
    {"dp1", 1, kSlotC, 64},       {"de1", 0, kSlotA, 64},       {"dc1", 0, kSlotB, 64},
};

// Channels of each slot: its widest tenant (0 = unused).
constexpr int SlotChannels(int level, int slot) {
  int c = 0;
  for (const GradBufferSpec& b : kGradPlan) {
    if (b.level == level && b.slot == slot && b.channels > c) c = b.channels;
  }
  return c;
}

constexpr int kNumCats = 2;  // cat5, cat6 (conv7 reads its two inputs without a cat7)

#ifdef NDEBUG
constexpr bool kPoisonDeadGradients = false;
#else
constexpr bool kPoisonDeadGradients = true;
#endif

}  // namespace

struct SphericalUNet::Workspace {
  int h = 0, w = 0, capacity = 0;  // allocation: (capacity, h, w)
  int n = 0;                       // batch of the current views
  std::array<ConvTable, kNumLevels> tables;

  // Owning storage, each sized for `capacity` images.
  std::array<Tensor, kNumConvLayers> c_mem;  // conv outputs (c7 is the network output)
  std::array<Tensor, kNumBatchNorms> e_mem;  // bn + relu outputs
  std::array<Tensor, 3> p_mem;               // pools of e1, e2, e3
  std::array<Tensor, kNumCats> cat_mem;      // cat5, cat6
  std::array<Buffer, 3> argmax;              // int32, like p_mem
  Tensor dout_mem;
  std::array<std::array<Tensor, kSlotsPerLevel>, kNumLevels> g_mem;  // gradient slots A, B, C per level
  // The tenant of each slot (kNumGradBuffers = free).
  std::array<std::array<int, kSlotsPerLevel>, kNumLevels> g_tenant;

  // Views for the current batch n.
  std::array<Tensor, kNumConvLayers> c;
  std::array<Tensor, kNumBatchNorms> e;
  std::array<Tensor, 3> p;
  std::array<Tensor, kNumCats> cat;
  Tensor dout;
  std::array<BatchNormCache, kNumBatchNorms> bn_cache;

  const Tensor* input = nullptr;  // of the last training Forward
  bool have_training_forward = false;

  int lh(int level) const { return h >> level; }
  int lw(int level) const { return w >> level; }
  Shape LevelShape(int level, int channels) const { return Shape{n, lh(level), lw(level), channels}; }

  // The slot of `b` (kGradPlan) as a view of the current batch; the slot must be free.
  Tensor Take(GradBuffer b) {
    const GradBufferSpec& spec = kGradPlan[b];
    int& tenant = g_tenant[spec.level][spec.slot];
    SAL_NN_CHECK(tenant == kNumGradBuffers, "gradient buffer %s: slot %d.%d still holds %s", spec.name,
                 spec.level, spec.slot, tenant < kNumGradBuffers ? kGradPlan[tenant].name : "?");
    tenant = b;
    Tensor& mem = g_mem[spec.level][spec.slot];
    return Tensor::View(mem.data(), LevelShape(spec.level, spec.channels), mem.device());
  }
  // Ends the life of `b` (which must hold its slot); poisons it in debug builds.
  void Release(GradBuffer b, Tensor& view) {
    const GradBufferSpec& spec = kGradPlan[b];
    int& tenant = g_tenant[spec.level][spec.slot];
    SAL_NN_CHECK(tenant == b, "gradient buffer %s released but slot %d.%d holds %s", spec.name, spec.level,
                 spec.slot, tenant < kNumGradBuffers ? kGradPlan[tenant].name : "nothing");
    tenant = kNumGradBuffers;
    if (kPoisonDeadGradients) Fill(view, std::numeric_limits<float>::quiet_NaN());
  }
  void FreeAllSlots() {
    for (auto& level : g_tenant) level.fill(kNumGradBuffers);
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
constexpr int kCatChannels[kNumCats] = {512, 256};  // cat5 (level 2), cat6 (level 1)
constexpr int kCatLevel[kNumCats] = {2, 1};

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
    for (int i = 1; i < kNumConvLayers; ++i) ws->c_mem[i] = alloc(kConvLayers[i].level, kConvLayers[i].cout);
    for (int i = 0; i < kNumBatchNorms; ++i) ws->e_mem[i] = alloc(kConvLayers[i].level, kConvLayers[i].cout);
    for (int i = 0; i < 3; ++i) {
      ws->p_mem[i] = alloc(i + 1, kPoolChannels[i]);
      ws->argmax[i] = Buffer(device_, static_cast<size_t>(ws->p_mem[i].numel()) * sizeof(int32_t));
    }
    for (int i = 0; i < kNumCats; ++i) ws->cat_mem[i] = alloc(kCatLevel[i], kCatChannels[i]);
    ws->dout_mem = alloc(0, 1);
    for (int l = 0; l < kNumLevels; ++l) {
      for (int s = 0; s < kSlotsPerLevel; ++s) {
        if (SlotChannels(l, s) > 0) ws->g_mem[l][s] = alloc(l, SlotChannels(l, s));
      }
    }
    ws->FreeAllSlots();
    ws_ = std::move(ws);
  }
  Workspace& s = *ws_;
  if (s.n == n) return;
  s.n = n;
  auto view = [&](Tensor& mem, int level, int channels) {
    return Tensor::View(mem.data(), s.LevelShape(level, channels), device_);
  };
  for (int i = 1; i < kNumConvLayers; ++i) {
    s.c[i] = view(s.c_mem[i], kConvLayers[i].level, kConvLayers[i].cout);
  }
  s.c[0] = view(s.g_mem[0][kSlotC], 0, kConvLayers[0].cout);  // tenant kC1 of slot 0.C
  for (int i = 0; i < kNumBatchNorms; ++i) {
    s.e[i] = view(s.e_mem[i], kConvLayers[i].level, kConvLayers[i].cout);
  }
  for (int i = 0; i < 3; ++i) {
    s.p[i] = view(s.p_mem[i], i + 1, kPoolChannels[i]);
  }
  for (int i = 0; i < kNumCats; ++i) s.cat[i] = view(s.cat_mem[i], kCatLevel[i], kCatChannels[i]);
  s.dout = view(s.dout_mem, 0, 1);
  s.have_training_forward = false;
}

int64_t SphericalUNet::workspace_bytes() const { return ws_ == nullptr ? 0 : ws_->bytes(); }

MemoryEstimate EstimateMemory(int64_t n, int64_t h, int64_t w, sphere::TableMode mode) {
  // In long double, then saturated: 100000x200000 must give "1.3 PiB", not a wrap-around.
  auto level_pixels = [&](int level) { return static_cast<long double>(h >> level) * (w >> level); };
  long double ws = 0;  // floats, mirroring EnsureWorkspace's allocations
  // conv outputs; c1 lives in a gradient slot (counted below)
  for (int i = 1; i < kNumConvLayers; ++i) ws += n * level_pixels(kConvLayers[i].level) * kConvLayers[i].cout;
  for (int i = 0; i < kNumBatchNorms; ++i) ws += n * level_pixels(kConvLayers[i].level) * kConvLayers[i].cout;
  for (int i = 0; i < 3; ++i) {
    ws += 2 * n * level_pixels(i + 1) * kPoolChannels[i];  // pooled map + its int32 argmax
  }
  for (int i = 0; i < kNumCats; ++i) ws += n * level_pixels(kCatLevel[i]) * kCatChannels[i];
  ws += n * level_pixels(0);  // dout
  for (int l = 0; l < kNumLevels; ++l) {
    for (int slot = 0; slot < kSlotsPerLevel; ++slot) ws += n * level_pixels(l) * SlotChannels(l, slot);
  }
  const int taps = mode == sphere::TableMode::kBilinear ? 4 : 1;
  long double tables = 0, scratch = 0;
  for (int l = 0; l < kNumLevels; ++l) {
    // Device: src + weight + inverse rows + weights (9·taps each, 4 bytes) + offsets;
    // host: the cached gather and inverse tables, about as much again.
    tables += level_pixels(l) * (2 * (4.0L * 9 * taps * 4 + 4));
  }
  for (const ConvLayerSpec& l : kConvLayers) {
    scratch = std::max(scratch, level_pixels(l.level) * 9 * std::max(l.cin, l.cout) * 4);
  }
  int64_t param_floats = 0;
  for (const ConvLayerSpec& l : kConvLayers) param_floats += 9 * l.cin * l.cout + l.cout + 2 * l.cout;
  auto sat = [](long double bytes) {
    return bytes >= static_cast<long double>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(bytes);
  };
  MemoryEstimate e;
  e.workspace = sat(ws * 4);
  e.tables = sat(tables);
  e.scratch = sat(scratch + (int64_t{4} << 20));  // + a gather block (4 MiB)
  e.params = param_floats * 4 * 4;
  if (e.workspace == INT64_MAX || e.tables == INT64_MAX || e.scratch == INT64_MAX ||
      e.workspace > INT64_MAX / 4 - e.tables - e.scratch - e.params) {
    e.workspace = INT64_MAX / 4;  // total() stays representable
  }
  return e;
}

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
      BatchNormReluForwardTrain(s.c[i], gamma, beta, bn_stats_[i], s.bn_cache[i], s.e[i], 0.1f, 1e-5f,
                                sync_bn_);
    } else {
      BatchNormReluForwardEval(s.c[i], gamma, beta, bn_stats_[i], s.e[i]);
    }
  };
  auto pool = [&](int i) {  // pool of e_{i+1} into p_{i+1}
    static constexpr const char* kNames[3] = {"pool1", "pool2", "pool3"};
    Scoped scope(o, kNames[i]);
    MaxPool2x2Forward(s.e[i], s.p[i], s.argmax[i]);
  };
  // up(e_src) into gradient slot B of `level`, then cat with the skip e_skip.
  auto up_cat = [&](int k, int src, int skip) {
    static constexpr const char* kUp[2] = {"up5", "up6"};
    static constexpr const char* kCat[2] = {"cat5", "cat6"};
    static constexpr GradBuffer kU[2] = {kU4, kU5};
    Tensor u = s.Take(kU[k]);
    {
      Scoped scope(o, kUp[k]);
      UpsampleNearest2xForward(s.e[src], u);
    }
    {
      Scoped scope(o, kCat[k]);
      ConcatChannelsForward(u, s.e[skip], s.cat[k]);
    }
    s.Release(kU[k], u);
  };

  Tensor c1 = s.Take(kC1);  // = s.c[0]
  conv(0, x, c1);           // (N,H,W,64)
  bn_relu(0);
  s.Release(kC1, c1);
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
  {                         // conv7 over [up(e6) | e1] (N,H,W,128), never formed
    Scoped scope(o, kConvLayers[6].name);
    SphericalConvUpCatForward(s.tables[0], s.e[5], s.e[0], params_.param(conv_w_[6]),
                              params_.param(conv_b_[6]), s.c[6]);  // (N,H,W,1)
  }

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
    if (grad_ready_) {
      // conv_i's and bn_i's parameters (their backward ran first) lie in one range.
      const int64_t end = i + 1 < kNumConvLayers ? params_.offset(conv_w_[i + 1]) : params_.total();
      grad_ready_(params_.offset(conv_w_[i]), end);
    }
  };
  // de (the gradient w.r.t. e_i; scratch afterwards) -> dc (w.r.t. conv_i's output).
  auto bn_relu_bwd = [&](int i, Tensor& de, Tensor& dc) {
    Scoped scope(o, kBnReluBwdNames[i]);
    BatchNormReluBackward(s.c[i], s.e[i], params_.param(bn_w_[i]), s.bn_cache[i], de, dc,
                          params_.grad(bn_w_[i]), params_.grad(bn_b_[i]), sync_bn_);
  };
  auto cat_up_bwd = [&](int k, const Tensor& dcat, Tensor& du, Tensor& dskip, Tensor& de_src) {
    static constexpr const char* kUp[2] = {"up5.bwd", "up6.bwd"};
    static constexpr const char* kCat[2] = {"cat5.bwd", "cat6.bwd"};
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

  // Each gradient is taken from its slot before its first write and released after its
  // last read (kGradPlan).
  // Level 0 → 1: conv7 over [up(e6) | e1] gives de6 and e1's skip gradient directly.
  Tensor de1_skip = s.Take(kDe1Skip);
  Tensor de6 = s.Take(kDe6);
  {
    Scoped scope(o, kConvBwdNames[6]);
    SphericalConvUpCatBackward(s.tables[0], s.e[5], s.e[0], params_.param(conv_w_[6]), dout, de6,
                               de1_skip, params_.grad(conv_w_[6]), params_.grad(conv_b_[6]));
    if (grad_ready_) grad_ready_(params_.offset(conv_w_[6]), params_.total());
  }
  // Level 1: bn6, conv6, cat6, up(e5).
  Tensor dc6 = s.Take(kDc6);
  bn_relu_bwd(5, de6, dc6);
  s.Release(kDe6, de6);
  Tensor dcat6 = s.Take(kDcat6);
  conv_bwd(5, s.cat[1], dc6, &dcat6);
  s.Release(kDc6, dc6);
  Tensor du5 = s.Take(kDu5), de2_skip = s.Take(kDe2Skip);
  Tensor de5 = s.Take(kDe5);
  cat_up_bwd(1, dcat6, du5, de2_skip, de5);
  s.Release(kDcat6, dcat6);
  s.Release(kDu5, du5);
  // Level 2: bn5, conv5, cat5, up(e4).
  Tensor dc5 = s.Take(kDc5);
  bn_relu_bwd(4, de5, dc5);
  s.Release(kDe5, de5);
  Tensor dcat5 = s.Take(kDcat5);
  conv_bwd(4, s.cat[0], dc5, &dcat5);
  s.Release(kDc5, dc5);
  Tensor du4 = s.Take(kDu4), de3_skip = s.Take(kDe3Skip);
  Tensor de4 = s.Take(kDe4);
  cat_up_bwd(0, dcat5, du4, de3_skip, de4);
  s.Release(kDcat5, dcat5);
  s.Release(kDu4, du4);
  // Level 3: bn4, conv4, pool3.
  Tensor dc4 = s.Take(kDc4);
  bn_relu_bwd(3, de4, dc4);
  s.Release(kDe4, de4);
  Tensor dp3 = s.Take(kDp3);
  conv_bwd(3, s.p[2], dc4, &dp3);
  s.Release(kDc4, dc4);
  // Level 2: e3 gets the pool3 gradient plus the skip's; bn3, conv3, pool2.
  Tensor de3 = s.Take(kDe3);
  pool_bwd_add(2, dp3, de3, de3_skip);
  s.Release(kDp3, dp3);
  s.Release(kDe3Skip, de3_skip);
  Tensor dc3 = s.Take(kDc3);
  bn_relu_bwd(2, de3, dc3);
  s.Release(kDe3, de3);
  Tensor dp2 = s.Take(kDp2);
  conv_bwd(2, s.p[1], dc3, &dp2);
  s.Release(kDc3, dc3);
  // Level 1: e2; bn2, conv2, pool1.
  Tensor de2 = s.Take(kDe2);
  pool_bwd_add(1, dp2, de2, de2_skip);
  s.Release(kDp2, dp2);
  s.Release(kDe2Skip, de2_skip);
  Tensor dc2 = s.Take(kDc2);
  bn_relu_bwd(1, de2, dc2);
  s.Release(kDe2, de2);
  Tensor dp1 = s.Take(kDp1);
  conv_bwd(1, s.p[0], dc2, &dp1);
  s.Release(kDc2, dc2);
  // Level 0: e1; bn1, conv1 (no input gradient).
  Tensor de1 = s.Take(kDe1);
  pool_bwd_add(0, dp1, de1, de1_skip);
  s.Release(kDp1, dp1);
  s.Release(kDe1Skip, de1_skip);
  Tensor dc1 = s.Take(kDc1);
  Tensor c1 = s.Take(kC1);  // = s.c[0], recomputed exactly as in the forward
  {
    Scoped scope(o, "conv1.recompute");
    SphericalConvForward(s.tables[0], *s.input, params_.param(conv_w_[0]), params_.param(conv_b_[0]), c1);
  }
  bn_relu_bwd(0, de1, dc1);
  s.Release(kC1, c1);
  s.Release(kDe1, de1);
  conv_bwd(0, *s.input, dc1, nullptr);
  s.Release(kDc1, dc1);
}

}  // namespace sal360::nn

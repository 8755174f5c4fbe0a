// Checkpoints (nn/checkpoint.h): save -> load gives bit-identical predictions and
// training continues identically (optimiser state restored); the file is a plain
// safetensors state dict with PyTorch names and shapes; corrupt, truncated and
// mis-shaped files give errors naming the problem.
#include "nn/checkpoint.h"

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "tests/testing/gradcheck.h"
#include "util/file.h"
#include "util/safetensors.h"

namespace sal360::nn {
namespace {

using ::sal360::testing::RandomFloats;

constexpr int kH = 16, kW = 32;

Tensor Input(int n, uint64_t seed) {
  return Tensor::FromVector(Shape{n, kH, kW, 4}, RandomFloats(int64_t{n} * kH * kW * 4, seed, 0, 1),
                            Device::kCpu);
}

// One Adam step on a fixed batch.
void TrainStep(SphericalUNet& model, Optimizer& opt, const Tensor& x, const Tensor& target,
               const Tensor& row_weights) {
  model.params().ZeroGrad();
  const Tensor& out = model.Forward(x, true);
  SphereMseLoss(out, target, row_weights, &model.output_grad());
  model.Backward(model.output_grad());
  opt.Step();
}

struct Trained {
  SphericalUNet model{Device::kCpu, ModelConfig{sphere::TableMode::kBilinear, sphere::Convention::kPixelCentre}};
  Optimizer opt{OptimConfig{}, model.params()};
  Tensor x = Input(2, 1);
  Tensor target = Tensor::FromVector(Shape{2, kH, kW, 1}, RandomFloats(2 * kH * kW, 2, 0, 10), Device::kCpu);
  Tensor rw = LossRowWeights(kH, kW, Device::kCpu);
  Trained() {
    Rng rng(9);
    model.Initialize(rng);
    for (int i = 0; i < 3; ++i) TrainStep(model, opt, x, target, rw);
  }
};

std::string Path(const std::string& name) { return ::testing::TempDir() + "/" + name; }

TEST(CheckpointTest, SaveLoadGivesIdenticalPredictionsAndTraining) {
  Trained a;
  const std::string path = Path("ck.safetensors");
  ASSERT_TRUE(SaveCheckpoint(path, a.model, &a.opt, {{"sal360.train.progress", "{\"step\":3}"}}).ok());

  absl::StatusOr<util::Safetensors> st = util::ReadSafetensors(path);
  ASSERT_TRUE(st.ok()) << st.status();
  absl::StatusOr<ModelConfig> config = ModelConfigFromCheckpoint(*st, path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->table_mode, sphere::TableMode::kBilinear);
  EXPECT_EQ(st->metadata.at("sal360.train.progress"), "{\"step\":3}");

  SphericalUNet b(Device::kCpu, *config);
  Optimizer opt_b(OptimConfig{}, b.params());
  ASSERT_TRUE(ImportModel(*st, path, b).ok());
  ASSERT_TRUE(ImportOptimizer(*st, path, b, opt_b).ok());
  EXPECT_EQ(opt_b.step_count(), 3);
  for (int i = 0; i < kNumBatchNorms; ++i) {
    EXPECT_EQ(b.bn_stats(i).num_batches_tracked, 3);
    EXPECT_EQ(b.bn_stats(i).running_var.ToVector(), a.model.bn_stats(i).running_var.ToVector());
  }

  const Tensor x = Input(1, 77);
  EXPECT_EQ(a.model.Forward(x, false).ToVector(), b.Forward(x, false).ToVector());
  // Two more steps on both: identical parameters bit for bit (Adam moments restored).
  for (int i = 0; i < 2; ++i) {
    TrainStep(a.model, a.opt, a.x, a.target, a.rw);
    TrainStep(b, opt_b, a.x, a.target, a.rw);
  }
  EXPECT_EQ(a.model.params().params_flat().ToVector(), b.params().params_flat().ToVector());
}

TEST(CheckpointTest, FileIsAPyTorchStateDict) {
  Trained a;
  util::Safetensors st;
  ExportModel(a.model, st);
  // Exactly the published state_dict keys (conv1..7, bn1..6 with buffers).
  EXPECT_EQ(st.tensors.size(), 7u * 2 + 6u * 5);
  const util::SafetensorsTensor& w = st.tensors.at("conv5.weight");
  EXPECT_EQ(w.shape, (std::vector<int64_t>{128, 512, 3, 3}));
  EXPECT_EQ(st.tensors.at("conv7.bias").shape, (std::vector<int64_t>{1}));
  EXPECT_EQ(st.tensors.at("bn3.running_mean").shape, (std::vector<int64_t>{256}));
  const util::SafetensorsTensor& nbt = st.tensors.at("bn2.num_batches_tracked");
  EXPECT_EQ(nbt.dtype, util::DType::kInt64);
  EXPECT_TRUE(nbt.shape.empty());
  // PyTorch layout: W[co][ci][r][c] is internal w[tap = 3r + c][ci][co].
  const std::vector<float> internal = a.model.params().param(a.model.conv_weight_index(1)).ToVector();
  const util::SafetensorsTensor& w2 = st.tensors.at("conv2.weight");
  std::vector<float> torch(w2.bytes.size() / 4);
  std::memcpy(torch.data(), w2.bytes.data(), w2.bytes.size());
  const int cin = 64, cout = 128;
  for (int co : {0, 5, 127}) {
    for (int ci : {0, 33, 63}) {
      for (int tap = 0; tap < 9; ++tap) {
        EXPECT_EQ(torch[(size_t(co) * cin + ci) * 9 + tap], internal[(size_t(tap) * cin + ci) * cout + co]);
      }
    }
  }
}

TEST(CheckpointTest, LoadsAConvertedPublishedCheckpointWithoutMetadata) {
  Trained a;
  util::Safetensors st;
  ExportModel(a.model, st);
  st.metadata.clear();  // a state dict converted from the published .pth has none
  absl::StatusOr<ModelConfig> config = ModelConfigFromCheckpoint(st, "pub.safetensors");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->table_mode, sphere::TableMode::kNearest);
  EXPECT_EQ(config->convention, sphere::Convention::kPixelCentre);
  SphericalUNet b(Device::kCpu, ModelConfig{});
  EXPECT_TRUE(ImportModel(st, "pub.safetensors", b).ok());
  EXPECT_EQ(a.model.params().params_flat().ToVector(), b.params().params_flat().ToVector());
}

TEST(CheckpointTest, StrictLoadingNamesTheProblem) {
  Trained a;
  util::Safetensors good;
  ExportModel(a.model, good);
  ExportOptimizer(a.model, a.opt, good);
  SphericalUNet b(Device::kCpu, ModelConfig{});
  const std::vector<float> before = b.params().params_flat().ToVector();

  util::Safetensors wrong_shape = good;
  wrong_shape.tensors["conv1.weight"] =
      util::SafetensorsTensor::FromFloat32({64, 3, 3, 3}, std::vector<float>(64 * 27, 0.f));
  absl::Status s = ImportModel(wrong_shape, "w.st", b);
  EXPECT_EQ(s.message(), "w.st: tensor 'conv1.weight' has shape (64, 3, 3, 3), expected (64, 4, 3, 3)");
  EXPECT_EQ(b.params().params_flat().ToVector(), before) << "a failed load leaves the model untouched";

  util::Safetensors missing = good;
  missing.tensors.erase("bn3.running_var");
  s = ImportModel(missing, "m.st", b);
  EXPECT_EQ(s.message(), "m.st: missing tensor 'bn3.running_var' (expected F32 (256))");

  util::Safetensors wrong_dtype = good;
  wrong_dtype.tensors["bn1.num_batches_tracked"] =
      util::SafetensorsTensor::FromFloat32({}, std::vector<float>{1.f});
  s = ImportModel(wrong_dtype, "d.st", b);
  EXPECT_NE(s.message().find("'bn1.num_batches_tracked' has dtype F32, expected I64"), absl::string_view::npos)
      << s;

  util::Safetensors extra = good;
  extra.tensors["conv8.weight"] = util::SafetensorsTensor::FromFloat32({1}, std::vector<float>{1.f});
  s = ImportModel(extra, "e.st", b);
  EXPECT_NE(s.message().find("unexpected tensor 'conv8.weight'"), absl::string_view::npos) << s;

  util::Safetensors nan = good;
  std::vector<float> bias(64, 0.f);
  bias[3] = std::nanf("");
  nan.tensors["conv1.bias"] = util::SafetensorsTensor::FromFloat32({64}, bias);
  s = ImportModel(nan, "n.st", b);
  EXPECT_NE(s.message().find("NaN"), absl::string_view::npos) << s;

  Optimizer sgd(OptimConfig{"sgd", 0.1f, 0.9f, 0.999f, 1e-8f, 0.f, 0.9f}, b.params());
  s = ImportOptimizer(good, "o.st", b, sgd);
  EXPECT_NE(s.message().find("optimiser state is for 'adam'"), absl::string_view::npos) << s;

  util::Safetensors no_moment = good;
  no_moment.tensors.erase("optim.exp_avg_sq.conv4.bias");
  Optimizer adam(OptimConfig{}, b.params());
  s = ImportOptimizer(no_moment, "o.st", b, adam);
  EXPECT_EQ(s.message(), "o.st: missing tensor 'optim.exp_avg_sq.conv4.bias' (expected F32 (256))");

  util::Safetensors foreign = good;
  foreign.metadata[kMetaFormat] = "sal360-checkpoint v0";
  EXPECT_FALSE(ModelConfigFromCheckpoint(foreign, "f.st").ok());
  // Issue #18: the same strict reading for every loader (resume included): a foreign
  // format, impossible statistics or moments are refused by ImportModel/ImportOptimizer.
  s = ImportModel(foreign, "f.st", b);
  EXPECT_NE(s.message().find("f.st: checkpoint format 'sal360-checkpoint v0'"), absl::string_view::npos) << s;
  auto with_bn = [&](const char* name, float value) {
    util::Safetensors t = good;
    std::vector<float> v(64, 1.f);
    v[5] = value;
    t.tensors[name] = util::SafetensorsTensor::FromFloat32({64}, v);
    return ImportModel(t, "bn.st", b);
  };
  EXPECT_NE(with_bn("bn1.running_var", -1.f).message().find("bn.st: bn1.running_var[5] is -1 (expected finite and >= 0)"),
            absl::string_view::npos);
  EXPECT_NE(with_bn("bn1.running_var", std::nanf("")).message().find("bn1.running_var[5] is nan"), absl::string_view::npos);
  EXPECT_NE(with_bn("bn1.running_mean", 1e20f).message().find("bn1.running_mean[5] is 1e+20"), absl::string_view::npos);
  EXPECT_TRUE(with_bn("bn1.running_mean", -3.f).ok());
  auto with_moment = [&](const char* name, float value) {
    util::Safetensors t = good;
    std::vector<float> v(64, 0.f);
    v[1] = value;
    t.tensors[name] = util::SafetensorsTensor::FromFloat32({64}, v);
    Optimizer o(OptimConfig{}, b.params());
    return ImportOptimizer(t, "m.st", b, o);
  };
  EXPECT_NE(with_moment("optim.exp_avg_sq.conv1.bias", -1e-9f).message().find("expected finite and >= 0"),
            absl::string_view::npos);
  EXPECT_NE(with_moment("optim.exp_avg.conv1.bias", std::nanf("")).message().find("holds nan"), absl::string_view::npos);
  EXPECT_TRUE(with_moment("optim.exp_avg.conv1.bias", -2.f).ok());
  util::Safetensors bad_mode = good;
  bad_mode.metadata[kMetaTableMode] = "cubic";
  EXPECT_NE(ModelConfigFromCheckpoint(bad_mode, "b.st").status().message().find("cubic"),
            absl::string_view::npos);
}

TEST(CheckpointTest, TruncatedFilesAreErrors) {
  Trained a;
  const std::string path = Path("full.safetensors");
  ASSERT_TRUE(SaveCheckpoint(path, a.model, &a.opt, {}).ok());
  absl::StatusOr<std::string> bytes = util::ReadFile(path, int64_t{1} << 30);
  ASSERT_TRUE(bytes.ok());
  // A spread of cut points, including inside the length, the header and the data.
  for (size_t len : {size_t{0}, size_t{5}, size_t{8}, size_t{100}, bytes->size() / 3,
                     bytes->size() / 2, bytes->size() - 1}) {
    const std::string cut = Path("cut.safetensors");
    ASSERT_TRUE(util::WriteFileAtomically(cut, bytes->substr(0, len)).ok());
    absl::StatusOr<util::Safetensors> st = util::ReadSafetensors(cut);
    EXPECT_FALSE(st.ok()) << len;
    if (!st.ok()) {
      EXPECT_NE(st.status().message().find(cut), absl::string_view::npos);
    }
  }
}

}  // namespace
}  // namespace sal360::nn

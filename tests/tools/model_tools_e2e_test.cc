// End to end, through the real binaries on the real synthetic dataset (generated into
// the test's cache directory by `train` itself, as a user's first run does):
//   - `train` learns: after a short CPU run the validation CC beats the equator-bias
//     baseline by a clear margin; `test` then evaluates the checkpoint at once and
//     writes metrics.json of the promised shape, where the model beats the baselines;
//     `predict` maps images and raw .npy tensors (the raw output equals the model's);
//   - `train` stopped by --max_steps and continued with --resume ends bit-identical to
//     an uninterrupted run (CPU, real loader with background threads).
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "infer/model.h"
#include "nlohmann/json.hpp"
#include "nn/model.h"
#include "tests/testing/tool_runner.h"
#include "util/file.h"
#include "util/npy.h"
#include "util/safetensors.h"

namespace sal360::tools {
namespace {

using nlohmann::json;
using ::sal360::testing::CacheEnv;
using ::sal360::testing::RunTool;
using ::sal360::testing::TempPath;
using ::sal360::testing::ToolResult;


bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

json ReadJson(const std::string& path) {
  absl::StatusOr<std::string> text = util::ReadFile(path, 64 << 20);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? json::parse(*text, nullptr, false) : json();
}

// The last "epoch" record of a run's log.jsonl.
json LastEpoch(const std::string& run) {
  absl::StatusOr<std::string> text = util::ReadFile(run + "/log.jsonl", 64 << 20);
  EXPECT_TRUE(text.ok()) << text.status();
  json last;
  size_t start = 0;
  while (text.ok() && start < text->size()) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    const json j = json::parse(text->substr(start, end - start), nullptr, false);
    if (!j.is_discarded() && j.value("kind", "") == "epoch") last = j;
    start = end + 1;
  }
  return last;
}

// Shared small-training settings: 32x64 and 6 epochs (90 steps, ~27 s on 2 cores).
// The synthetic dataset's saliency (bright coloured discs) is learnable there; CC beats
// the baselines after 1-2 epochs, but KLD needs ~6 (after 4 it is still above the
// uniform map's: the network leaves too little mass on the discs' edges).
std::vector<std::string> SmallTrainFlags(const std::string& out) {
  return {"--out=" + out, "--device=cpu", "--height=32", "--width=64", "--batch=8", "--epochs=6", "--lr=2e-3"};
}

TEST(ModelToolsE2E, TrainLearnsThenTestAndPredictUseTheCheckpoint) {
  const std::string run = TempPath("run");
  ToolResult train = RunTool("tools/train", SmallTrainFlags(run), {CacheEnv()});
  ASSERT_EQ(train.exit_code, 0) << train.output;
  ASSERT_TRUE(Exists(run + "/best.safetensors")) << train.output;
  ASSERT_TRUE(Exists(run + "/last.safetensors"));
  ASSERT_TRUE(Exists(run + "/steps.csv"));
  ASSERT_TRUE(Exists(run + "/epochs.csv"));
  ASSERT_TRUE(Exists(run + "/report.html"));
  const json epoch = LastEpoch(run);
  ASSERT_TRUE(epoch.is_object()) << train.output;
  const double cc = epoch["val"]["cc"].get<double>();
  const double equator = epoch["baselines"]["equator"]["cc"].get<double>();
  std::printf("validation CC %.4f, equator baseline %.4f, prev_gt %.4f\n", cc, equator,
              epoch["baselines"]["prev_gt"]["cc"].get<double>());
  EXPECT_GT(cc, equator + 0.15) << train.output;

  // test: the checkpoint at once, on the same embedded dataset.
  const std::string out = TempPath("test");
  ToolResult test = RunTool("tools/test", {"--checkpoint=" + run + "/best.safetensors", "--out=" + out,
                                           "--device=cpu", "--gallery=4"},
                            {CacheEnv()});
  ASSERT_EQ(test.exit_code, 0) << test.output;
  const json m = ReadJson(out + "/metrics.json");
  ASSERT_TRUE(m.is_object());
  ASSERT_TRUE(m["frames"].is_number_integer());
  EXPECT_GT(m["frames"].get<int>(), 0);
  for (const char* key : {"cc", "kld", "nss", "auc_judd", "sim", "cc_sphere", "kld_sphere", "nss_sphere", "sim_sphere"}) {
    EXPECT_TRUE(m["model"].contains(key)) << key;
    for (const char* b : {"uniform", "equator", "prev_gt"}) EXPECT_TRUE(m["baselines"][b].contains(key)) << b << key;
  }
  EXPECT_GT(m["model"]["cc"].get<double>(), m["baselines"]["equator"]["cc"].get<double>() + 0.1);
  EXPECT_LT(m["model"]["kld"].get<double>(), m["baselines"]["uniform"]["kld"].get<double>());
  EXPECT_TRUE(m["models"].contains("model_prev_gt")) << "both temporal modes are reported";
  EXPECT_TRUE(Exists(out + "/report.html"));
  EXPECT_TRUE(Exists(out + "/frames.csv"));

  // predict: a frame of the dataset (image mode) ...
  const json config = ReadJson(run + "/config.json");
  ASSERT_TRUE(config.is_object());
  std::string frame;
  {
    FILE* p = popen(("find " + TempPath("cache") + " -name 0001.jpg | sort | head -1").c_str(), "r");
    char buf[4096] = {0};
    if (p != nullptr && std::fgets(buf, sizeof buf, p) != nullptr) frame = buf;
    if (p != nullptr) pclose(p);
    while (!frame.empty() && frame.back() == '\n') frame.pop_back();
  }
  ASSERT_FALSE(frame.empty());
  const std::string pred_dir = TempPath("pred");
  ToolResult pred = RunTool("tools/predict", {"--checkpoint=" + run + "/best.safetensors", "--input=" + frame,
                                              "--out=" + pred_dir, "--device=cpu"});
  ASSERT_EQ(pred.exit_code, 0) << pred.output;
  EXPECT_TRUE(Exists(pred_dir + "/0001.npy"));
  EXPECT_TRUE(Exists(pred_dir + "/0001_overlay.png"));

  // ... and raw tensors: the output equals the model's forward pass bit for bit.
  const int n = 2, h = 32, w = 64;
  std::vector<float> x(size_t(n) * 3 * h * w), prev(size_t(n) * h * w);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float((i * 7919) % 1000) / 1000.0f;
  for (size_t i = 0; i < prev.size(); ++i) prev[i] = float((i * 104729) % 1000) / 100.0f;
  ASSERT_TRUE(util::WriteNpy(TempPath("x.npy"), util::NpyArray::FromFloat32({n, 3, h, w}, x)).ok());
  ASSERT_TRUE(util::WriteNpy(TempPath("p.npy"), util::NpyArray::FromFloat32({n, 1, h, w}, prev)).ok());
  ToolResult raw = RunTool("tools/predict", {"--checkpoint=" + run + "/best.safetensors", "--input=" + TempPath("x.npy"),
                                             "--prev=" + TempPath("p.npy"), "--out=" + TempPath("y.npy"), "--device=cpu"});
  ASSERT_EQ(raw.exit_code, 0) << raw.output;
  absl::StatusOr<util::NpyArray> y = util::ReadNpy(TempPath("y.npy"));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->dtype, util::DType::kFloat32);
  EXPECT_EQ(y->shape, (std::vector<int64_t>{n, 1, h, w}));
  absl::StatusOr<infer::LoadedModel> model = infer::LoadModel(run + "/best.safetensors", nn::Device::kCpu, "", "");
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<float> input(size_t(n) * h * w * 4);
  for (int k = 0; k < n; ++k) {
    for (int p = 0; p < h * w; ++p) {
      for (int c = 0; c < 3; ++c) input[(size_t(k) * h * w + p) * 4 + c] = x[(size_t(k) * 3 + c) * h * w + p];
      input[(size_t(k) * h * w + p) * 4 + 3] = prev[size_t(k) * h * w + p];
    }
  }
  const nn::Tensor t = nn::Tensor::FromVector(nn::Shape{n, h, w, 4}, input, nn::Device::kCpu);
  EXPECT_EQ(model->model->Forward(t, false).ToVector(), y->ToFloats());
}

TEST(ModelToolsE2E, ResumeThroughTheBinaryIsBitIdentical) {
  const std::vector<std::string> common = {"--device=cpu", "--height=16", "--width=32", "--batch=4",
                                           "--epochs=2", "--validate=false", "--seed=7"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), common.begin(), common.end());
    return extra;
  };
  ToolResult a = RunTool("tools/train", with({"--out=" + TempPath("full")}), {CacheEnv()});
  ASSERT_EQ(a.exit_code, 0) << a.output;
  ToolResult b1 = RunTool("tools/train", with({"--out=" + TempPath("part"), "--max_steps=7"}), {CacheEnv()});
  ASSERT_EQ(b1.exit_code, 0) << b1.output;
  // Resuming with a different learning rate is refused; the same run continues.
  ToolResult bad = RunTool("tools/train", {"--out=" + TempPath("part"), "--resume", "--lr=0.5"}, {CacheEnv()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("--lr"), std::string::npos) << bad.output;
  ToolResult b2 = RunTool("tools/train", {"--out=" + TempPath("part"), "--resume", "--max_steps=0", "--device=cpu"},
                          {CacheEnv()});
  ASSERT_EQ(b2.exit_code, 0) << b2.output;
  absl::StatusOr<util::Safetensors> fa = util::ReadSafetensors(TempPath("full") + "/last.safetensors");
  absl::StatusOr<util::Safetensors> fb = util::ReadSafetensors(TempPath("part") + "/last.safetensors");
  ASSERT_TRUE(fa.ok() && fb.ok());
  ASSERT_EQ(fa->tensors.size(), fb->tensors.size());
  for (const auto& [name, t] : fa->tensors) {
    ASSERT_TRUE(fb->tensors.count(name)) << name;
    EXPECT_TRUE(t.bytes == fb->tensors.at(name).bytes) << name << " differs after resume";
  }
}

}  // namespace
}  // namespace sal360::tools

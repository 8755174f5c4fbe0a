// Every model tool given bad input (missing, corrupt, truncated or mis-shaped
// checkpoints, bad tensors, unknown flag values) exits non-zero with a message that
// names the problem — never a crash. And --help lists the flags the issue promises.
#include <unistd.h>

#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "tests/testing/tool_runner.h"
#include "util/file.h"
#include "util/npy.h"
#include "util/safetensors.h"

namespace sal360::tools {
namespace {

using ::sal360::testing::CacheEnv;
using ::sal360::testing::RunTool;
using ::sal360::testing::TempPath;
using ::sal360::testing::ToolResult;


// A valid checkpoint of a freshly initialised model, and variants of it.
class ModelToolsErrors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    nn::SphericalUNet model(nn::Device::kCpu, nn::ModelConfig{});
    nn::Rng rng(3);
    model.Initialize(rng);
    ASSERT_TRUE(nn::SaveCheckpoint(TempPath("good.safetensors"), model, nullptr, {}).ok());
    absl::StatusOr<std::string> bytes = util::ReadFile(TempPath("good.safetensors"), 1 << 30);
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(util::WriteFileAtomically(TempPath("truncated.safetensors"), bytes->substr(0, bytes->size() / 2)).ok());
    ASSERT_TRUE(util::WriteFileAtomically(TempPath("garbage.safetensors"), "this is not a checkpoint at all").ok());
    util::Safetensors st;
    nn::ExportModel(model, st);
    st.tensors["conv1.weight"] = util::SafetensorsTensor::FromFloat32({64, 3, 3, 3}, std::vector<float>(64 * 27, 0.f));
    ASSERT_TRUE(util::WriteSafetensors(TempPath("shape.safetensors"), st).ok());
  }
};

// An 8x4 RGB PNG.
const std::string kTinyPng = std::string("\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x08\x00"
                              "\x00\x00\x04\x08\x02\x00\x00\x00\x3c\xaf\xe9\xa7\x00\x00\x00\x41\x49\x44\x41\x54\x78"
                              "\x9c\x0d\xc9\x41\x01\x00\x30\x0c\x02\x31\x94\x54\x09\x4a\x4e\x09\x4a\xaa\x04\x25\x55"
                              "\xb4\xe5\x1b\x49\x8c\xb0\x40\x44\xac\xa8\x38\x21\x99\x31\x36\x98\x98\x35\x35\xe7\x1f"
                              "\x61\x82\x03\x21\x61\x43\xc3\xe5\x47\x99\xe2\x42\x49\xd9\xd2\x72\xe5\x01\xd2\x5f\x23"
                              "\xa1\x58\x08\xc2\x9e\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82",
                              122);

void ExpectError(const ToolResult& r, const std::string& needle, int code = -1) {
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_LT(r.exit_code, 128) << "crashed (signal): " << r.output;
  if (code >= 0) {
    EXPECT_EQ(r.exit_code, code) << r.output;
  }
  EXPECT_NE(r.output.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << r.output;
}

TEST_F(ModelToolsErrors, BadCheckpoints) {
  for (const char* tool : {"tools/test", "tools/predict"}) {
    const std::vector<std::string> extra =
        std::string(tool) == "tools/predict"
            ? std::vector<std::string>{"--input=" + TempPath("x.npy"), "--out=" + TempPath("y.npy")}
            : std::vector<std::string>{"--out=" + TempPath("t")};
    auto run = [&](const std::string& ckpt) {
      std::vector<std::string> args = {"--checkpoint=" + ckpt, "--device=cpu"};
      args.insert(args.end(), extra.begin(), extra.end());
      return RunTool(tool, args);
    };
    ExpectError(run(TempPath("missing.safetensors")), "missing.safetensors: no such file");
    ExpectError(run(TempPath("truncated.safetensors")), "truncated.safetensors");
    ExpectError(run(TempPath("garbage.safetensors")), "garbage.safetensors");
    ExpectError(run(TempPath("shape.safetensors")), "tensor 'conv1.weight' has shape (64, 3, 3, 3), expected (64, 4, 3, 3)");
  }
}

TEST_F(ModelToolsErrors, BadFlagValues) {
  ExpectError(RunTool("tools/train", {"--optimizer=rmsprop", "--out=" + TempPath("r1")}), "--optimizer", 2);
  ExpectError(RunTool("tools/train", {"--loss=l1", "--out=" + TempPath("r1")}), "--loss", 2);
  ExpectError(RunTool("tools/train", {"--height=20", "--out=" + TempPath("r1")}), "--height/--width", 2);
  ExpectError(RunTool("tools/train", {"--table_mode=cubic", "--out=" + TempPath("r1")}), "--table_mode", 2);
  ExpectError(RunTool("tools/train", {"--device=tpu", "--out=" + TempPath("r1")}), "--device", 2);
  ExpectError(RunTool("tools/train", {"--lr=-1", "--out=" + TempPath("r1")}), "lr", 2);
  // The CUDA math settings (issue #17): refused by name on the CPU, unknown values too.
  ExpectError(RunTool("tools/train", {"--device=cpu", "--precision=tf32", "--out=" + TempPath("r3")}),
              "CUDA settings", 2);
  ExpectError(RunTool("tools/train", {"--device=cpu", "--gpu_engine=cudnn", "--out=" + TempPath("r3")}),
              "--gpu_engine=cudnn", 2);
  ExpectError(RunTool("tools/train", {"--precision=fp16", "--out=" + TempPath("r3")}), "--precision", 2);
  ExpectError(RunTool("tools/test", {"--checkpoint=" + TempPath("good.safetensors"), "--device=cpu",
                                     "--precision=bf16", "--out=" + TempPath("t_bf16")}),
              "CUDA settings", 2);
  ExpectError(RunTool("tools/train", {"--resume", "--out=" + TempPath("nothing")}), "does not exist", 2);
  ExpectError(RunTool("tools/train", {"--data=" + TempPath("no_dataset"), "--out=" + TempPath("r2"), "--device=cpu"}),
              "no_dataset");
  // Absl's own flag errors exit 1; ours exit 2 like every other usage error (issue #18).
  ExpectError(RunTool("tools/train", {"--epochs=notanumber"}), "--epochs=notanumber", 2);
  ExpectError(RunTool("tools/train", {"--no_such_flag=1"}), "unknown flag '--no_such_flag'", 2);
  ExpectError(RunTool("tools/train", {"--out"}), "--out needs a value", 2);
  ExpectError(RunTool("tools/train", {"--novalidate=1"}), "--novalidate takes no value", 2);
  for (const char* tool : {"tools/test", "tools/predict", "tools/eval", "tools/gen_coords", "tools/make_dataset",
                           "tools/check_data", "tools/convert_checkpoint", "tools/bench"}) {
    ExpectError(RunTool(tool, {"--bogus_flag"}), "unknown flag '--bogus_flag'", 2);
  }
  ExpectError(RunTool("tools/predict", {"--batch=x"}), "--batch=x", 2);
  // Sizes the machine cannot hold are refused with the estimate, before allocating
  // (they used to die of std::bad_alloc or "out of host memory").
  ExpectError(RunTool("tools/train", {"--height=100000", "--width=200000", "--batch=1", "--device=cpu",
                                      "--out=" + TempPath("huge")},
                      {CacheEnv()}),
              "100000x200000 at batch 1 needs an estimated", 1);
  ExpectError(RunTool("tools/test", {"--checkpoint=" + TempPath("good.safetensors"), "--height=100000",
                                     "--width=200000", "--device=cpu", "--out=" + TempPath("huge_t")}),
              "needs an estimated", 1);
  ASSERT_TRUE(util::MakeDirs(TempPath("in_dir")).ok());
  ASSERT_TRUE(util::WriteFileAtomically(
                  TempPath("in_dir") + "/0001.png",
                  kTinyPng)
                  .ok());
  ExpectError(RunTool("tools/predict", {"--checkpoint=" + TempPath("good.safetensors"), "--height=100000",
                                        "--input=" + TempPath("in_dir"), "--device=cpu", "--out=" + TempPath("huge_p")}),
              "needs an estimated", 1);
  ExpectError(RunTool("tools/test", {"--checkpoint=" + TempPath("good.safetensors"), "--prev=future"}), "--prev", 2);
  ExpectError(RunTool("tools/test", {"--checkpoint=" + TempPath("good.safetensors"), "--save_maps=some"}), "--save_maps", 2);
  ExpectError(RunTool("tools/bench", {"--batches=0"}), "--batches", 2);
  ExpectError(RunTool("tools/bench", {"--height=12"}), "--height", 2);
  ExpectError(RunTool("tools/bench", {"--torch=maybe"}), "--torch", 2);
}

// --split_file alone selects the file split (it used to be ignored without --split=file);
// --split=seed with a file is a usage error. Runs on the synthetic dataset (videos
// syn000..syn007), generated once into the test's cache; the default seed split would
// be 5 training, 1 validation and 2 test videos.
TEST_F(ModelToolsErrors, SplitFileAloneSelectsTheFileSplit) {
  const std::vector<std::string> env = {CacheEnv()};
  const std::string ck = "--checkpoint=" + TempPath("good.safetensors");
  ASSERT_TRUE(util::WriteFileAtomically(TempPath("split_ok.json"),
                                        R"({"train": ["syn000", "syn001"], "val": ["syn002"], "test": ["syn003"]})")
                  .ok());
  ASSERT_TRUE(util::WriteFileAtomically(TempPath("split_unknown.json"),
                                        R"({"train": ["syn000", "no_such_video"], "test": ["syn003"]})")
                  .ok());
  for (const char* tool : {"tools/train", "tools/test"}) {
    std::vector<std::string> args = {"--split=seed", "--split_file=" + TempPath("split_ok.json"), "--out=" + TempPath("s1")};
    if (std::string(tool) == "tools/test") args.push_back(ck);
    ExpectError(RunTool(tool, args, env), "contradict", 2);
  }
  // The file is read: a video the dataset lacks is named.
  ExpectError(RunTool("tools/train", {"--split_file=" + TempPath("split_unknown.json"), "--out=" + TempPath("s2"),
                                      "--device=cpu", "--height=16", "--width=32"},
                      env),
              "no_such_video", 1);
  ExpectError(RunTool("tools/test", {ck, "--split_file=" + TempPath("split_unknown.json"), "--out=" + TempPath("s3"),
                                     "--device=cpu", "--height=16"},
                      env),
              "no_such_video", 1);
  // And used: the training run reports the file's lists, the test run evaluates its one
  // test video (2 frames with --max_frames=2; the seed split's 2 test videos would give 4).
  const ToolResult train = RunTool("tools/train", {"--split_file=" + TempPath("split_ok.json"), "--out=" + TempPath("s4"),
                                                   "--device=cpu", "--height=16", "--width=32", "--batch=4",
                                                   "--max_steps=1"},
                                   env);
  EXPECT_EQ(train.exit_code, 0) << train.output;
  EXPECT_NE(train.output.find("2 training, 1 validation, 1 test videos"), std::string::npos) << train.output;
  const ToolResult test = RunTool("tools/test", {ck, "--split_file=" + TempPath("split_ok.json"), "--out=" + TempPath("s5"),
                                                 "--device=cpu", "--height=16", "--max_frames=2", "--save_maps=none"},
                                  env);
  EXPECT_EQ(test.exit_code, 0) << test.output;
  EXPECT_NE(test.output.find("test: 2 frames"), std::string::npos) << test.output;
}

TEST_F(ModelToolsErrors, PredictRejectsBadTensors) {
  const std::string ck = "--checkpoint=" + TempPath("good.safetensors");
  ASSERT_TRUE(util::WriteNpy(TempPath("four.npy"), util::NpyArray::FromFloat32({1, 4, 16, 32}, std::vector<float>(4 * 512))).ok());
  ASSERT_TRUE(util::WriteNpy(TempPath("odd.npy"), util::NpyArray::FromFloat32({3, 20, 40}, std::vector<float>(3 * 800))).ok());
  ASSERT_TRUE(util::WriteNpy(TempPath("ok.npy"), util::NpyArray::FromFloat32({2, 3, 16, 32}, std::vector<float>(6 * 512))).ok());
  ASSERT_TRUE(util::WriteNpy(TempPath("prev1.npy"), util::NpyArray::FromFloat32({1, 1, 16, 32}, std::vector<float>(512))).ok());
  ASSERT_TRUE(util::WriteFileAtomically(TempPath("bad.npy"), "\x93NUMPY garbage").ok());
  ExpectError(RunTool("tools/predict", {ck, "--out=" + TempPath("y.npy")}), "--input");
  ExpectError(RunTool("tools/predict", {ck, "--input=" + TempPath("four.npy"), "--out=" + TempPath("y.npy")}), "(N,3,H,W)");
  ExpectError(RunTool("tools/predict", {ck, "--input=" + TempPath("odd.npy"), "--out=" + TempPath("y.npy")}), "multiples of 8");
  ExpectError(RunTool("tools/predict", {ck, "--input=" + TempPath("ok.npy"), "--prev=" + TempPath("prev1.npy"), "--out=" + TempPath("y.npy")}),
              "prev1.npy: expected shape (2, 1, 16, 32)");
  ExpectError(RunTool("tools/predict", {ck, "--input=" + TempPath("bad.npy"), "--out=" + TempPath("y.npy")}), "bad.npy");
  ExpectError(RunTool("tools/predict", {ck, "--input=" + TempPath("ok.npy"), "--out=" + TempPath("y_dir")}), "--out must name a .npy");
  ExpectError(RunTool("tools/predict", {ck, "--input=" + TempPath("nothing.jpg"), "--out=" + TempPath("o")}), "nothing.jpg");
  ASSERT_TRUE(util::WriteFileAtomically(TempPath("broken.jpg"), "\xff\xd8\xff garbage").ok());
  ExpectError(RunTool("tools/predict", {ck, "--input=" + TempPath("broken.jpg"), "--out=" + TempPath("o")}), "broken.jpg");
  // The good tensor works, for contrast.
  ToolResult ok = RunTool("tools/predict", {ck, "--input=" + TempPath("ok.npy"), "--out=" + TempPath("y.npy"), "--device=cpu"});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}

// Issue #18, items 4 and 5: non-finite input is refused naming the element, an 8-bit
// image passed undivided gets a warning, and predict never overwrites: not its input,
// not an earlier result, not one frame's maps with another's of the same stem.
TEST_F(ModelToolsErrors, PredictRefusesSilentWrongResultsAndDataLoss) {
  const std::string ck = "--checkpoint=" + TempPath("good.safetensors");
  std::vector<float> rgb(2 * 3 * 512, 0.5f);
  rgb[1 * 3 * 512 + 2 * 512 + 5 * 32 + 7] = std::nanf("");
  ASSERT_TRUE(util::WriteNpy(TempPath("nan.npy"), util::NpyArray::FromFloat32({2, 3, 16, 32}, rgb)).ok());
  ExpectError(RunTool("tools/predict", {ck, "--input=" + TempPath("nan.npy"), "--out=" + TempPath("nan_out.npy"),
                                        "--device=cpu"}),
              "nan.npy: non-finite value nan at [1, 2, 5, 7]", 1);
  std::vector<float> prev(2 * 512, 0.0f);
  prev[600] = INFINITY;
  ASSERT_TRUE(util::WriteNpy(TempPath("inf_prev.npy"), util::NpyArray::FromFloat32({2, 1, 16, 32}, prev)).ok());
  ASSERT_TRUE(util::WriteNpy(TempPath("rgb_ok.npy"),
                             util::NpyArray::FromFloat32({2, 3, 16, 32}, std::vector<float>(2 * 3 * 512, 0.5f)))
                  .ok());
  ExpectError(RunTool("tools/predict", {ck, "--input=" + TempPath("rgb_ok.npy"), "--prev=" + TempPath("inf_prev.npy"),
                                        "--out=" + TempPath("inf_out.npy"), "--device=cpu"}),
              "inf_prev.npy: non-finite value inf at [1, 0, 2, 24]", 1);
  for (const char* name : {"nan_out.npy", "inf_out.npy"}) {
    EXPECT_NE(::access(TempPath(name).c_str(), F_OK), 0) << name << " written for a refused input";
  }
  ASSERT_TRUE(util::WriteNpy(TempPath("rgb255.npy"),
                             util::NpyArray::FromFloat32({1, 3, 16, 32}, std::vector<float>(3 * 512, 200.0f)))
                  .ok());
  const ToolResult warned =
      RunTool("tools/predict", {ck, "--input=" + TempPath("rgb255.npy"), "--out=" + TempPath("o255.npy"), "--device=cpu"});
  EXPECT_EQ(warned.exit_code, 0) << warned.output;
  EXPECT_NE(warned.output.find("warning: " + TempPath("rgb255.npy") + ": RGB values span [200, 200], but the model "
                               "expects [0, 1] (an 8-bit image not divided by 255?)"),
            std::string::npos)
      << warned.output;
  // --out naming the input, or any existing file: refused, the file unchanged.
  absl::StatusOr<std::string> before = util::ReadFile(TempPath("rgb_ok.npy"), 1 << 20);
  ASSERT_TRUE(before.ok());
  ExpectError(RunTool("tools/predict", {ck, "--input=" + TempPath("rgb_ok.npy"), "--out=" + TempPath("rgb_ok.npy"),
                                        "--device=cpu"}),
              "rgb_ok.npy: exists (it is the --input); predict does not overwrite files", 1);
  ExpectError(RunTool("tools/predict", {ck, "--input=" + TempPath("rgb_ok.npy"), "--out=" + TempPath("o255.npy"),
                                        "--device=cpu"}),
              "o255.npy: exists; predict does not overwrite files", 1);
  EXPECT_EQ(*util::ReadFile(TempPath("rgb_ok.npy"), 1 << 20), *before);
  // Two frames with one stem: refused before anything is written.
  const std::string dir = TempPath("stems");
  ASSERT_TRUE(util::MakeDirs(dir).ok());
  ASSERT_TRUE(util::WriteFileAtomically(dir + "/0001.png", kTinyPng).ok());
  ASSERT_TRUE(util::WriteFileAtomically(dir + "/0001.PNG", kTinyPng).ok());
  ExpectError(RunTool("tools/predict", {ck, "--input=" + dir, "--out=" + TempPath("stems_out"), "--device=cpu",
                                        "--height=16"}),
              "would both write the maps named 0001.*", 1);
  EXPECT_NE(::access(TempPath("stems_out").c_str(), F_OK), 0) << "--out created for a refused run";
}

TEST_F(ModelToolsErrors, HelpListsTheFlags) {
  const ToolResult train = RunTool("tools/train", {"--help"});
  for (const char* f : {"--data", "--height", "--width", "--batch", "--epochs", "--max_steps", "--optimizer", "--lr",
                        "--momentum", "--weight_decay", "--loss", "--device", "--table_mode", "--seed", "--out",
                        "--resume"}) {
    EXPECT_NE(train.output.find(std::string(f) + " "), std::string::npos) << f << "\n" << train.output;
  }
  const ToolResult test = RunTool("tools/test", {"--help"});
  for (const char* f : {"--checkpoint", "--data", "--out", "--prev"}) {
    EXPECT_NE(test.output.find(std::string(f) + " "), std::string::npos) << f;
  }
  const ToolResult predict = RunTool("tools/predict", {"--help"});
  for (const char* f : {"--checkpoint", "--input", "--prev", "--out", "--table_mode", "--convention"}) {
    EXPECT_NE(predict.output.find(std::string(f) + " "), std::string::npos) << f;
  }
  const ToolResult bench = RunTool("tools/bench", {"--help"});
  for (const char* f : {"--device", "--batches", "--reps", "--torch"}) {
    EXPECT_NE(bench.output.find(std::string(f) + " "), std::string::npos) << f;
  }
}

}  // namespace
}  // namespace sal360::tools

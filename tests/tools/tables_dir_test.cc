// --tables_dir (train, test, predict): the neighbour tables of every pyramid level come
// from files written by the real //tools:gen_coords instead of being generated.
//   - predict with the tables of the model's mode and convention gives exactly the output
//     of a run without --tables_dir (the files hold the same tables);
//   - the files are really used: tables of another convention, relabelled in tables.json
//     as the model's, change the output;
//   - a directory of another mode fails naming tables.json (train, test and predict), a
//     missing level fails naming its file, and a relative path is resolved against
//     BUILD_WORKING_DIRECTORY like the other path flags.
// All at 16x32 (levels 16x32 .. 2x4).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "tests/testing/tool_runner.h"
#include "util/file.h"
#include "util/npy.h"

namespace sal360::tools {
namespace {

using ::sal360::testing::RunTool;
using ::sal360::testing::TempPath;
using ::sal360::testing::ToolResult;


void GenCoords(const std::string& out, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"--height=16", "--width=32", "--out=" + out};
  args.insert(args.end(), extra.begin(), extra.end());
  const ToolResult r = RunTool("tools/gen_coords", args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

class TablesDir : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A checkpoint of a freshly initialised model (nearest, pixel_centre) and an input.
    nn::SphericalUNet model(nn::Device::kCpu, nn::ModelConfig{});
    nn::Rng rng(5);
    model.Initialize(rng);
    ASSERT_TRUE(nn::SaveCheckpoint(TempPath("model.safetensors"), model, nullptr, {}).ok());
    std::vector<float> x(2 * 3 * 16 * 32);
    for (size_t i = 0; i < x.size(); ++i) x[i] = float((i * 2654435761u) % 1000) / 1000.0f;
    ASSERT_TRUE(util::WriteNpy(TempPath("x.npy"), util::NpyArray::FromFloat32({2, 3, 16, 32}, x)).ok());
    GenCoords(TempPath("nearest"), {"--levels=4"});
    GenCoords(TempPath("bilinear"), {"--levels=4", "--mode=bilinear"});
    GenCoords(TempPath("two_levels"), {"--levels=2"});
  }

  // predict on x.npy; returns the output values (empty on failure, with `r` set).
  static std::vector<float> Predict(const std::vector<std::string>& extra, ToolResult* r,
                                    const std::vector<std::string>& env = {}) {
    const std::string out = TempPath("y.npy");
    std::remove(out.c_str());
    std::vector<std::string> args = {"--checkpoint=" + TempPath("model.safetensors"), "--input=" + TempPath("x.npy"),
                                     "--out=" + out, "--device=cpu"};
    args.insert(args.end(), extra.begin(), extra.end());
    *r = RunTool("tools/predict", args, env);
    if (r->exit_code != 0) return {};
    absl::StatusOr<util::NpyArray> y = util::ReadNpy(out, 1 << 20);
    EXPECT_TRUE(y.ok()) << y.status();
    return y.ok() ? y->ToFloats() : std::vector<float>();
  }
};

void ExpectFails(const ToolResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << r.output;
}

TEST_F(TablesDir, GenCoordsTablesGiveTheSameOutputAsGeneratedOnes) {
  ToolResult r;
  const std::vector<float> generated = Predict({}, &r);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(generated.size(), size_t{2 * 16 * 32});
  const std::vector<float> loaded = Predict({"--tables_dir=" + TempPath("nearest")}, &r);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(loaded, generated);  // bit for bit
  // Relative to BUILD_WORKING_DIRECTORY, as under `bazel run`.
  const std::vector<float> relative =
      Predict({"--tables_dir=nearest"}, &r, {"BUILD_WORKING_DIRECTORY=" + ::testing::TempDir()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(relative, generated);
}

TEST_F(TablesDir, TheFilesAreWhatTheModelUses) {
  // Seed-convention tables labelled pixel_centre pass the checks but are other tables.
  GenCoords(TempPath("relabelled"), {"--levels=4", "--convention=seed"});
  absl::StatusOr<std::string> meta = util::ReadFile(TempPath("relabelled/tables.json"), 1 << 20);
  ASSERT_TRUE(meta.ok()) << meta.status();
  ASSERT_NE(meta->find("\"seed\""), std::string::npos) << *meta;
  ASSERT_TRUE(util::WriteFileAtomically(TempPath("relabelled/tables.json"),
                                        absl::StrReplaceAll(*meta, {{"\"seed\"", "\"pixel_centre\""}}))
                  .ok());
  ToolResult r;
  const std::vector<float> generated = Predict({}, &r);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<float> relabelled = Predict({"--tables_dir=" + TempPath("relabelled")}, &r);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(relabelled.size(), generated.size());
  EXPECT_NE(relabelled, generated);
}

TEST_F(TablesDir, MismatchesAreErrorsNamingTheFile) {
  ToolResult r;
  Predict({"--tables_dir=" + TempPath("bilinear")}, &r);
  ExpectFails(r, "tables.json");
  EXPECT_NE(r.output.find("mode 'bilinear', need 'nearest'"), std::string::npos) << r.output;
  Predict({"--tables_dir=" + TempPath("two_levels")}, &r);
  ExpectFails(r, "4x8.npy");  // level 2 of 16x32
  Predict({"--tables_dir=" + TempPath("no_such_dir")}, &r);
  ExpectFails(r, "no_such_dir/tables.json");
  // train and test check the directory before touching any data; tables of another
  // size lack the first level's file.
  ExpectFails(RunTool("tools/train", {"--tables_dir=" + TempPath("bilinear"), "--height=16", "--width=32",
                                      "--out=" + TempPath("run"), "--device=cpu"}),
              "tables.json");
  ExpectFails(RunTool("tools/train", {"--tables_dir=" + TempPath("nearest"), "--height=32", "--width=64",
                                      "--out=" + TempPath("run"), "--device=cpu"}),
              "32x64.npy");
  ExpectFails(RunTool("tools/test", {"--checkpoint=" + TempPath("model.safetensors"), "--tables_dir=" + TempPath("bilinear"),
                                     "--height=16", "--out=" + TempPath("test"), "--device=cpu"}),
              "tables.json");
}

}  // namespace
}  // namespace sal360::tools

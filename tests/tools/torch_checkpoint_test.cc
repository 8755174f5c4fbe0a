// The published-checkpoint path (issue #14) through the real binaries, on the PyTorch
// 1.13 fixtures of tests/data/testdata/torch (made by make_fixtures.py):
//   - convert_checkpoint turns both torch.save formats into the same tensors, which are
//     exactly the PyTorch ones, and records convention seed;
//   - predict on the .pth directly equals predict on the converted file, bit for bit;
//   - --tables_dir with published-layout HxW.pt tables equals generated seed tables;
//   - gen_coords --compare_pt counts the entries that differ; --from_pt converts;
//   - a state dict of the wrong network is refused naming the tensors;
//   - predict's output equals PyTorch's own forward of the network (reference fixture).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/tool_runner.h"
#include "util/file.h"
#include "util/npy.h"
#include "util/safetensors.h"

namespace sal360::tools {
namespace {

using ::sal360::testing::RunTool;
using ::sal360::testing::RunToolSplit;
using ::sal360::testing::TempPath;
using ::sal360::testing::ToolResult;

std::string Fixture(const std::string& name) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/" + std::getenv("TEST_WORKSPACE") + "/tests/data/testdata/torch/" +
         name;
}

std::string Read(const std::string& path) {
  absl::StatusOr<std::string> s = util::ReadFile(path, int64_t{1} << 28);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

// A small input tensor (1, 3, 32, 64) for predict's .npy mode.
std::string WriteInput() {
  const std::string path = TempPath("x.npy");
  std::vector<float> x(3 * 32 * 64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 101) / 100.0f;
  EXPECT_TRUE(util::WriteNpy(path, util::NpyArray::FromFloat32({1, 3, 32, 64}, x)).ok());
  return path;
}

TEST(TorchCheckpoint, ConvertBothFormats) {
  for (const char* name : {"unet_legacy.pth.tar", "unet_zip.pth"}) {
    ToolResult r = RunToolSplit("tools/convert_checkpoint",
                                {"--in=" + Fixture(name), "--out=" + TempPath(std::string(name) + ".safetensors")});
    ASSERT_EQ(r.exit_code, 0) << r.output << r.err;
    EXPECT_NE(r.output.find("\"convention\": \"seed\""), std::string::npos) << r.output;
  }
  absl::StatusOr<util::Safetensors> a = util::ReadSafetensors(TempPath("unet_legacy.pth.tar.safetensors"));
  absl::StatusOr<util::Safetensors> b = util::ReadSafetensors(TempPath("unet_zip.pth.safetensors"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tensors.size(), 44u);
  for (const auto& [name, t] : a->tensors) {
    ASSERT_EQ(b->tensors.count(name), 1u) << name;
    EXPECT_EQ(t.bytes, b->tensors.at(name).bytes) << name;
  }
  // conv3.weight is state-dict tensor 14: element i = ((7i + 13*14) % 1000 - 500) / 1024.
  const std::string& wb = a->tensors.at("conv3.weight").bytes;
  std::vector<float> w(wb.size() / 4);
  std::memcpy(w.data(), wb.data(), wb.size());
  for (size_t i = 0; i < w.size(); i += 997) EXPECT_EQ(w[i], static_cast<float>(static_cast<int64_t>((i * 7 + 182) % 1000) - 500) / 1024.0f);
  EXPECT_EQ(a->metadata.at("sal360.convention"), "seed");
  // Never overwritten silently.
  ToolResult again = RunTool("tools/convert_checkpoint",
                             {"--in=" + Fixture("unet_zip.pth"), "--out=" + TempPath("unet_zip.pth.safetensors")});
  EXPECT_EQ(again.exit_code, 2) << again.output;
  EXPECT_NE(again.output.find("exists"), std::string::npos);
}

TEST(TorchCheckpoint, PredictOnThePthEqualsTheConverted) {
  const std::string x = WriteInput();
  const std::string conv = TempPath("c.safetensors");
  ASSERT_EQ(RunTool("tools/convert_checkpoint", {"--in=" + Fixture("unet_legacy.pth.tar"), "--out=" + conv}).exit_code, 0);
  // A name like the published file's, spaces included.
  const std::string pth = TempPath("ckpt-final - 20epoch -latest.pth.tar");
  ASSERT_TRUE(util::WriteFileAtomically(pth, Read(Fixture("unet_legacy.pth.tar"))).ok());
  ToolResult a = RunTool("tools/predict", {"--checkpoint=" + pth, "--convention=seed", "--device=cpu", "--input=" + x,
                                           "--out=" + TempPath("ya.npy")});
  ASSERT_EQ(a.exit_code, 0) << a.output;
  ToolResult b = RunTool("tools/predict", {"--checkpoint=" + conv, "--device=cpu", "--input=" + x,
                                           "--out=" + TempPath("yb.npy")});
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_EQ(Read(TempPath("ya.npy")), Read(TempPath("yb.npy")));
  // The zip format gives the same maps.
  ToolResult c = RunTool("tools/predict", {"--checkpoint=" + Fixture("unet_zip.pth"), "--device=cpu", "--input=" + x,
                                           "--out=" + TempPath("yc.npy")});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(Read(TempPath("ya.npy")), Read(TempPath("yc.npy")));
  // Published-layout tables (32x64 .. 4x8, ours transposed) equal the generated ones.
  ToolResult d = RunTool("tools/predict", {"--checkpoint=" + conv, "--device=cpu", "--input=" + x,
                                           "--tables_dir=" + Fixture(""), "--out=" + TempPath("yd.npy")});
  ASSERT_EQ(d.exit_code, 0) << d.output;
  EXPECT_EQ(Read(TempPath("ya.npy")), Read(TempPath("yd.npy")));
}

// PyTorch's own eval-mode output of the network (make_fixtures.py's reference_forward:
// the published formulation, an expanded image and Conv2d(k=3, stride=3), with the
// published-layout tables) against predict on the same .pth and input.
TEST(TorchCheckpoint, MatchesPyTorchOutput) {
  ToolResult r = RunTool("tools/predict", {"--checkpoint=" + Fixture("reference_unet.pth"), "--device=cpu",
                                           "--input=" + Fixture("reference_input.npy"),
                                           "--prev=" + Fixture("reference_prev.npy"), "--out=" + TempPath("ref.npy")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  absl::StatusOr<util::NpyArray> ours = util::ReadNpy(TempPath("ref.npy"), 1 << 24);
  absl::StatusOr<util::NpyArray> torch = util::ReadNpy(Fixture("reference_output.npy"), 1 << 24);
  ASSERT_TRUE(ours.ok() && torch.ok());
  ASSERT_EQ(ours->shape, torch->shape);
  const std::vector<float> a = ours->ToFloats(), b = torch->ToFloats();
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    max_ref = std::max(max_ref, std::abs(double{b[i]}));
    max_diff = std::max(max_diff, std::abs(double{a[i]} - b[i]));
  }
  ASSERT_GT(max_ref, 1e-4);
  // float32 sums of up to 4608 products in a different order: 1e-4 of the output's range
  // (measured: 4e-8 absolute, 8e-6 relative).
  EXPECT_LT(max_diff, 1e-4 * max_ref) << "max |ours - torch| = " << max_diff << ", max |torch| = " << max_ref;
}

TEST(TorchCheckpoint, Tables) {
  ToolResult r = RunToolSplit("tools/gen_coords", {"--compare_pt=" + Fixture(""), "--height=30", "--width=60", "--levels=1"});
  ASSERT_EQ(r.exit_code, 0) << r.output << r.err;
  // make_fixtures.py shifted row 0's three upward taps of every column: 3 x 60 entries.
  EXPECT_NE(r.output.find("\"entries\":14400,\"equal\":14220"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"off_by_one_column\":180"), std::string::npos) << r.output;
  ToolResult f = RunToolSplit("tools/gen_coords", {"--from_pt=" + Fixture(""), "--height=32", "--width=64",
                                                   "--levels=4", "--out=" + TempPath("from_pt")});
  ASSERT_EQ(f.exit_code, 0) << f.output << f.err;
  ToolResult g = RunToolSplit("tools/gen_coords", {"--height=32", "--width=64", "--levels=4", "--convention=seed",
                                                   "--out=" + TempPath("ours")});
  ASSERT_EQ(g.exit_code, 0);
  for (const char* level : {"32x64.npy", "16x32.npy", "8x16.npy", "4x8.npy"}) {
    EXPECT_EQ(Read(TempPath("from_pt/") + level), Read(TempPath("ours/") + level)) << level;
  }
  ToolResult missing = RunTool("tools/gen_coords", {"--compare_pt=" + TempPath("nowhere"), "--height=32", "--width=64"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("nowhere/32x64.pt"), std::string::npos) << missing.output;
}

TEST(TorchCheckpoint, BareStateDictWithoutBatchCounts) {
  const std::string out = TempPath("bare.safetensors");
  ToolResult r = RunTool("tools/convert_checkpoint", {"--in=" + Fixture("bare_no_counts.pth"), "--out=" + out});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  absl::StatusOr<util::Safetensors> st = util::ReadSafetensors(out);
  ASSERT_TRUE(st.ok());
  const std::string& count = st->tensors.at("bn3.num_batches_tracked").bytes;
  int64_t v = -1;
  ASSERT_EQ(count.size(), 8u);
  std::memcpy(&v, count.data(), 8);
  EXPECT_EQ(v, 0);
}

TEST(TorchCheckpoint, WrongNetworkIsNamed) {
  ToolResult r = RunTool("tools/convert_checkpoint", {"--in=" + Fixture("small_zip.pth"), "--out=" + TempPath("s.st")});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("small_zip.pth"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("conv1.weight"), std::string::npos) << r.output;
  ToolResult t = RunTool("tools/convert_checkpoint", {"--in=" + Fixture("30x60.pt"), "--out=" + TempPath("t.st")});
  EXPECT_EQ(t.exit_code, 1) << t.output;
  EXPECT_NE(t.output.find("not a checkpoint dict"), std::string::npos) << t.output;
}

}  // namespace
}  // namespace sal360::tools

// End-to-end tests of tools:resize_dataset: a tiny synthetic dataset (2 videos x 3 frames
// at 64x128, with caches) resized to 32x64; the copy's layout, content and the refusals.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/image.h"
#include "data/synthetic.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/tool_runner.h"
#include "util/file.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string TmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

using ToolRun = sal360::testing::ToolResult;

ToolRun Resize(const std::vector<std::string>& args) {
  return sal360::testing::RunToolSplit("tools/resize_dataset", args);
}

std::string Read(const std::string& path) {
  auto s = sal360::util::ReadFile(path, 1 << 26);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

// A fresh 2 x 3 dataset at 64x128 with 16x32 caches under TEST_TMPDIR/<name>.
std::string MakeSource(const std::string& name, uint64_t seed = 1) {
  const std::string root = TmpDir() + "/" + name;
  fs::remove_all(root);
  sal360::data::SyntheticOptions o;
  o.seed = seed;
  o.videos = 2;
  o.frames = 3;
  o.height = 64;
  o.width = 128;
  o.viewers = 4;
  o.gt_cache = true;
  o.gt_cache_height = 16;
  o.gt_cache_width = 32;
  auto stats = sal360::data::MakeSyntheticDataset(root, o);
  EXPECT_TRUE(stats.ok()) << stats.status();
  return root;
}

TEST(ResizeDatasetTest, CopyHasTheSameLayoutAndResizedFrames) {
  const std::string src = MakeSource("src");
  const std::string dst = TmpDir() + "/small";
  fs::remove_all(dst);
  ASSERT_TRUE(sal360::util::WriteFileAtomically(src + "/syn000/notes.txt", "ignored").ok());
  ToolRun r = Resize({"--data=" + src, "--out=" + dst, "--height=32", "--width=64",
                      "--threads=2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.output);  // one JSON line
  EXPECT_EQ(r.output.find('\n'), r.output.size() - 1);
  EXPECT_EQ(j["frames"], 6);
  EXPECT_EQ(j["gt_caches"], 6);
  EXPECT_EQ(j["skipped"], 0);
  EXPECT_EQ(j["resumed"], 0);
  EXPECT_GT(j["bytes_in"].get<int64_t>(), j["bytes_out"].get<int64_t>());
  EXPECT_THAT(r.err, HasSubstr("resize_dataset"));  // progress line

  EXPECT_EQ(Read(src + "/vinfo.pkl"), Read(dst + "/vinfo.pkl"));
  EXPECT_FALSE(fs::exists(dst + "/syn000/notes.txt"));
  auto a = sal360::data::Dataset::Open(src);
  auto b = sal360::data::Dataset::Open(dst);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->num_errors(), 0);
  EXPECT_EQ(b->videos(), a->videos());
  EXPECT_EQ(b->num_frames(), 6);
  for (const std::string& video : a->videos()) {
    ASSERT_EQ(b->frames(video), a->frames(video));
    for (int id : a->frames(video)) {
      const sal360::data::FrameRef f{video, id};
      auto in = sal360::data::ReadImage(a->FramePath(f));
      auto out = sal360::data::ReadImage(b->FramePath(f));
      ASSERT_TRUE(in.ok() && out.ok());
      EXPECT_EQ(out->height, 32);
      EXPECT_EQ(out->width, 64);
      // The content is the 2x2 area average of the source (up to JPEG loss).
      const sal360::data::Image expect = sal360::data::ResizeImage(*in, 32, 64);
      double err = 0;
      for (size_t k = 0; k < expect.pixels.size(); ++k) {
        err += std::abs(int{expect.pixels[k]} - int{out->pixels[k]});
      }
      EXPECT_LT(err / expect.pixels.size(), 3.0) << f.ToString();
      EXPECT_EQ(Read(a->GtCachePath(f)), Read(b->GtCachePath(f)));
    }
  }

  // A second run into the finished copy is refused; --resume keeps everything.
  r = Resize({"--data=" + src, "--out=" + dst, "--height=32", "--width=64"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(dst + "/vinfo.pkl exists"));
  r = Resize({"--data=" + src, "--out=" + dst, "--height=32", "--width=64", "--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.output)["resumed"], 12);
  // --resume at another size names the mismatching file.
  r = Resize({"--data=" + src, "--out=" + dst, "--height=16", "--width=32", "--resume"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("already present at 64x32"));
}

TEST(ResizeDatasetTest, ResumeFinishesAnInterruptedCopy) {
  const std::string src = MakeSource("src_resume");
  const std::string dst = TmpDir() + "/resumed";
  fs::remove_all(dst);
  ToolRun r = Resize({"--data=" + src, "--out=" + dst, "--height=32", "--width=64"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Interrupted: no vinfo.pkl yet (it is written last) and one frame missing.
  fs::remove(dst + "/vinfo.pkl");
  fs::remove(dst + "/syn001/0002.jpg");
  r = Resize({"--data=" + src, "--out=" + dst, "--height=32", "--width=64", "--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["frames"], 1);
  EXPECT_EQ(j["resumed"], 11);
  auto b = sal360::data::Dataset::Open(dst);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->num_frames(), 6);
}

TEST(ResizeDatasetTest, Refusals) {
  const std::string src = MakeSource("src_refuse");
  const std::string pkl = Read(src + "/vinfo.pkl");
  // Into the source itself (also spelled differently) or below it.
  for (const std::string& out : {src, src + "/", src + "/../src_refuse", src + "/smaller"}) {
    ToolRun r = Resize({"--data=" + src, "--out=" + out});
    EXPECT_EQ(r.exit_code, 1) << out;
    EXPECT_THAT(r.err, HasSubstr("refusing")) << out;
  }
  EXPECT_FALSE(fs::exists(src + "/smaller"));
  EXPECT_EQ(Read(src + "/vinfo.pkl"), pkl);
  // Into another dataset (another vinfo.pkl), even with --resume.
  const std::string other = MakeSource("other", 2);
  auto frame_before = Read(other + "/syn000/0001.jpg");
  for (const char* extra : {"--threads=1", "--resume"}) {
    ToolRun r = Resize({"--data=" + src, "--out=" + other, extra});
    EXPECT_EQ(r.exit_code, 1) << extra;
    EXPECT_THAT(r.err, HasSubstr(other + "/vinfo.pkl")) << extra;
  }
  EXPECT_EQ(Read(other + "/syn000/0001.jpg"), frame_before);
  // Usage errors: exit 2.
  EXPECT_EQ(Resize({"--data=" + src}).exit_code, 2);
  EXPECT_EQ(Resize({"--data=" + src, "--out=x", "--height=0"}).exit_code, 2);
  EXPECT_EQ(Resize({"--data=" + src, "--out=x", "--jpeg_quality=101"}).exit_code, 2);
  EXPECT_EQ(Resize({"--data=" + src, "--out=x", "--threads=0"}).exit_code, 2);
  // Not a dataset: exit 1 naming it.
  ToolRun r = Resize({"--data=" + TmpDir() + "/nothing", "--out=" + TmpDir() + "/x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("nothing"));
}

TEST(ResizeDatasetTest, CorruptFrameFailsWithItsNameOrIsSkipped) {
  const std::string src = MakeSource("src_bad");
  const std::string jpg = src + "/syn001/0002.jpg";
  std::string bytes = Read(jpg);
  ASSERT_TRUE(sal360::util::WriteFileAtomically(jpg, bytes.substr(0, bytes.size() / 2)).ok());
  const std::string dst = TmpDir() + "/bad_out";
  fs::remove_all(dst);
  ToolRun r = Resize({"--data=" + src, "--out=" + dst, "--height=32", "--width=64"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(jpg));
  EXPECT_THAT(r.err, HasSubstr("truncated"));
  EXPECT_FALSE(fs::exists(dst + "/vinfo.pkl"));  // not a dataset after a failure

  r = Resize({"--data=" + src, "--out=" + dst, "--height=32", "--width=64", "--skip_bad"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.output)["skipped"], 1);
  EXPECT_EQ(nlohmann::json::parse(r.output)["frames"], 5);
  EXPECT_THAT(r.err, HasSubstr(jpg));
  EXPECT_FALSE(fs::exists(dst + "/syn001/0002.jpg"));
  auto b = sal360::data::Dataset::Open(dst);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->num_frames(), 5);
}

}  // namespace

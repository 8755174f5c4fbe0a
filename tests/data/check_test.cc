// Tests of dataset validation (data/check.h), the library behind tools:check_data.
#include "data/check.h"

#include <cstdlib>
#include <filesystem>

#include "data/dataset.h"
#include "data/pickle.h"
#include "data/synthetic.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_copy.h"
#include "util/file.h"

namespace sal360::data {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Json = nlohmann::ordered_json;


std::string MakeCopy(const std::string& name) {
  SyntheticOptions o;
  o.videos = 4;
  o.frames = 7;
  o.height = 16;
  o.width = 32;
  o.viewers = 4;
  return ::sal360::testing::SyntheticCopy(name, o);
}

TEST(CheckTest, CleanDatasetIsUsable) {
  CheckOptions o;
  o.root = MakeCopy("clean");
  int64_t last = 0, total = 0;
  const Json r = CheckDataset(o, [&](int64_t d, int64_t t) {
    last = d;
    total = t;
  });
  EXPECT_TRUE(r["usable"].get<bool>()) << r.dump(2);
  EXPECT_EQ(r["videos"], 4);
  EXPECT_EQ(r["frames"], 28);
  EXPECT_EQ(last, 28);
  EXPECT_EQ(total, 28);
  EXPECT_EQ(r["gaze_points"], 28 * 4);
  EXPECT_EQ(r["viewers_per_frame"]["min"], 4);
  EXPECT_EQ(r["frame_sizes"]["32x16"], 28);
  EXPECT_EQ(r["problems"]["errors"], 0);
  // Published proportion for 4 videos: round(80 · 4 / 104) = 3 training videos.
  EXPECT_EQ(r["split"]["train"].size(), 3u);
  EXPECT_EQ(r["split"]["test"].size(), 1u);
  EXPECT_TRUE(r["split"]["val"].empty());
}

TEST(CheckTest, ProblemsAreListedAndMakeItUnusable) {
  const std::string root = MakeCopy("broken");
  // A truncated frame, a malformed cache, a well-formed cache, a stray zip.
  const std::string jpg = root + "/syn002/0003.jpg";
  auto bytes = util::ReadFile(jpg, 1 << 20);
  ASSERT_TRUE(util::WriteFileAtomically(jpg, bytes->substr(0, bytes->size() - 20)).ok());
  ASSERT_TRUE(util::WriteFileAtomically(root + "/syn001/0002_gt.npy", "junk").ok());
  ASSERT_TRUE(util::WriteFileAtomically(root + "/all.zip", "zip").ok());
  CheckOptions o;
  o.root = root;
  const Json r = CheckDataset(o);
  EXPECT_FALSE(r["usable"].get<bool>());
  EXPECT_EQ(r["problems"]["errors"], 2);
  EXPECT_EQ(r["problems"]["notes"], 1);
  EXPECT_EQ(r["problems"]["by_kind"]["frame_unreadable"], 1);
  EXPECT_EQ(r["problems"]["by_kind"]["gt_cache_malformed"], 1);
  EXPECT_EQ(r["problems"]["by_kind"]["ignored_entry"], 1);
  bool named = false;
  for (const auto& p : r["problems"]["list"]) {
    if (p["kind"] == "frame_unreadable") {
      EXPECT_EQ(p["path"], jpg);
      EXPECT_THAT(p["message"].get<std::string>(), HasSubstr("truncated JPEG"));
      named = true;
    }
  }
  EXPECT_TRUE(named);
  EXPECT_EQ(r["frame_sizes"]["32x16"], 27);
  o.max_listed = 1;
  const Json r1 = CheckDataset(o);
  EXPECT_EQ(r1["problems"]["list"].size(), 1u);
  EXPECT_FALSE(r1["problems"]["listed_all"].get<bool>());
}

TEST(CheckTest, MissingPreviousFrameIsReported) {
  const std::string root = MakeCopy("prev");
  // Drop frame 2 of syn000 entirely (jpg and gaze): frame 7 loses its temporal input.
  auto d = Dataset::Open(root);
  ASSERT_TRUE(d.ok());
  GazeTable t = d->gaze_table();
  t["syn000"].erase(2);
  ASSERT_TRUE(WritePickle(root + "/vinfo.pkl", GazeTableToPickle(t)).ok());
  fs::remove(root + "/syn000/0002.jpg");
  CheckOptions o;
  o.root = root;
  const Json r = CheckDataset(o);
  EXPECT_FALSE(r["usable"].get<bool>());
  EXPECT_EQ(r["problems"]["by_kind"]["previous_frame_missing"], 1);
  EXPECT_THAT(r["problems"]["list"][0]["message"].get<std::string>(),
              HasSubstr("syn000/0007: frame 0002"));
  o.prev_interval = 6;  // frame 7 now uses frame 1
  EXPECT_TRUE(CheckDataset(o)["usable"].get<bool>());
}

TEST(CheckTest, FatalLayoutErrors) {
  const std::string root = MakeCopy("fatal");
  fs::create_directory(root + "/extra");
  CheckOptions o;
  o.root = root;
  const Json r = CheckDataset(o);
  EXPECT_FALSE(r["usable"].get<bool>());
  EXPECT_THAT(r["fatal"].get<std::string>(), HasSubstr("'extra'"));
  o.root = ::sal360::testing::TestTmpDir() + "/does_not_exist";
  EXPECT_THAT(CheckDataset(o)["fatal"].get<std::string>(), HasSubstr("not a directory"));
}

TEST(CheckTest, SplitFileAndCacheWriting) {
  const std::string root = MakeCopy("split");
  ASSERT_TRUE(util::WriteFileAtomically(
                  root + "/../split.json",
                  R"({"train":["syn000","syn001"],"val":["syn002"],"test":["syn003"]})")
                  .ok());
  CheckOptions o;
  o.root = root;
  o.split = "file";
  o.split_file = root + "/../split.json";
  o.write_gt_cache = true;
  o.gt_cache_height = 8;
  o.gt_cache_width = 16;
  Json r = CheckDataset(o);
  EXPECT_TRUE(r["usable"].get<bool>()) << r.dump(2);
  EXPECT_EQ(r["split"]["val"], Json::array({"syn002"}));
  EXPECT_EQ(r["gt_caches"]["written"], 28);
  EXPECT_TRUE(fs::exists(root + "/syn003/0007_gt.npy"));
  r = CheckDataset(o);
  EXPECT_EQ(r["gt_caches"]["present"], 28);
  EXPECT_EQ(r["gt_caches"]["written"], 0);
  EXPECT_EQ(r["gt_caches"]["sizes"]["16x8"], 28);
  o.split_file = root + "/../missing.json";
  r = CheckDataset(o);
  EXPECT_FALSE(r["usable"].get<bool>());
  EXPECT_EQ(r["problems"]["by_kind"]["split"], 1);
}

}  // namespace
}  // namespace sal360::data

// Tests of the dataset layout and index (data/dataset.h) on generated datasets.
#include "data/dataset.h"

#include <cstdlib>
#include <filesystem>

#include "data/pickle.h"
#include "data/synthetic.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_copy.h"
#include "util/file.h"

namespace sal360::data {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;


SyntheticOptions Small() {
  SyntheticOptions o;
  o.videos = 3;
  o.frames = 6;
  o.height = 16;
  o.width = 32;
  o.viewers = 5;
  return o;
}

// A fresh copy of a small generated dataset.
std::string MakeCopy(const std::string& name) { return ::sal360::testing::SyntheticCopy(name, Small()); }

TEST(FrameKeyTest, CanonicalFourDigitIds) {
  EXPECT_EQ(FrameKey(1), "0001");
  EXPECT_EQ(FrameKey(12345), "12345");
  int f = 0;
  EXPECT_TRUE(ParseFrameKey("0001", &f));
  EXPECT_EQ(f, 1);
  EXPECT_TRUE(ParseFrameKey("12345", &f));
  EXPECT_EQ(f, 12345);
  for (const char* bad : {"", "1", "001", "00001", "0000", "000a", "-001", "0x01", "1234567890"}) {
    EXPECT_FALSE(ParseFrameKey(bad, &f)) << bad;
  }
  EXPECT_EQ((FrameRef{"abc", 7}).ToString(), "abc/0007");
}

TEST(DatasetTest, OpensAGeneratedDataset) {
  const std::string root = MakeCopy("open");
  ASSERT_TRUE(util::WriteFileAtomically(root + "/videos.zip", "zip").ok());  // ignored
  auto d = Dataset::Open(root + "/");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->root(), root);
  EXPECT_THAT(d->videos(), ElementsAre("syn000", "syn001", "syn002"));
  EXPECT_THAT(d->frames("syn001"), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_EQ(d->num_frames(), 18);
  EXPECT_EQ(d->num_errors(), 0);
  ASSERT_EQ(d->issues().size(), 1u);
  EXPECT_EQ(d->issues()[0].kind, "ignored_entry");
  EXPECT_THAT(d->issues()[0].path, HasSubstr("videos.zip"));
  EXPECT_EQ(d->FramePath({"syn001", 3}), root + "/syn001/0003.jpg");
  EXPECT_EQ(d->GtCachePath({"syn001", 3}), root + "/syn001/0003_gt.npy");
  // The gaze table is what the generator rendered.
  const std::vector<SyntheticFrame> frames = RenderSyntheticVideo(Small(), 2);
  for (int f = 1; f <= 6; ++f) {
    const std::vector<GazePoint>* g = d->gaze("syn002", f);
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(*g, frames[f - 1].gaze);
  }
  EXPECT_EQ(d->gaze("syn002", 7), nullptr);
  EXPECT_EQ(d->gaze("nope", 1), nullptr);
  auto refs = d->FramesOf({"syn002", "syn000"});
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 12u);
  EXPECT_EQ((*refs)[0].ToString(), "syn002/0001");
  EXPECT_EQ((*refs)[6].ToString(), "syn000/0001");
  EXPECT_THAT(std::string(d->FramesOf({"zzz"}).status().message()), HasSubstr("no video 'zzz'"));
}

TEST(DatasetTest, FolderAndKeyMismatchIsAnError) {
  std::string root = MakeCopy("extra");
  fs::create_directory(root + "/stray_video");
  auto d = Dataset::Open(root);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("1 folder(s) are not in vinfo.pkl ('stray_video')"));
  root = MakeCopy("missing");
  fs::remove_all(root + "/syn001");
  d = Dataset::Open(root);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("1 video(s) of vinfo.pkl have no folder ('syn001')"));
  // Hidden directories are not videos.
  root = MakeCopy("hidden");
  fs::create_directory(root + "/.cache");
  EXPECT_TRUE(Dataset::Open(root).ok());
}

TEST(DatasetTest, FramesWithoutGazeAreDroppedAndReported) {
  const std::string root = MakeCopy("nogaze");
  fs::copy_file(root + "/syn000/0001.jpg", root + "/syn000/0042.jpg");
  fs::copy_file(root + "/syn000/0001.jpg", root + "/syn000/42.jpg");  // not a frame name
  auto d = Dataset::Open(root);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_THAT(d->frames("syn000"), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_EQ(d->num_errors(), 1);
  bool found = false;
  for (const auto& i : d->issues()) {
    if (i.kind == "frame_without_gaze") {
      found = true;
      EXPECT_THAT(i.path, HasSubstr("syn000/0042.jpg"));
    }
  }
  EXPECT_TRUE(found);
}

TEST(DatasetTest, VinfoStructureErrors) {
  const std::string root = MakeCopy("vinfo");
  const std::string path = root + "/vinfo.pkl";
  auto write = [&](const PyValue& v) { ASSERT_TRUE(WritePickle(path, v, 2).ok()); };
  using V = PyValue;
  struct Case {
    V value;
    const char* want;
  };
  auto frames_of = [](V points) { return V::FromDict({{V::FromStr("0001"), points}}); };
  const std::vector<Case> cases = {
      {V::FromList({}), "expected a dict"},
      {V::FromDict({{V::FromInt(3), V::FromDict({})}}), "video key 3 is a int"},
      {V::FromDict({{V::FromStr("syn000"), V::FromList({})}}), "video 'syn000': expected a dict"},
      {V::FromDict({{V::FromStr("syn000"), V::FromDict({{V::FromStr("1"), V::FromList({})}})}}),
       "frame key '1' is not a 4-digit frame id"},
      {V::FromDict(
           {{V::FromStr("syn000"), frames_of(V::FromList({V::FromTuple({V::FromFloat(0.5)})}))}}),
       "video 'syn000' frame '0001': gaze entry 0 is (0.5,), expected (x, y)"},
      {V::FromDict({{V::FromStr("syn000"),
                     frames_of(V::FromList({V::FromList({V::FromStr("a"), V::FromFloat(0.5)})}))}}),
       "gaze entry 0 is ['a', 0.5]"},
      {V::FromDict({{V::FromStr("../x"), V::FromDict({})}}), "not a valid folder name"},
  };
  for (const Case& c : cases) {
    write(c.value);
    auto d = Dataset::Open(root);
    ASSERT_FALSE(d.ok()) << c.want;
    EXPECT_THAT(std::string(d.status().message()), HasSubstr(c.want));
    EXPECT_THAT(std::string(d.status().message()), HasSubstr("vinfo.pkl"));
  }
  // A pickle that would run code.
  ASSERT_TRUE(util::WriteFileAtomically(path, "cos\nsystem\n(S'echo x'\ntR.").ok());
  auto d = Dataset::Open(root);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("vinfo.pkl: unsupported pickle opcode 0x63 (GLOBAL) at byte 0"));
  fs::remove(path);
  EXPECT_THAT(std::string(Dataset::Open(root).status().message()), HasSubstr("vinfo.pkl: missing"));
  EXPECT_FALSE(Dataset::Open(root + "/nonexistent").ok());
}

TEST(DatasetTest, BadGazePointsAreReportedNotFatal) {
  const std::string root = MakeCopy("badgaze");
  auto d0 = Dataset::Open(root);
  ASSERT_TRUE(d0.ok());
  GazeTable table = d0->gaze_table();
  table["syn001"][2][0] = GazePoint{1.25, 0.5};
  table["syn001"][3].clear();
  ASSERT_TRUE(WritePickle(root + "/vinfo.pkl", GazeTableToPickle(table), 4).ok());
  auto d = Dataset::Open(root);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->num_errors(), 2);
  std::vector<std::string> kinds;
  for (const auto& i : d->issues()) kinds.push_back(i.kind + ": " + i.message);
  EXPECT_THAT(kinds,
              ::testing::Contains(HasSubstr("gaze_out_of_range: syn001/0002: gaze point 0 (1.25")));
  EXPECT_THAT(kinds, ::testing::Contains(HasSubstr("no_gaze_points: syn001/0003")));
}

TEST(DatasetTest, GazeTablePickleRoundTrip) {
  GazeTable t;
  t["b"][2] = {{0.25, 0.5}, {1.0, 0.0}};
  t["a"][1] = {{0.125, 0.75}};
  const PyValue v = GazeTableToPickle(t);
  EXPECT_EQ(v.DebugString(),
            "{'a': {'0001': [(0.125, 0.75)]}, 'b': {'0002': [(0.25, 0.5), (1.0, 0.0)]}}");
  for (int proto = 2; proto <= 4; ++proto) {
    auto bytes = SerializePickle(v, proto);
    ASSERT_TRUE(bytes.ok());
    auto parsed = ParsePickle(*bytes, "t");
    ASSERT_TRUE(parsed.ok());
    auto back = GazeTableFromPickle(*parsed, "t");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, t);
  }
  // Lists instead of tuples and ints instead of floats are accepted, as Python would.
  using V = PyValue;
  auto loose = GazeTableFromPickle(
      V::FromDict(
          {{V::FromStr("v"),
            V::FromDict({{V::FromStr("0003"),
                          V::FromTuple({V::FromList({V::FromInt(1), V::FromFloat(0.5)})})}})}}),
      "loose");
  ASSERT_TRUE(loose.ok()) << loose.status();
  EXPECT_EQ((*loose)["v"][3], (std::vector<GazePoint>{{1.0, 0.5}}));
}

}  // namespace
}  // namespace sal360::data

namespace sal360::data {
namespace {

// The generic layout (gaze.csv): the same synthetic dataset written both ways opens to the
// same gaze table and frames; the CSV round-trips exactly; malformed files name the line.
TEST(GazeCsvTest, SameDatasetAsThePickleLayout) {
  SyntheticOptions csv = Small();
  csv.gaze_csv = true;
  EXPECT_NE(csv.Key(), Small().Key());
  const std::string a = ::testing::TempDir() + "/csv_layout", b = ::testing::TempDir() + "/pkl_layout";
  ASSERT_TRUE(MakeSyntheticDataset(a, csv).ok());
  ASSERT_TRUE(MakeSyntheticDataset(b, Small()).ok());
  EXPECT_TRUE(std::filesystem::exists(a + "/gaze.csv"));
  EXPECT_FALSE(std::filesystem::exists(a + "/vinfo.pkl"));
  absl::StatusOr<Dataset> da = Dataset::Open(a), db = Dataset::Open(b);
  ASSERT_TRUE(da.ok()) << da.status();
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(da->gaze_table(), db->gaze_table());
  EXPECT_EQ(da->videos(), db->videos());
  EXPECT_EQ(da->num_frames(), db->num_frames());
  EXPECT_EQ(da->num_errors(), 0);
  // Exact round trip of the text.
  const std::string text = GazeTableToCsv(db->gaze_table());
  absl::StatusOr<GazeTable> back = ParseGazeCsv(text, "g.csv");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, db->gaze_table());
  // Both files in one root: which is meant?
  ASSERT_TRUE(util::WriteFileAtomically(a + "/vinfo.pkl", "x").ok());
  EXPECT_THAT(std::string(Dataset::Open(a).status().message()), HasSubstr("both vinfo.pkl and gaze.csv"));
}

TEST(GazeCsvTest, ErrorsNameTheLine) {
  auto err = [](const std::string& text) { return std::string(ParseGazeCsv(text, "g.csv").status().message()); };
  EXPECT_THAT(err(""), HasSubstr("g.csv: empty"));
  EXPECT_THAT(err("video,frame,x,y\n"), HasSubstr("g.csv:1: the header must be"));
  EXPECT_THAT(err("video,frame,user,x,y\nv,1,u,0.5\n"), HasSubstr("g.csv:2: 4 fields"));
  EXPECT_THAT(err("video,frame,user,x,y\nv,1,u,0.5,0.5\nv,0,u,0.5,0.5\n"), HasSubstr("g.csv:3: bad frame id '0'"));
  EXPECT_THAT(err("video,frame,user,x,y\nv,1,u,1.5,0.5\n"), HasSubstr("g.csv:2: gaze point (1.5, 0.5) is outside"));
  EXPECT_THAT(err("video,frame,user,x,y\nv,1,u,nan,0.5\n"), HasSubstr("outside"));
  EXPECT_THAT(err("video,frame,user,x,y\n\"v\",1,u,0.5,0.5\n"), HasSubstr("bad video name"));
  EXPECT_THAT(err("video,frame,user,x,y\nv,1,u,0.5x,0.5\n"), HasSubstr("bad x '0.5x'"));
  // CRLF line ends, a BOM and blank lines are fine.
  absl::StatusOr<GazeTable> ok = ParseGazeCsv("\xEF\xBB\xBFvideo,frame,user,x,y\r\nv,2,a,0.25,0.75\r\n\r\nv,2,b,0,1\r\n",
                                              "g.csv");
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->at("v").at(2).size(), 2u);
  EXPECT_EQ(ok->at("v").at(2)[0].x, 0.25);
  EXPECT_EQ(ok->at("v").at(2)[1].y, 1.0);
}

}  // namespace
}  // namespace sal360::data

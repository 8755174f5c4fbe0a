// Salient360! fixation lists (data/salient360.h): the two published layouts without a
// header, headers by name (the toolbox's head+eye export), frame selection by time or
// frame number, and hostile or malformed lines refused with the file and line named.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/salient360.h"

namespace sal360::data {
namespace {

using Unit = Salient360FixationList::Unit;

std::vector<GazePoint> Frame(const Salient360FixationList& l, int64_t k, double fps = 10) {
  absl::StatusOr<std::vector<GazePoint>> p = FixationsOfFrame(l, k, fps, "f.txt");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : std::vector<GazePoint>{};
}

std::string Error(const std::string& text) {
  absl::StatusOr<Salient360FixationList> l = ParseSalient360Fixations(text, "f.txt");
  EXPECT_FALSE(l.ok());
  return l.ok() ? "" : std::string(l.status().message());
}

TEST(Salient360Fixations, IcmeImageLayoutWithHeader) {
  // ICME'17: Idx, longitude, latitude, start timestamp, duration, end timestamp. Two
  // observers (the index restarts).
  const std::string text =
      "Idx, longitude, latitude, start timestamp, duration, end timestamp\r\n"
      "1, 0.25, 0.5, 0, 180, 180\n"
      "2, 0.75, 0.125, 200, 300, 500\n"
      "\n"
      "1, 0.5, 0.5, 10, 100, 110\n";
  absl::StatusOr<Salient360FixationList> l = ParseSalient360Fixations(text, "f.txt");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->unit, Unit::kMilliseconds);
  ASSERT_EQ(l->fixations.size(), 3u);
  EXPECT_EQ(l->fixations[1].lon, 0.75);
  EXPECT_EQ(l->fixations[1].lat, 0.125);
  EXPECT_EQ(l->fixations[1].start, 200);
  EXPECT_EQ(l->fixations[1].end, 500);
  // 10 fps: frame k is [100k, 100(k+1)) ms. Frame 0: fixations 1 and 3; frame 1: 1 and 3
  // (3 ends at 110); frame 2: 2 (200..500); frame 5: none.
  EXPECT_EQ(Frame(*l, 0).size(), 2u);
  EXPECT_EQ(Frame(*l, 1).size(), 2u);
  ASSERT_EQ(Frame(*l, 2).size(), 1u);
  EXPECT_EQ(Frame(*l, 2)[0], (GazePoint{0.75, 0.125}));
  EXPECT_EQ(Frame(*l, 4).size(), 1u);
  EXPECT_EQ(Frame(*l, 5).size(), 0u);  // 2 ends at exactly 500 ms: not in [500, 600)
  EXPECT_EQ(Frame(*l, -1, 0).size(), 3u);  // an image: all, no fps needed
}

TEST(Salient360Fixations, HeaderlessLayoutsByColumnCount) {
  absl::StatusOr<Salient360FixationList> six =
      ParseSalient360Fixations("1,0.1,0.2,0,50,50\n2,0.3,0.4,60,30,90\n", "six.txt");
  ASSERT_TRUE(six.ok()) << six.status();
  EXPECT_EQ(six->fixations[1].end, 90);  // column 6 is the end, column 5 the duration
  // The toolbox's default export (numpy.savetxt header with '#'): Fix_index, long_Gaze,
  // lat_Gaze, Fix_time_start; without its header, 4 columns.
  for (const std::string text : {std::string("# Fix_index, long_Gaze, lat_Gaze, Fix_time_start\n"
                                             "0,5.0e-01,2.5e-01,120\n1,1.0e+00,0.0e+00,250\n"),
                                 std::string("0 0.5 0.25 120\n1 1 0 250\n")}) {
    absl::StatusOr<Salient360FixationList> l = ParseSalient360Fixations(text, "four.txt");
    ASSERT_TRUE(l.ok()) << l.status();
    ASSERT_EQ(l->fixations.size(), 2u);
    EXPECT_EQ(l->fixations[0].lon, 0.5);
    EXPECT_EQ(l->fixations[0].lat, 0.25);
    // Only a start: the frame of the start.
    EXPECT_EQ(Frame(*l, 0).size(), 0u);
    EXPECT_EQ(Frame(*l, 1).size(), 1u);
    EXPECT_EQ(Frame(*l, 2).size(), 1u);
    EXPECT_EQ(Frame(*l, 2)[0], (GazePoint{1, 0}));
  }
}

TEST(Salient360Fixations, HeadPlusEyeExportTakesTheGazeColumns) {
  const std::string text =
      "# long_Gaze, lat_Gaze, long_Eye, lat_Eye, long_Head, lat_Head, Fix_index, Fix_time_start, Fix_time_end\n"
      "0.1,0.2,0.9,0.9,0.8,0.8,0,0,40\n";
  absl::StatusOr<Salient360FixationList> l = ParseSalient360Fixations(text, "he.txt");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->fixations[0].lon, 0.1);
  EXPECT_EQ(l->fixations[0].lat, 0.2);
  EXPECT_EQ(l->fixations[0].end, 40);
}

TEST(Salient360Fixations, FramesAndUntimedLists) {
  absl::StatusOr<Salient360FixationList> f =
      ParseSalient360Fixations("lon,lat,start frame,end frame\n0.5,0.5,2,4\n", "fr.csv");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->unit, Unit::kFrames);
  EXPECT_EQ(Frame(*f, 1, 0).size(), 0u);  // no fps needed for frame lists
  EXPECT_EQ(Frame(*f, 2, 0).size(), 1u);
  EXPECT_EQ(Frame(*f, 4, 0).size(), 1u);  // inclusive end
  EXPECT_EQ(Frame(*f, 5, 0).size(), 0u);
  absl::StatusOr<Salient360FixationList> u = ParseSalient360Fixations("latitude,longitude\n0.1,0.7\n", "u.csv");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->unit, Unit::kNone);
  EXPECT_EQ(Frame(*u, 0)[0], (GazePoint{0.7, 0.1}));  // columns by name, not position
  EXPECT_NE(std::string(FixationsOfFrame(*u, 1, 10, "u.csv").status().message()).find("no time columns"),
            std::string::npos);
  absl::StatusOr<Salient360FixationList> ms = ParseSalient360Fixations("1,0.1,0.2,0,50,50\n", "ms.txt");
  ASSERT_TRUE(ms.ok());
  EXPECT_NE(std::string(FixationsOfFrame(*ms, 0, 0, "ms.txt").status().message()).find("--fix_fps"),
            std::string::npos);
}

TEST(Salient360Fixations, BadInputNamesFileAndLine) {
  EXPECT_NE(Error("1,0.1,0.2,5\n1,2,3,4,5\n").find("f.txt:2: 5 columns"), std::string::npos);
  EXPECT_NE(Error("1,0.1,0.2,4,5\n").find("without a header"), std::string::npos);
  EXPECT_NE(Error("Idx,x,y\n1,2,3\n").find("no longitude"), std::string::npos);
  EXPECT_NE(Error("1,1.5,0.2,0,5,5\n").find("outside [0,1]^2"), std::string::npos);
  EXPECT_NE(Error("1,nan,0.2,0,5,5\n").find("bad longitude 'nan'"), std::string::npos);
  EXPECT_NE(Error("1,0.1,0.2,0,inf,5\n").find("f.txt:1: bad duration 'inf'"), std::string::npos);
  EXPECT_NE(Error("1,0.1,0.2,50,5,10\n").find("bad interval"), std::string::npos);
  EXPECT_NE(Error("long,lat,start,duration\n0.1,0.2,0,-3\n").find("negative duration"), std::string::npos);
  EXPECT_NE(Error("long,lat,start frame,end frame\n0.1,0.2,1.5,3\n").find("integers"), std::string::npos);
  EXPECT_NE(Error("long,lat,start frame,end timestamp\n").find("different units"), std::string::npos);
  EXPECT_NE(Error("long,lat,duration\n").find("without a start"), std::string::npos);
  EXPECT_NE(Error("# only a comment\n").find("no fixations"), std::string::npos);
  EXPECT_NE(Error("").find("no fixations"), std::string::npos);
  // A first line that is not all numbers is read as a header.
  EXPECT_NE(Error("1,0.1;0.2,0,5,5,6\n").find("f.txt:1: the header names no longitude"), std::string::npos);
  // A '#' line that names no coordinates is a comment; an uncommented one is an error.
  EXPECT_NE(Error("# Fix_index, Fix_time_start\n1,2\n").find("without a header"), std::string::npos);
  EXPECT_NE(std::string(ReadSalient360Fixations("/nonexistent/f.txt").status().message()).find("/nonexistent/f.txt"),
            std::string::npos);
}

}  // namespace
}  // namespace sal360::data

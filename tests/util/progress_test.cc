#include "util/progress.h"

#include "gtest/gtest.h"

namespace sal360::util {
namespace {

TEST(Progress, FormatShowsRateAndEta) {
  // 50 of 200 steps in 25 s: 2 steps/s, 150 left -> 75 s = 01:15.
  const std::string line = ProgressLine::Format("train", 50, 200, "step", 25.0, "loss 0.5");
  EXPECT_NE(line.find("train 50/200"), std::string::npos) << line;
  EXPECT_NE(line.find("( 25%)"), std::string::npos) << line;
  EXPECT_NE(line.find("2.00 step/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 01:15"), std::string::npos) << line;
  EXPECT_NE(line.find("loss 0.5"), std::string::npos) << line;
}

TEST(Progress, NoEtaWhenDoneOrUnknownRate) {
  EXPECT_EQ(ProgressLine::Format("x", 10, 10, "it", 5.0, "").find("ETA"), std::string::npos);
  EXPECT_NE(ProgressLine::Format("x", 0, 10, "it", 0.0, "").find("ETA --:--"), std::string::npos);
  EXPECT_NE(ProgressLine::Format("x", 1, 10, "it", 7200.0, "").find("ETA 18:00:00"),
            std::string::npos);
}

}  // namespace
}  // namespace sal360::util

// Fuzz target: the text formats from outside: split JSON (data/split.h), the generic
// gaze.csv (data/dataset.h), Salient360! fixation lists and map file names
// (data/salient360.h).
#include <cstdint>

#include "data/dataset.h"
#include "data/salient360.h"
#include "data/split.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = sal360::fuzz::Bytes(data, size);
  (void)sal360::data::ParseSplitJson(text, "split.json", {"a", "b", "c", "syn001"});
  (void)sal360::data::ParseGazeCsv(text, "gaze.csv");
  auto fix = sal360::data::ParseSalient360Fixations(text, "fix.txt");
  if (fix.ok()) {
    for (int64_t frame : {-1, 0, 3}) (void)sal360::data::FixationsOfFrame(*fix, frame, 30.0, "fix.txt");
  }
  if (size < 256) (void)sal360::data::ParseSalient360FileName("/d/" + text);
  return 0;
}

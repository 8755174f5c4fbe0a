// A one-line progress display for long work: label, done/total, rate, ETA and a
// free-form tail (e.g. the loss). On a terminal the line is redrawn in place; when
// stderr is a file or pipe (CI logs) a full line is printed at most every 10 s.
#ifndef SAL360_UTIL_PROGRESS_H_
#define SAL360_UTIL_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace sal360::util {

class ProgressLine {
 public:
  ProgressLine(std::string label, int64_t total, std::string unit = "it");
  // Throttled: redraws at most 5 times a second (terminal) or every 10 s (log).
  void Update(int64_t done, const std::string& extra = "");
  // Always prints the final state followed by a newline.
  void Finish(const std::string& extra = "");

  // The text of the line for `done` items after `elapsed_s` seconds (for tests).
  static std::string Format(const std::string& label, int64_t done, int64_t total,
                            const std::string& unit, double elapsed_s, const std::string& extra);

 private:
  void Print(int64_t done, const std::string& extra, bool final_line);
  std::string label_;
  int64_t total_;
  std::string unit_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
  bool printed_ = false;
  int64_t last_done_ = 0;
};

}  // namespace sal360::util

#endif  // SAL360_UTIL_PROGRESS_H_

#include "util/progress.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_format.h"

namespace sal360::util {
namespace {

std::string Duration(double s) {
  if (!(s >= 0) || s > 1e7) return "--:--";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  if (t >= 3600) return absl::StrFormat("%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60);
  return absl::StrFormat("%02d:%02d", t / 60, t % 60);
}

}  // namespace

ProgressLine::ProgressLine(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

std::string ProgressLine::Format(const std::string& label, int64_t done, int64_t total,
                                 const std::string& unit, double elapsed_s,
                                 const std::string& extra) {
  const double rate = elapsed_s > 0 ? done / elapsed_s : 0.0;
  std::string line = absl::StrFormat("%s %d/%d", label, done, total);
  if (total > 0) line += absl::StrFormat(" (%3.0f%%)", 100.0 * done / total);
  line += absl::StrFormat(" | %.2f %s/s | elapsed %s", rate, unit, Duration(elapsed_s));
  if (total > 0 && done < total) {
    line += " | ETA " + (rate > 0 ? Duration((total - done) / rate) : std::string("--:--"));
  }
  if (!extra.empty()) line += " | " + extra;
  return line;
}

void ProgressLine::Print(int64_t done, const std::string& extra, bool final_line) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::string line = Format(label_, done, total_, unit_, elapsed, extra);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
  printed_ = true;
}

void ProgressLine::Update(int64_t done, const std::string& extra) {
  last_done_ = done;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_print_).count();
  if (printed_ && since < (tty_ ? 0.2 : 10.0)) return;
  last_print_ = now;
  Print(done, extra, false);
}

void ProgressLine::Finish(const std::string& extra) { Print(last_done_, extra, true); }

}  // namespace sal360::util

// Named crash points for crash-consistency tests (issue #18): the kill -9 soak
// (tools/soak_resume.sh) and the resume tests kill `train` at exact moments — right
// after a checkpoint rename, right after a log append — rather than hoping a random
// signal lands there.
//
// SAL360_CRASH_AT=NAME kills the process with SIGKILL the first time CrashPoint(NAME)
// is reached; SAL360_CRASH_AT=NAME@K the K-th time (1-based). Unset (always, outside
// such tests), CrashPoint costs one cached comparison. Points in the code:
//   renamed       util: an atomic write's rename is done (before the directory fsync)
//   saved_last    train: last.safetensors written
//   saved_best    train: best.safetensors written
//   logged_step   train: a steps.csv/log.jsonl row appended and flushed
//   logged_epoch  train: an epochs.csv/log.jsonl row appended and flushed
#ifndef SAL360_UTIL_CRASH_POINT_H_
#define SAL360_UTIL_CRASH_POINT_H_

#include <string_view>

namespace sal360::util {

void CrashPoint(std::string_view name);

}  // namespace sal360::util

#endif  // SAL360_UTIL_CRASH_POINT_H_

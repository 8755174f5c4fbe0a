// Small file helpers for the I/O boundaries: size-limited reads, atomic writes.
#ifndef SAL360_UTIL_FILE_H_
#define SAL360_UTIL_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sal360::util {

// Reads a whole file. Errors name the path: missing, unreadable, a directory, or
// larger than `max_bytes` (hostile or mistaken input never exhausts memory).
absl::StatusOr<std::string> ReadFile(const std::string& path, int64_t max_bytes);

// Writes `contents` so that readers see either the old file or the complete new one:
// a temporary file in the same directory, fsync, rename over `path`, fsync of the
// directory. On any error the temporary file is removed and `path` is untouched.
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);

// A path the user typed, made absolute against the directory `bazel run` was started
// from (BUILD_WORKING_DIRECTORY) when it is relative; unchanged otherwise (and when not
// run by bazel, or for "").
std::string UserPath(const std::string& path);

// mkdir -p. Existing directories are fine; an existing non-directory is an error.
absl::Status MakeDirs(const std::string& path);

}  // namespace sal360::util

#endif  // SAL360_UTIL_FILE_H_

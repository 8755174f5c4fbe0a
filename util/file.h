// Small file helpers for the I/O boundaries: size-limited reads, atomic writes.
#ifndef SAL360_UTIL_FILE_H_
#define SAL360_UTIL_FILE_H_

#include <cstdint>
#include <string>
#include <string_view>

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

// The same guarantee for a file written piece by piece (a stream of maps): bytes go to
// a temporary file next to `path`; Commit fsyncs and renames it into place (to
// `final_path` when given, e.g. a name that holds a count known only at the end; it
// must be in the same directory). Destroyed uncommitted, the temporary file is removed.
class AtomicFile {
 public:
  static absl::StatusOr<AtomicFile> Create(const std::string& path);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&& other) noexcept;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  absl::Status Append(std::string_view bytes);
  absl::Status Commit(const std::string& final_path = "");
  const std::string& temp_path() const { return temp_path_; }

 private:
  AtomicFile() = default;
  void Abandon();
  std::string path_, temp_path_;
  int fd_ = -1;
};

// fsync `temp_path` (a finished file another library wrote, e.g. a muxer), rename it
// to `path`, fsync the directory. On error `temp_path` is removed, `path` untouched.
absl::Status CommitFile(const std::string& temp_path, const std::string& path);

// A path the user typed, made absolute against the directory `bazel run` was started
// from (BUILD_WORKING_DIRECTORY) when it is relative; unchanged otherwise (and when not
// run by bazel, or for "").
std::string UserPath(const std::string& path);

// mkdir -p. Existing directories are fine; an existing non-directory is an error.
absl::Status MakeDirs(const std::string& path);

}  // namespace sal360::util

#endif  // SAL360_UTIL_FILE_H_

#include "util/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "util/crash_point.h"

namespace sal360::util {
namespace {

std::string ErrnoText() { return std::strerror(errno); }

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path, int64_t max_bytes) {
  // O_NONBLOCK: opening a FIFO for reading would wait for a writer forever; it is
  // refused below (regular files ignore the flag).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", ErrnoText()));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat(path, ": cannot stat: ", ErrnoText()));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, expected a file"));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file (a FIFO, socket or device); expected a file"));
  }
  if (st.st_size > max_bytes) {
    ::close(fd);
    return absl::ResourceExhaustedError(absl::StrCat(path, ": file is ", st.st_size,
                                                     " bytes, more than the limit of ", max_bytes));
  }
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return absl::DataLossError(absl::StrCat(path, ": read error: ", ErrnoText()));
    }
    if (n == 0) break;
    if (static_cast<int64_t>(out.size()) + n > max_bytes) {
      ::close(fd);
      return absl::ResourceExhaustedError(
          absl::StrCat(path, ": file grew beyond the limit of ", max_bytes, " bytes"));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

absl::StatusOr<AtomicFile> AtomicFile::Create(const std::string& path) {
  std::string tmpl = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot create a temporary file in ", DirName(path), ": ", ErrnoText()));
  }
  if (::fchmod(fd, 0644) != 0) {
    const std::string err = ErrnoText();
    ::close(fd);
    ::unlink(tmpl.c_str());
    return absl::PermissionDeniedError(absl::StrCat(path, ": chmod failed: ", err));
  }
  AtomicFile f;
  f.path_ = path;
  f.temp_path_ = tmpl;
  f.fd_ = fd;
  return f;
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept { *this = std::move(other); }

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this != &other) {
    Abandon();
    path_ = std::move(other.path_);
    temp_path_ = std::move(other.temp_path_);
    fd_ = other.fd_;
    other.fd_ = -1;
    other.temp_path_.clear();
  }
  return *this;
}

AtomicFile::~AtomicFile() { Abandon(); }

void AtomicFile::Abandon() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
  temp_path_.clear();
}

absl::Status AtomicFile::Append(std::string_view bytes) {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_, ": write after commit"));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string err = ErrnoText();
      Abandon();
      return absl::DataLossError(absl::StrCat(path_, ": write failed: ", err));
    }
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status AtomicFile::Commit(const std::string& final_path) {
  const std::string target = final_path.empty() ? path_ : final_path;
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(target, ": already committed or failed"));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const std::string err = ErrnoText();
    Abandon();
    return absl::DataLossError(absl::StrCat(target, ": close failed: ", err));
  }
  absl::Status s = CommitFile(temp_path_, target);
  temp_path_.clear();  // renamed, or removed by CommitFile
  return s;
}

absl::Status CommitFile(const std::string& temp_path, const std::string& path) {
  const int fd = ::open(temp_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const std::string err = ErrnoText();
    if (fd >= 0) ::close(fd);
    ::unlink(temp_path.c_str());
    return absl::DataLossError(absl::StrCat(path, ": fsync failed: ", err));
  }
  ::close(fd);
  if (::rename(temp_path.c_str(), path.c_str()) != 0) {
    const std::string err = ErrnoText();
    ::unlink(temp_path.c_str());
    return absl::DataLossError(absl::StrCat(path, ": rename failed: ", err));
  }
  CrashPoint("renamed");
  const int dfd = ::open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // best effort: the rename is durable once the directory is synced
    ::close(dfd);
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  absl::StatusOr<AtomicFile> f = AtomicFile::Create(path);
  if (!f.ok()) return f.status();
  if (absl::Status s = f->Append(contents); !s.ok()) return s;
  return f->Commit();
}

absl::Status MakeDirs(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("MakeDirs: empty path");
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    struct stat st;
    if (::stat(partial.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) {
        return absl::FailedPreconditionError(
            absl::StrCat(partial, ": exists and is not a directory"));
      }
      continue;
    }
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::PermissionDeniedError(
          absl::StrCat(partial, ": cannot create directory: ", ErrnoText()));
    }
  }
  return absl::OkStatus();
}

std::string UserPath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const char* wd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (wd == nullptr || *wd == '\0') return path;
  return std::string(wd) + "/" + path;
}

}  // namespace sal360::util

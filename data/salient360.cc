#include "data/salient360.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sal360::data {

std::string Salient360FileName(const Salient360Name& n) {
  return n.frames < 0 ? absl::StrCat(n.stem, "_", n.width, "x", n.height, "_32b.bin")
                      : absl::StrCat(n.stem, "_", n.width, "x", n.height, "x", n.frames, "_32b.bin");
}

absl::StatusOr<Salient360Name> ParseSalient360FileName(const std::string& path) {
  const std::string base = path.substr(path.find_last_of('/') + 1);
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a Salient360! map file name (NAME_WxH_32b.bin or NAME_WxHxN_32b.bin)"));
  };
  const std::string kSuffix = "_32b.bin";
  if (base.size() <= kSuffix.size() || base.compare(base.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
    return bad();
  }
  const std::string rest = base.substr(0, base.size() - kSuffix.size());
  const size_t us = rest.find_last_of('_');
  if (us == std::string::npos || us == 0) return bad();
  Salient360Name n;
  n.stem = rest.substr(0, us);
  const std::vector<std::string> dims = absl::StrSplit(rest.substr(us + 1), 'x');
  int64_t w = 0, h = 0, f = -1;
  if (dims.size() < 2 || dims.size() > 3 || !absl::SimpleAtoi(dims[0], &w) || !absl::SimpleAtoi(dims[1], &h) ||
      (dims.size() == 3 && !absl::SimpleAtoi(dims[2], &f))) {
    return bad();
  }
  if (w < 1 || h < 1 || w > 65536 || h > 65536 || (dims.size() == 3 && f < 0)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": bad sizes in the file name"));
  }
  n.width = static_cast<int>(w);
  n.height = static_cast<int>(h);
  n.frames = f;
  return n;
}

absl::StatusOr<Salient360Maps> ReadSalient360(const std::string& path, int64_t max_bytes) {
  absl::StatusOr<Salient360Name> name = ParseSalient360FileName(path);
  if (!name.ok()) return name.status();
  const int64_t maps = std::max<int64_t>(name->frames, 1);
  const int64_t pixels = int64_t{name->width} * name->height;
  if (maps > max_bytes / 4 / pixels) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": the name promises more than ", max_bytes, " bytes"));
  }
  absl::StatusOr<std::string> bytes = util::ReadFile(path, max_bytes);
  if (!bytes.ok()) return bytes.status();
  const int64_t want = maps * pixels * 4;
  if (static_cast<int64_t>(bytes->size()) != want) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", bytes->size(), " bytes, but ", maps, " map(s) of ",
                                                   name->width, "x", name->height, " float32 need ", want));
  }
  Salient360Maps out;
  out.name = *name;
  out.values.resize(static_cast<size_t>(maps * pixels));
  std::memcpy(out.values.data(), bytes->data(), bytes->size());  // little-endian host (x86-64, aarch64)
  for (size_t i = 0; i < out.values.size(); ++i) {
    if (!std::isfinite(out.values[i])) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": non-finite value in map ", i / pixels));
    }
  }
  return out;
}

absl::StatusOr<std::vector<float>> ReadSalient360Frame(const std::string& path, int64_t frame, Salient360Name* out) {
  absl::StatusOr<Salient360Name> name = ParseSalient360FileName(path);
  if (!name.ok()) return name.status();
  const int64_t maps = std::max<int64_t>(name->frames, 1);
  const int64_t pixels = int64_t{name->width} * name->height;
  if (frame < 0 || frame >= maps) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no frame ", frame, " (it holds ", maps, ")"));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  struct stat st;
  const bool sized = ::fstat(fd, &st) == 0;
  if (!sized || st.st_size != maps * pixels * 4) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", sized ? st.st_size : -1, " bytes, but ", maps,
                                                   " map(s) of ", name->width, "x", name->height, " float32 need ",
                                                   maps * pixels * 4));
  }
  std::vector<float> v(static_cast<size_t>(pixels));
  const ssize_t want = static_cast<ssize_t>(pixels * 4);
  const ssize_t got = ::pread(fd, v.data(), static_cast<size_t>(want), static_cast<off_t>(frame * pixels * 4));
  ::close(fd);
  if (got != want) return absl::DataLossError(absl::StrCat(path, ": short read of frame ", frame));
  for (int64_t i = 0; i < pixels; ++i) {
    if (!std::isfinite(v[i])) return absl::InvalidArgumentError(absl::StrCat(path, ": non-finite value in map ", frame));
  }
  if (out != nullptr) *out = *name;
  return v;
}

absl::StatusOr<Salient360Writer> Salient360Writer::Create(const std::string& dir, const std::string& stem,
                                                          int height, int width) {
  Salient360Name n{stem, width, height, 0};
  absl::StatusOr<util::AtomicFile> f = util::AtomicFile::Create(dir + "/" + Salient360FileName(n));
  if (!f.ok()) return f.status();
  return Salient360Writer(*std::move(f), dir, n);
}

absl::Status Salient360Writer::Append(const float* map) {
  ++frames_;
  return file_.Append(std::string_view(reinterpret_cast<const char*>(map),
                                       static_cast<size_t>(name_.width) * name_.height * sizeof(float)));
}

absl::StatusOr<std::string> Salient360Writer::Commit() {
  name_.frames = frames_;
  const std::string path = dir_ + "/" + Salient360FileName(name_);
  if (absl::Status s = file_.Commit(path); !s.ok()) return s;
  return path;
}

}  // namespace sal360::data

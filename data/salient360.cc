#include "data/salient360.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
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
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  struct stat st;
  const bool sized = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
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

namespace sal360::data {
namespace {

// "Start Timestamp" -> "starttimestamp".
std::string ColumnKey(const std::string& cell) {
  std::string k;
  for (char c : cell) {
    if (c == ' ' || c == '_' || c == '-' || c == '\t' || c == '#' || c == '"') continue;
    k.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return k;
}

std::vector<std::string> SplitCells(const std::string& line) {
  std::vector<std::string> cells;
  if (line.find(',') != std::string::npos) {
    for (absl::string_view c : absl::StrSplit(line, ',')) cells.emplace_back(absl::StripAsciiWhitespace(c));
  } else {
    for (absl::string_view c : absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty())) cells.emplace_back(c);
  }
  return cells;
}

struct Columns {
  int lon = -1, lat = -1, start = -1, end = -1, duration = -1;
  Salient360FixationList::Unit unit = Salient360FixationList::Unit::kNone;
  size_t count = 0;
};

bool OneOf(const std::string& k, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (k == n) return true;
  }
  return false;
}

// Columns from a header line; false when no cell names a longitude (not a header).
bool HeaderColumns(const std::vector<std::string>& cells, Columns* c, std::string* error) {
  using Unit = Salient360FixationList::Unit;
  Unit start_unit = Unit::kNone, end_unit = Unit::kNone;
  bool any_name = false;
  for (size_t i = 0; i < cells.size(); ++i) {
    const std::string k = ColumnKey(cells[i]);
    double unused;
    if (!k.empty() && !absl::SimpleAtod(k, &unused)) any_name = true;
    const int col = static_cast<int>(i);
    if (OneOf(k, {"longitude", "long", "lon", "longgaze", "longeye", "longhead"})) {
      if (c->lon < 0) c->lon = col;
    } else if (OneOf(k, {"latitude", "lat", "latgaze", "lateye", "lathead"})) {
      if (c->lat < 0) c->lat = col;
    } else if (OneOf(k, {"starttimestamp", "fixtimestart", "start", "starttime"})) {
      if (c->start < 0) c->start = col, start_unit = Unit::kMilliseconds;
    } else if (OneOf(k, {"startframe", "fixframestart"})) {
      if (c->start < 0) c->start = col, start_unit = Unit::kFrames;
    } else if (OneOf(k, {"endtimestamp", "fixtimeend", "end", "endtime"})) {
      if (c->end < 0) c->end = col, end_unit = Unit::kMilliseconds;
    } else if (OneOf(k, {"endframe", "fixframeend"})) {
      if (c->end < 0) c->end = col, end_unit = Unit::kFrames;
    } else if (OneOf(k, {"duration", "fixduration"})) {
      if (c->duration < 0) c->duration = col;
    }
  }
  if (!any_name) return false;
  if (c->lon < 0 || c->lat < 0) {
    *error = "the header names no longitude and latitude columns (e.g. 'Idx, longitude, latitude, start timestamp')";
    return true;
  }
  if (start_unit != Unit::kNone && end_unit != Unit::kNone && start_unit != end_unit) {
    *error = "the start and end columns are in different units (frames and ms)";
    return true;
  }
  if (c->start < 0 && (c->end >= 0 || c->duration >= 0)) {
    *error = "an end or duration column without a start column";
    return true;
  }
  if (start_unit == Unit::kFrames && c->duration >= 0 && c->end < 0) {
    *error = "a start frame with a duration in ms: give an end frame";
    return true;
  }
  c->unit = start_unit;
  c->count = cells.size();
  return true;
}

}  // namespace

bool IsFixationListFile(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return false;
  const std::string ext = ColumnKey(path.substr(dot + 1));
  return ext == "txt" || ext == "csv";
}

absl::StatusOr<Salient360FixationList> ParseSalient360Fixations(const std::string& text, const std::string& name) {
  using Unit = Salient360FixationList::Unit;
  constexpr size_t kMaxFixations = 10'000'000;
  Salient360FixationList list;
  Columns cols;
  bool have_columns = false;
  int64_t line_no = 0;
  size_t pos = 0;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) pos = 3;  // UTF-8 BOM
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string line(absl::StripAsciiWhitespace(absl::string_view(text).substr(pos, eol - pos)));
    pos = eol + 1;
    ++line_no;
    auto bad = [&](const std::string& what) {
      return absl::InvalidArgumentError(absl::StrCat(name, ":", line_no, ": ", what));
    };
    if (line.empty()) continue;
    const bool comment = line[0] == '#';
    const std::vector<std::string> cells = SplitCells(line);
    if (!have_columns) {
      // A '#' line is the header when it names the columns (numpy.savetxt writes
      // "# a, b, c"), otherwise a comment; an uncommented line of names must be one.
      std::string error;
      Columns named;
      if (HeaderColumns(cells, &named, &error)) {
        if (error.empty()) {
          cols = named;
          have_columns = true;
          continue;
        }
        if (!comment) return bad(error);
      }
      if (comment) continue;
      // No header: one of the two published layouts, by column count.
      if (cells.size() == 6) {
        cols = Columns{1, 2, 3, 5, 4, Unit::kMilliseconds, 6};
      } else if (cells.size() == 4) {
        cols = Columns{1, 2, 3, -1, -1, Unit::kMilliseconds, 4};
      } else {
        return bad(absl::StrCat(cells.size(),
                                " columns and no header line; without a header a fixation list must have 6 "
                                "(Idx, longitude, latitude, start timestamp, duration, end timestamp) or 4 "
                                "(Fix_index, long_Gaze, lat_Gaze, Fix_time_start) columns"));
      }
      have_columns = true;
    } else if (comment) {
      continue;
    }
    if (cells.size() != cols.count) return bad(absl::StrCat(cells.size(), " columns, the header has ", cols.count));
    if (list.fixations.size() >= kMaxFixations) return bad(absl::StrCat("more than ", kMaxFixations, " fixations"));
    auto number = [&](int col, const char* what, double* v) -> absl::Status {
      if (!absl::SimpleAtod(cells[col], v) || !std::isfinite(*v)) {
        return bad(absl::StrCat("bad ", what, " '", cells[col], "' (a finite number)"));
      }
      return absl::OkStatus();
    };
    Salient360Fixation f;
    if (absl::Status s = number(cols.lon, "longitude", &f.lon); !s.ok()) return s;
    if (absl::Status s = number(cols.lat, "latitude", &f.lat); !s.ok()) return s;
    if (f.lon < 0 || f.lon > 1 || f.lat < 0 || f.lat > 1) {
      return bad(absl::StrCat("fixation (", cells[cols.lon], ", ", cells[cols.lat],
                              ") is outside [0,1]^2 (normalised longitude, latitude)"));
    }
    if (cols.start >= 0) {
      if (absl::Status s = number(cols.start, "start", &f.start); !s.ok()) return s;
      f.end = f.start;
      double d = 0;
      if (cols.duration >= 0) {
        if (absl::Status s = number(cols.duration, "duration", &d); !s.ok()) return s;
        if (d < 0) return bad(absl::StrCat("negative duration '", cells[cols.duration], "'"));
      }
      if (cols.end >= 0) {
        if (absl::Status s = number(cols.end, "end", &f.end); !s.ok()) return s;
      } else {
        f.end = f.start + d;
      }
      if (f.start < 0 || f.end < f.start) {
        return bad(absl::StrCat("bad interval [", f.start, ", ", f.end, "] (start >= 0, end >= start)"));
      }
      if (cols.unit == Unit::kFrames && (f.start != std::floor(f.start) || f.end != std::floor(f.end))) {
        return bad("frame numbers must be integers");
      }
    }
    list.fixations.push_back(f);
  }
  list.unit = cols.unit;
  if (list.fixations.empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": no fixations"));
  return list;
}

absl::StatusOr<Salient360FixationList> ReadSalient360Fixations(const std::string& path, int64_t max_bytes) {
  absl::StatusOr<std::string> text = util::ReadFile(path, max_bytes);
  if (!text.ok()) return text.status();
  return ParseSalient360Fixations(*text, path);
}

absl::StatusOr<std::vector<GazePoint>> FixationsOfFrame(const Salient360FixationList& list, int64_t frame,
                                                        double fps, const std::string& name) {
  using Unit = Salient360FixationList::Unit;
  std::vector<GazePoint> out;
  if (list.unit == Unit::kNone || frame < 0) {
    if (frame > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": the fixation list has no time columns, so it cannot give the fixations of frame ", frame,
          " of a video (only of an image)"));
    }
    for (const Salient360Fixation& f : list.fixations) out.push_back({f.lon, f.lat});
    return out;
  }
  if (list.unit == Unit::kMilliseconds && !(fps > 0 && std::isfinite(fps))) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": the fixation list is timed in ms; give the video's frame rate (--fix_fps)"));
  }
  const double t0 = 1000.0 * static_cast<double>(frame) / fps, t1 = 1000.0 * static_cast<double>(frame + 1) / fps;
  for (const Salient360Fixation& f : list.fixations) {
    bool in = false;
    if (list.unit == Unit::kFrames) {
      in = f.start <= frame && frame <= f.end;
    } else if (f.end > f.start) {
      in = f.start < t1 && f.end > t0;
    } else {
      in = f.start >= t0 && f.start < t1;
    }
    if (in) out.push_back({f.lon, f.lat});
  }
  return out;
}

}  // namespace sal360::data

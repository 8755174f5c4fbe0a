#include "data/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "util/file.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace sal360::data {

namespace fs = std::filesystem;

std::string FrameRef::ToString() const { return absl::StrCat(video, "/", FrameKey(frame)); }

std::string FrameKey(int frame) { return absl::StrFormat("%04d", frame); }

bool ParseFrameKey(const std::string& key, int* frame) {
  if (key.empty() || key.size() > 9) return false;
  int v = 0;
  for (char c : key) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v < 1 || FrameKey(v) != key) return false;  // canonical '%04d' spelling only
  *frame = v;
  return true;
}

namespace {

std::string ShortList(const std::vector<std::string>& names, size_t max_names = 10) {
  std::vector<std::string> shown;
  for (size_t k = 0; k < names.size() && k < max_names; ++k) shown.push_back("'" + names[k] + "'");
  std::string s = absl::StrJoin(shown, ", ");
  if (names.size() > max_names) absl::StrAppend(&s, ", ... (", names.size() - max_names, " more)");
  return s;
}

}  // namespace

absl::StatusOr<GazeTable> GazeTableFromPickle(const PyValue& vinfo, const std::string& name) {
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", what));
  };
  if (!vinfo.is_dict()) {
    return bad(absl::StrCat("expected a dict {video: {frame: [(x, y), ...]}}, found a ",
                            PyValue::KindName(vinfo.kind())));
  }
  GazeTable table;
  for (const auto& [vkey, frames] : vinfo.dict_items()) {
    if (!vkey.is_str()) {
      return bad(absl::StrCat("video key ", vkey.DebugString(60), " is a ",
                              PyValue::KindName(vkey.kind()), ", expected str"));
    }
    const std::string& video = vkey.as_str();
    if (video.empty() || video.find('/') != std::string::npos || video == "." || video == ".." ||
        video.find('\0') != std::string::npos) {
      return bad(absl::StrCat("video key '", video, "' is not a valid folder name"));
    }
    if (table.count(video)) return bad(absl::StrCat("video '", video, "' appears twice"));
    auto& vt = table[video];
    if (!frames.is_dict()) {
      return bad(absl::StrCat("video '", video,
                              "': expected a dict {frame: [(x, y), ...]}, found a ",
                              PyValue::KindName(frames.kind())));
    }
    for (const auto& [fkey, points] : frames.dict_items()) {
      int frame = 0;
      if (!fkey.is_str() || !ParseFrameKey(fkey.as_str(), &frame)) {
        return bad(absl::StrCat("video '", video, "': frame key ", fkey.DebugString(60),
                                " is not a 4-digit frame id like '0001'"));
      }
      const std::string where = absl::StrCat("video '", video, "' frame '", fkey.as_str(), "'");
      if (vt.count(frame)) return bad(absl::StrCat(where, " appears twice"));
      if (!points.is_list() && !points.is_tuple()) {
        return bad(absl::StrCat(where, ": expected a list of (x, y), found a ",
                                PyValue::KindName(points.kind())));
      }
      std::vector<GazePoint>& gp = vt[frame];
      gp.reserve(points.items().size());
      for (size_t k = 0; k < points.items().size(); ++k) {
        const PyValue& p = points.items()[k];
        double x, y;
        if (!(p.is_list() || p.is_tuple()) || p.items().size() != 2 || !p.items()[0].AsNumber(&x) ||
            !p.items()[1].AsNumber(&y)) {
          return bad(absl::StrCat(where, ": gaze entry ", k, " is ", p.DebugString(60),
                                  ", expected (x, y) with two numbers"));
        }
        gp.push_back(GazePoint{x, y});
      }
    }
  }
  return table;
}

PyValue GazeTableToPickle(const GazeTable& table) {
  std::vector<std::pair<PyValue, PyValue>> videos;
  for (const auto& [video, frames] : table) {
    std::vector<std::pair<PyValue, PyValue>> fr;
    for (const auto& [frame, points] : frames) {
      std::vector<PyValue> pts;
      pts.reserve(points.size());
      for (const GazePoint& g : points) {
        pts.push_back(PyValue::FromTuple({PyValue::FromFloat(g.x), PyValue::FromFloat(g.y)}));
      }
      fr.emplace_back(PyValue::FromStr(FrameKey(frame)), PyValue::FromList(std::move(pts)));
    }
    videos.emplace_back(PyValue::FromStr(video), PyValue::FromDict(std::move(fr)));
  }
  return PyValue::FromDict(std::move(videos));
}

absl::StatusOr<GazeTable> ParseGazeCsv(const std::string& text, const std::string& name) {
  GazeTable table;
  size_t pos = 0;
  int64_t line_no = 0;
  bool header = true;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto bad = [&](const std::string& what) {
      return absl::InvalidArgumentError(absl::StrCat(name, ":", line_no, ": ", what));
    };
    if (header) {
      if (line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line = line.substr(3);  // UTF-8 BOM
      if (line != "video,frame,user,x,y") return bad("the header must be 'video,frame,user,x,y'");
      header = false;
      continue;
    }
    if (line.empty()) continue;
    std::vector<std::string> cells;
    size_t start = 0;
    for (size_t k = 0; k <= line.size(); ++k) {
      if (k == line.size() || line[k] == ',') {
        cells.push_back(line.substr(start, k - start));
        start = k + 1;
      }
    }
    if (cells.size() != 5) return bad(absl::StrCat(cells.size(), " fields, expected 5 (video,frame,user,x,y)"));
    const std::string& video = cells[0];
    if (video.empty() || video[0] == '.' || video.find_first_of("\"/\\") != std::string::npos) {
      return bad(absl::StrCat("bad video name '", video, "' (a folder name: no quotes or slashes)"));
    }
    int frame = 0;
    if (cells[1].empty() || cells[1].size() > 9 || cells[1].find_first_not_of("0123456789") != std::string::npos ||
        (frame = std::atoi(cells[1].c_str())) < 1) {
      return bad(absl::StrCat("bad frame id '", cells[1], "' (an integer >= 1)"));
    }
    double x = 0, y = 0;
    char* e = nullptr;
    x = std::strtod(cells[3].c_str(), &e);
    if (cells[3].empty() || *e != '\0') return bad(absl::StrCat("bad x '", cells[3], "'"));
    y = std::strtod(cells[4].c_str(), &e);
    if (cells[4].empty() || *e != '\0') return bad(absl::StrCat("bad y '", cells[4], "'"));
    if (!std::isfinite(x) || !std::isfinite(y) || x < 0 || x > 1 || y < 0 || y > 1) {
      return bad(absl::StrCat("gaze point (", cells[3], ", ", cells[4], ") is outside [0,1]^2 (normalised x, y)"));
    }
    table[video][frame].push_back(GazePoint{x, y});
  }
  if (header) return absl::InvalidArgumentError(absl::StrCat(name, ": empty (no header line)"));
  return table;
}

std::string GazeTableToCsv(const GazeTable& table) {
  std::string out = "video,frame,user,x,y\n";
  char buf[96];
  for (const auto& [video, frames] : table) {
    for (const auto& [frame, points] : frames) {
      for (size_t u = 0; u < points.size(); ++u) {
        std::snprintf(buf, sizeof buf, ",%d,%zu,%.17g,%.17g\n", frame, u, points[u].x, points[u].y);
        out += video;
        out += buf;
      }
    }
  }
  return out;
}

absl::StatusOr<Dataset> Dataset::Open(const std::string& root_in, const DatasetOptions& options) {
  std::string root = root_in;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return absl::NotFoundError(absl::StrCat(root, ": dataset root is not a directory"));
  }
  Dataset d;
  d.root_ = root;
  const std::string vinfo_path = root + "/" + kVinfoFileName;
  const std::string csv_path = root + "/" + kGazeCsvFileName;
  const bool has_pkl = fs::is_regular_file(vinfo_path, ec), has_csv = fs::is_regular_file(csv_path, ec);
  if (has_pkl && has_csv) {
    return absl::InvalidArgumentError(
        absl::StrCat(root, ": holds both vinfo.pkl and gaze.csv; keep the one that is meant"));
  }
  if (!has_pkl && !has_csv) {
    return absl::NotFoundError(absl::StrCat(
        vinfo_path, ": missing (a dataset root holds vinfo.pkl, or gaze.csv, and one folder per video)"));
  }
  const std::string gaze_file = has_csv ? kGazeCsvFileName : kVinfoFileName;
  if (has_csv) {
    absl::StatusOr<std::string> text = util::ReadFile(csv_path, options.max_pickle_bytes);
    if (!text.ok()) return text.status();
    auto gaze = ParseGazeCsv(*text, csv_path);
    if (!gaze.ok()) return gaze.status();
    d.gaze_ = *std::move(gaze);
  } else {
    auto vinfo = ReadPickle(vinfo_path, options.max_pickle_bytes, options.pickle_limits);
    if (!vinfo.ok()) return vinfo.status();
    auto gaze = GazeTableFromPickle(*vinfo, vinfo_path);
    if (!gaze.ok()) return gaze.status();
    d.gaze_ = *std::move(gaze);
  }

  // Folders of ROOT vs. the pickle's keys.
  std::set<std::string> folders;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code ec2;
    if (it->is_directory(ec2)) {
      folders.insert(name);
    } else if (name != kVinfoFileName && name != kGazeCsvFileName) {
      d.issues_.push_back({DatasetIssue::Severity::kNote, "ignored_entry", it->path().string(),
                           "not a folder; ignored"});
    }
  }
  if (ec) return absl::InternalError(absl::StrCat(root, ": cannot list: ", ec.message()));
  std::vector<std::string> no_folder, no_key;
  for (const auto& [video, frames] : d.gaze_) {
    if (!folders.count(video)) no_folder.push_back(video);
  }
  for (const std::string& f : folders) {
    if (!d.gaze_.count(f)) no_key.push_back(f);
  }
  if (!no_folder.empty() || !no_key.empty()) {
    std::string msg = absl::StrCat(root, ": video folders and ", gaze_file, " videos differ:");
    if (!no_folder.empty()) {
      absl::StrAppend(&msg, " ", no_folder.size(), " video(s) of ", gaze_file, " have no folder (",
                      ShortList(no_folder), ");");
    }
    if (!no_key.empty()) {
      absl::StrAppend(&msg, " ", no_key.size(), " folder(s) are not in ", gaze_file, " (",
                      ShortList(no_key), ");");
    }
    msg.pop_back();
    return absl::InvalidArgumentError(msg);
  }

  for (const auto& [video, frames] : d.gaze_) {
    d.videos_.push_back(video);
    std::vector<int>& ids = d.frames_[video];
    const std::string dir = root + "/" + video;
    std::set<int> with_jpg;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".jpg") != 0) continue;
      int id = 0;
      if (!ParseFrameKey(name.substr(0, name.size() - 4), &id)) {
        d.issues_.push_back({DatasetIssue::Severity::kNote, "ignored_entry", it->path().string(),
                             "not a frame name like 0001.jpg; ignored"});
        continue;
      }
      with_jpg.insert(id);
      auto g = frames.find(id);
      if (g == frames.end()) {
        d.issues_.push_back({DatasetIssue::Severity::kError, "frame_without_gaze",
                             it->path().string(),
                             absl::StrCat(gaze_file, " has no gaze entry '", FrameKey(id),
                                          "' for video '", video, "'; frame dropped")});
        continue;
      }
      ids.push_back(id);
    }
    if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot list: ", ec.message()));
    std::sort(ids.begin(), ids.end());
    d.num_frames_ += static_cast<int64_t>(ids.size());
    int64_t gaze_only = 0;
    for (const auto& [id, points] : frames) {
      const std::string where = absl::StrCat(video, "/", FrameKey(id));
      if (!with_jpg.count(id)) ++gaze_only;
      if (points.empty()) {
        d.issues_.push_back({DatasetIssue::Severity::kError, "no_gaze_points", vinfo_path,
                             absl::StrCat(where, ": the gaze list is empty")});
      } else if (auto s = ValidateGaze(points, where); !s.ok()) {
        d.issues_.push_back({DatasetIssue::Severity::kError, "gaze_out_of_range", vinfo_path,
                             std::string(s.message())});
      }
    }
    if (gaze_only > 0) {
      d.issues_.push_back({DatasetIssue::Severity::kNote, "gaze_without_frame", dir,
                           absl::StrCat(gaze_only, " gaze entries of vinfo.pkl have no .jpg")});
    }
    if (ids.empty()) {
      d.issues_.push_back({DatasetIssue::Severity::kError, "video_without_frames", dir,
                           "no usable frame (NNNN.jpg with a gaze entry)"});
    }
  }
  return d;
}

const std::vector<int>& Dataset::frames(const std::string& video) const {
  static const std::vector<int>* empty = new std::vector<int>();
  auto it = frames_.find(video);
  return it == frames_.end() ? *empty : it->second;
}

absl::StatusOr<std::vector<FrameRef>> Dataset::FramesOf(
    const std::vector<std::string>& videos) const {
  std::vector<FrameRef> out;
  for (const std::string& v : videos) {
    auto it = frames_.find(v);
    if (it == frames_.end()) {
      return absl::NotFoundError(absl::StrCat(root_, ": no video '", v, "' in the dataset"));
    }
    for (int f : it->second) out.push_back(FrameRef{v, f});
  }
  return out;
}

const std::vector<GazePoint>* Dataset::gaze(const std::string& video, int frame) const {
  auto v = gaze_.find(video);
  if (v == gaze_.end()) return nullptr;
  auto f = v->second.find(frame);
  return f == v->second.end() ? nullptr : &f->second;
}

std::string Dataset::FramePath(const FrameRef& f) const {
  return absl::StrCat(root_, "/", f.video, "/", FrameKey(f.frame), ".jpg");
}

std::string Dataset::GtCachePath(const FrameRef& f) const {
  return absl::StrCat(root_, "/", f.video, "/", FrameKey(f.frame), "_gt.npy");
}

int64_t Dataset::num_errors() const {
  int64_t n = 0;
  for (const auto& i : issues_) n += i.severity == DatasetIssue::Severity::kError;
  return n;
}

}  // namespace sal360::data

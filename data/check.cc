#include "data/check.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/loader.h"
#include "util/file.h"

namespace sal360::data {

namespace {

using Json = nlohmann::ordered_json;

Json IssueJson(const DatasetIssue& i) {
  Json j = Json::object();
  j["severity"] = i.severity == DatasetIssue::Severity::kError ? "error" : "note";
  j["kind"] = i.kind;
  j["path"] = i.path;
  j["message"] = i.message;
  return j;
}

std::string SizeKey(int w, int h) { return absl::StrCat(w, "x", h); }

}  // namespace

Json CheckDataset(const CheckOptions& o, const std::function<void(int64_t, int64_t)>& progress) {
  const auto start = std::chrono::steady_clock::now();
  Json report = Json::object();
  report["root"] = o.root;
  auto d = Dataset::Open(o.root);
  if (!d.ok()) {
    report["usable"] = false;
    report["fatal"] = std::string(d.status().message());
    report["seconds"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
  }
  std::vector<DatasetIssue> issues = d->issues();
  const std::vector<FrameRef> frames = *d->FramesOf(d->videos());

  // Frames (decode) and caches, in parallel over frames.
  std::mutex mu;
  std::map<std::string, int64_t> frame_sizes, cache_sizes;
  int64_t caches = 0, written = 0;
  std::atomic<int64_t> next{0};
  int64_t done = 0;
  std::vector<std::pair<int64_t, DatasetIssue>> found;  // (frame index, issue) for a stable order
  auto worker = [&] {
    while (true) {
      const int64_t k = next.fetch_add(1);
      if (k >= static_cast<int64_t>(frames.size())) return;
      const FrameRef& f = frames[k];
      std::vector<DatasetIssue> local;
      std::string size_key, cache_key;
      bool has_cache = false, wrote = false;
      const std::string path = d->FramePath(f);
      auto img = ReadImage(path);
      if (!img.ok()) {
        local.push_back({DatasetIssue::Severity::kError, "frame_unreadable", path,
                         std::string(img.status().message())});
      } else {
        size_key = SizeKey(img->width, img->height);
      }
      const std::string cpath = d->GtCachePath(f);
      std::error_code ec;
      if (std::filesystem::exists(cpath, ec)) {
        has_cache = true;
        auto bytes = util::ReadFile(cpath, int64_t{16384} * 32768 * 8 + 4096);
        int ch = 0, cw = 0;
        absl::Status s =
            bytes.ok() ? ValidateGtCacheBytes(*bytes, cpath, &ch, &cw) : bytes.status();
        if (!s.ok()) {
          local.push_back({DatasetIssue::Severity::kError, "gt_cache_malformed", cpath,
                           std::string(s.message())});
        } else {
          cache_key = SizeKey(cw, ch);
        }
      } else if (o.write_gt_cache) {
        auto w = WriteFrameGtCache(*d, f, o.gt_cache_height, o.gt_cache_width, o.gt_options, false);
        if (!w.ok()) {
          local.push_back({DatasetIssue::Severity::kError, "gt_cache_write_failed", cpath,
                           std::string(w.status().message())});
        } else {
          wrote = *w;
        }
      }
      const int prev = f.frame - o.prev_interval;
      if (prev > 0 && d->gaze(f.video, prev) == nullptr &&
          !std::filesystem::exists(d->GtCachePath({f.video, prev}), ec)) {
        local.push_back(
            {DatasetIssue::Severity::kError, "previous_frame_missing", path,
             absl::StrCat(f.ToString(), ": frame ", FrameKey(prev), " (", o.prev_interval,
                          " earlier, the temporal input) has neither gaze nor a cache")});
      }
      std::lock_guard<std::mutex> lock(mu);
      if (!size_key.empty()) ++frame_sizes[size_key];
      if (has_cache) ++caches;
      if (!cache_key.empty()) ++cache_sizes[cache_key];
      written += wrote;
      for (auto& i : local) found.emplace_back(k, std::move(i));
      ++done;
      if (progress) progress(done, static_cast<int64_t>(frames.size()));
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, o.threads); ++t) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [k, i] : found) issues.push_back(std::move(i));

  // Gaze statistics.
  int64_t points = 0, min_v = -1, max_v = 0, n_gaze_frames = 0;
  for (const auto& [video, fr] : d->gaze_table()) {
    for (const auto& [id, g] : fr) {
      const int64_t n = static_cast<int64_t>(g.size());
      points += n;
      min_v = min_v < 0 ? n : std::min(min_v, n);
      max_v = std::max(max_v, n);
      ++n_gaze_frames;
    }
  }

  // Split.
  Json split = Json::object();
  absl::StatusOr<Split> s = o.split == "file" ? ReadSplitFile(o.split_file, d->videos())
                            : o.split == "seed"
                                ? SeedSplit(d->videos(), o.seed_split)
                                : absl::StatusOr<Split>(absl::InvalidArgumentError(absl::StrCat(
                                      "--split must be seed or file, not '", o.split, "'")));
  if (s.ok()) {
    split["train"] = s->train;
    split["val"] = s->val;
    split["test"] = s->test;
  } else {
    issues.push_back({DatasetIssue::Severity::kError, "split",
                      o.split == "file" ? o.split_file : o.root,
                      std::string(s.status().message())});
  }

  int64_t errors = 0, notes = 0;
  Json by_kind = Json::object(), list = Json::array();
  std::map<std::string, int64_t> kinds;
  for (const DatasetIssue& i : issues) {
    (i.severity == DatasetIssue::Severity::kError ? errors : notes)++;
    ++kinds[i.kind];
    if (static_cast<int>(list.size()) < o.max_listed) list.push_back(IssueJson(i));
  }
  for (const auto& [k, n] : kinds) by_kind[k] = n;

  report["usable"] = errors == 0 && !frames.empty();
  report["videos"] = d->videos().size();
  report["frames"] = frames.size();
  report["gaze_points"] = points;
  report["viewers_per_frame"] = {
      {"min", std::max<int64_t>(min_v, 0)},
      {"mean", n_gaze_frames ? static_cast<double>(points) / n_gaze_frames : 0.0},
      {"max", max_v}};
  report["frame_sizes"] = Json(frame_sizes);
  report["gt_caches"] = {{"present", caches}, {"written", written}, {"sizes", Json(cache_sizes)}};
  report["problems"] = {{"errors", errors},
                        {"notes", notes},
                        {"by_kind", by_kind},
                        {"list", list},
                        {"listed_all", static_cast<int64_t>(list.size()) == errors + notes}};
  report["split"] = split;
  report["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace sal360::data

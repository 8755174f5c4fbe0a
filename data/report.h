// Evaluation reports: per-frame CSV, per-video and overall JSON, and an HTML page
// (inline CSS and SVG, images as PNG data URIs, no network; one script, the viewer's) with
// the overall table, a bar chart of the models against the baselines per metric, the
// per-video table and a gallery of frames with ground-truth and predicted overlays.
//
// Usage (tools:test):
//   ReportWriter w({.title = "...", .models = {"model"}, .baselines = {"uniform", ...}});
//   for each frame: w.AddFrame(video, frame, {{"model", m}, {"uniform", u}, ...});
//   for a few frames: w.AddGalleryEntry(...);
//   w.Write(out_dir);
//
// Files written by Write(dir) (atomically, dir created if needed):
//   frames.csv    header `video,frame,system,<metric keys>,warnings`, one row per
//                 (frame, system); absent/undefined values are empty cells.
//   videos.json   {"format": "sal360-report v1", "version": ..., "videos": {video:
//                 {"frames": n, "model": {k: mean}, "models": {...}, "baselines": {...}}}}
//   metrics.json  {"format", "version", "info": {...}, "frames": N, "videos": V,
//                 "model": {k: mean} (the first model), "models": {name: {k: mean}},
//                 "baselines": {name: {k: mean}}, "undefined": {system: {k: count}},
//                 "warnings": {system: {warning: count}}}
//   report.html   the page described above, and with a gallery the 360° viewer of its
//                 frames (data/viewer.h; then the page has a script, and its frames
//                 are in viewer/NNNNNN.js).
// Means are over the frames where the value is defined (not NaN); "undefined" counts
// the others. Metric keys and their order are data::kMetricKeys.
#ifndef SAL360_DATA_REPORT_H_
#define SAL360_DATA_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "data/heatmap.h"
#include "data/metrics.h"

namespace sal360::data {

inline constexpr char kReportFormat[] = "sal360-report v1";

struct ReportConfig {
  std::string title = "sal360 evaluation";
  // Systems under test (the first is "the model" of metrics.json) and baselines, in the
  // order tables and charts show them. Names: letters, digits, '_', '-', '.'.
  std::vector<std::string> models = {"model"};
  std::vector<std::string> baselines = {"uniform", "equator", "prev_gt"};
  // Free-form facts shown in the page header and stored under "info" in metrics.json
  // (checkpoint, split, resolution, --prev mode, ...).
  std::vector<std::pair<std::string, std::string>> info;
  ColourMap colour_map = ColourMap::kInferno;
  int gallery_width = 480;  // gallery images are shrunk to at most this width
};

class ReportWriter {
 public:
  explicit ReportWriter(ReportConfig config);

  // One frame's scores: `scores` must hold every configured model and baseline, and
  // nothing else; each (video, frame) at most once. Errors name the problem.
  absl::Status AddFrame(const std::string& video, int64_t frame,
                        const std::map<std::string, MetricSet>& scores);

  // A gallery entry: the RGB frame (frame_h, frame_w, 3) with the ground-truth and the
  // predicted map (map_h, map_w) overlaid; maps are resized to the frame if needed.
  // `caption_scores` (optional) is printed under the images (e.g. the model's CC).
  absl::Status AddGalleryEntry(const std::string& video, int64_t frame, const uint8_t* rgb,
                               int frame_h, int frame_w, const float* gt, const float* pred,
                               int map_h, int map_w, const MetricSet* caption_scores = nullptr);

  // Writes frames.csv, videos.json, metrics.json and report.html into `dir`.
  absl::Status Write(const std::string& dir) const;

  // The strings Write() stores (for callers that want them elsewhere, and for tests).
  std::string FramesCsv() const;
  std::string VideosJson() const;
  std::string MetricsJson() const;
  std::string Html() const;

  // Mean of `key` for `system` over all frames (NaN if never defined).
  double Mean(const std::string& system, const std::string& key) const;
  int64_t num_frames() const { return static_cast<int64_t>(rows_.size()); }

 private:
  struct Row {
    std::string video;
    int64_t frame;
    std::vector<MetricSet> scores;  // one per system, in systems_ order
  };
  struct GalleryEntry {
    std::string video;
    int64_t frame;
    std::string frame_png, gt_png, pred_png;  // PNG bytes
    int width, height;
    bool has_caption;
    MetricSet caption;
    // The 360° viewer's copy: RGB (viewer_h, viewer_w, 3), maps (map_h, map_w).
    std::vector<uint8_t> viewer_rgb;
    int viewer_h = 0, viewer_w = 0, map_h = 0, map_w = 0;
    std::vector<float> gt, pred;
  };
  std::string Page(const std::string& viewer_section) const;
  ReportConfig config_;
  std::vector<std::string> systems_;  // models then baselines
  std::vector<Row> rows_;
  std::vector<GalleryEntry> gallery_;
};

}  // namespace sal360::data

#endif  // SAL360_DATA_REPORT_H_

// Evaluation reports; file formats in report.h.
#include "data/report.h"
#include "data/viewer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "util/html.h"
#include "absl/strings/str_format.h"
#include "data/image.h"
#include "util/file.h"
#include "util/version.h"

namespace sal360::data {
namespace {

using Json = nlohmann::ordered_json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kMaxImageSide = 16384;

bool ValidSystemName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}


std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Shortest round-trip text of a double ("" for NaN/Inf).
std::string CsvNumber(double v) {
  if (!std::isfinite(v)) return "";
  return absl::StrFormat("%.17g", v);
}

std::string Fixed(double v, int digits = 3) {
  if (!std::isfinite(v)) return "&ndash;";
  return absl::StrFormat("%.*f", digits, v);
}

// Per (system, key): mean over the frames where the metric is present and defined.
struct Agg {
  double sum = 0;
  int64_t defined = 0, undefined = 0;
  bool present() const { return defined + undefined > 0; }
  double mean() const { return defined > 0 ? sum / defined : kNaN; }
};

// Aggregates of one group of rows: [system][key index], plus warning counts.
struct GroupStats {
  int64_t frames = 0;
  std::vector<std::vector<Agg>> agg;           // (systems, kNumMetrics)
  std::vector<std::vector<int64_t>> warnings;  // (systems, kNumMetricWarnings)
};

}  // namespace

ReportWriter::ReportWriter(ReportConfig config) : config_(std::move(config)) {
  for (const auto* list : {&config_.models, &config_.baselines}) {
    for (const std::string& name : *list) systems_.push_back(name);
  }
  std::set<std::string> seen;
  for (const std::string& name : systems_) {
    if (!ValidSystemName(name) || !seen.insert(name).second) {
      std::fprintf(stderr, "ReportWriter: bad or repeated system name '%s'\n", name.c_str());
      std::abort();
    }
  }
  if (config_.models.empty()) {
    std::fprintf(stderr, "ReportWriter: at least one model is required\n");
    std::abort();
  }
  if (config_.gallery_width < 16) config_.gallery_width = 16;
}

absl::Status ReportWriter::AddFrame(const std::string& video, int64_t frame,
                                    const std::map<std::string, MetricSet>& scores) {
  const std::string where = absl::StrCat("report: frame ", frame, " of video '", video, "'");
  for (const auto& [name, m] : scores) {
    if (std::find(systems_.begin(), systems_.end(), name) == systems_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown system '", name, "' (not in the report's config)"));
    }
  }
  Row row{video, frame, {}};
  for (const std::string& name : systems_) {
    auto it = scores.find(name);
    if (it == scores.end()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no scores for '", name, "'"));
    }
    row.scores.push_back(it->second);
  }
  for (const Row& r : rows_) {
    if (r.video == video && r.frame == frame) {
      return absl::AlreadyExistsError(absl::StrCat(where, ": added twice"));
    }
  }
  rows_.push_back(std::move(row));
  return absl::OkStatus();
}

absl::Status ReportWriter::AddGalleryEntry(const std::string& video, int64_t frame,
                                           const uint8_t* rgb, int frame_h, int frame_w,
                                           const float* gt, const float* pred, int map_h, int map_w,
                                           const MetricSet* caption_scores) {
  const std::string where =
      absl::StrCat("report gallery: frame ", frame, " of video '", video, "'");
  if (rgb == nullptr || gt == nullptr || pred == nullptr) {
    return absl::InvalidArgumentError(where + ": null image or map");
  }
  for (int side : {frame_h, frame_w, map_h, map_w}) {
    if (side <= 0 || side > kMaxImageSide) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: bad size (frame %dx%d, maps %dx%d)",
                                                        where, frame_h, frame_w, map_h, map_w));
    }
  }
  // Display size: at most gallery_width wide, aspect kept.
  int out_w = std::min(frame_w, config_.gallery_width);
  int out_h = std::max(1, static_cast<int>(std::lround(double(frame_h) * out_w / frame_w)));
  std::vector<uint8_t> shown(rgb, rgb + size_t(frame_h) * frame_w * 3);  // (out_h, out_w, 3)
  if (out_w != frame_w || out_h != frame_h) {
    shown = ResizeImage(Image{frame_h, frame_w, 3, std::move(shown)}, out_h, out_w).pixels;
  }
  auto map_at_display = [&](const float* m) {
    if (map_h == out_h && map_w == out_w) return std::vector<float>(m, m + size_t(map_h) * map_w);
    return ResizeFloat(m, map_h, map_w, 1, out_h, out_w);
  };
  const std::vector<float> g = map_at_display(gt), p = map_at_display(pred);
  const std::vector<uint8_t> g_over =
      OverlayHeatmap(shown.data(), g.data(), out_h, out_w, config_.colour_map);
  const std::vector<uint8_t> p_over =
      OverlayHeatmap(shown.data(), p.data(), out_h, out_w, config_.colour_map);
  GalleryEntry e{video, frame, "", "", "", out_w, out_h, caption_scores != nullptr, MetricSet{}};
  if (caption_scores != nullptr) e.caption = *caption_scores;
  // For the 360° viewer: the frame at up to its width, the maps at their own size.
  e.viewer_w = std::min(frame_w, ViewerOptions{}.max_width);
  e.viewer_h = std::max(1, static_cast<int>(std::lround(double(frame_h) * e.viewer_w / frame_w)));
  e.viewer_rgb.assign(rgb, rgb + size_t(frame_h) * frame_w * 3);
  if (e.viewer_w != frame_w || e.viewer_h != frame_h) {
    e.viewer_rgb = ResizeImage(Image{frame_h, frame_w, 3, std::move(e.viewer_rgb)}, e.viewer_h, e.viewer_w).pixels;
  }
  e.map_h = map_h;
  e.map_w = map_w;
  e.gt.assign(gt, gt + size_t(map_h) * map_w);
  e.pred.assign(pred, pred + size_t(map_h) * map_w);
  const std::pair<std::string*, const std::vector<uint8_t>*> images[] = {
      {&e.frame_png, &shown}, {&e.gt_png, &g_over}, {&e.pred_png, &p_over}};
  for (const auto& [bytes, px] : images) {
    absl::StatusOr<std::string> png = EncodePng(px->data(), out_h, out_w, 3);
    if (!png.ok()) return absl::InternalError(where + ": " + std::string(png.status().message()));
    *bytes = std::move(*png);
  }
  gallery_.push_back(std::move(e));
  return absl::OkStatus();
}

namespace {

GroupStats Aggregate(const std::vector<const std::vector<MetricSet>*>& rows, size_t systems) {
  GroupStats s;
  s.frames = static_cast<int64_t>(rows.size());
  s.agg.assign(systems, std::vector<Agg>(kNumMetrics));
  s.warnings.assign(systems, std::vector<int64_t>(kNumMetricWarnings, 0));
  for (const auto* scores : rows) {
    for (size_t si = 0; si < systems; ++si) {
      const MetricSet& m = (*scores)[si];
      for (int k = 0; k < kNumMetrics; ++k) {
        if (IsFixationMetric(kMetricKeys[k]) && !m.has_fixations) continue;
        const double v = m.Get(kMetricKeys[k]);
        Agg& a = s.agg[si][k];
        if (std::isfinite(v)) {
          a.sum += v;
          ++a.defined;
        } else {
          ++a.undefined;
        }
      }
      for (int b = 0; b < kNumMetricWarnings; ++b) s.warnings[si][b] += (m.warnings >> b) & 1u;
    }
  }
  return s;
}

Json MeansJson(const GroupStats& s, size_t si) {
  Json out = Json::object();
  for (int k = 0; k < kNumMetrics; ++k) {
    const Agg& a = s.agg[si][k];
    if (!a.present()) continue;
    const double m = a.mean();
    out[kMetricKeys[k]] = std::isfinite(m) ? Json(m) : Json(nullptr);
  }
  return out;
}

}  // namespace

double ReportWriter::Mean(const std::string& system, const std::string& key) const {
  const auto it = std::find(systems_.begin(), systems_.end(), system);
  if (it == systems_.end()) return kNaN;
  const size_t si = it - systems_.begin();
  double sum = 0;
  int64_t n = 0;
  for (const Row& r : rows_) {
    const double v = r.scores[si].Get(key);
    if (std::isfinite(v)) sum += v, ++n;
  }
  return n > 0 ? sum / n : kNaN;
}

std::string ReportWriter::FramesCsv() const {
  std::string out = "video,frame,system";
  for (const char* key : kMetricKeys) absl::StrAppend(&out, ",", key);
  out += ",warnings\n";
  for (const Row& r : rows_) {
    for (size_t si = 0; si < systems_.size(); ++si) {
      const MetricSet& m = r.scores[si];
      absl::StrAppend(&out, CsvField(r.video), ",", r.frame, ",", systems_[si]);
      for (const char* key : kMetricKeys) absl::StrAppend(&out, ",", CsvNumber(m.Get(key)));
      absl::StrAppend(&out, ",", CsvField(MetricWarningText(m.warnings)), "\n");
    }
  }
  return out;
}

namespace {

// Videos in order of first appearance, with their rows.
std::vector<std::pair<std::string, std::vector<const std::vector<MetricSet>*>>> GroupByVideo(
    const std::vector<std::string>& videos,
    const std::vector<const std::vector<MetricSet>*>& rows) {
  std::vector<std::pair<std::string, std::vector<const std::vector<MetricSet>*>>> out;
  for (size_t i = 0; i < rows.size(); ++i) {
    auto it =
        std::find_if(out.begin(), out.end(), [&](const auto& g) { return g.first == videos[i]; });
    if (it == out.end()) {
      out.push_back({videos[i], {}});
      it = out.end() - 1;
    }
    it->second.push_back(rows[i]);
  }
  return out;
}

}  // namespace

std::string ReportWriter::VideosJson() const {
  std::vector<std::string> names;
  std::vector<const std::vector<MetricSet>*> rows;
  for (const Row& r : rows_) names.push_back(r.video), rows.push_back(&r.scores);
  Json videos = Json::object();
  for (const auto& [video, group] : GroupByVideo(names, rows)) {
    const GroupStats s = Aggregate(group, systems_.size());
    Json v;
    v["frames"] = s.frames;
    v["model"] = MeansJson(s, 0);
    Json models = Json::object(), baselines = Json::object();
    for (size_t si = 0; si < systems_.size(); ++si) {
      (si < config_.models.size() ? models : baselines)[systems_[si]] = MeansJson(s, si);
    }
    v["models"] = models;
    v["baselines"] = baselines;
    videos[video] = v;
  }
  Json out;
  out["format"] = kReportFormat;
  out["version"] = kVersion;
  out["videos"] = videos;
  return out.dump(2) + "\n";
}

std::string ReportWriter::MetricsJson() const {
  std::vector<const std::vector<MetricSet>*> rows;
  std::set<std::string> videos;
  for (const Row& r : rows_) rows.push_back(&r.scores), videos.insert(r.video);
  const GroupStats s = Aggregate(rows, systems_.size());
  Json out;
  out["format"] = kReportFormat;
  out["version"] = kVersion;
  out["title"] = config_.title;
  Json info = Json::object();
  for (const auto& [k, v] : config_.info) info[k] = v;
  out["info"] = info;
  out["frames"] = s.frames;
  out["videos"] = static_cast<int64_t>(videos.size());
  out["model"] = MeansJson(s, 0);
  Json models = Json::object(), baselines = Json::object(), undefined = Json::object(),
       warnings = Json::object();
  for (size_t si = 0; si < systems_.size(); ++si) {
    (si < config_.models.size() ? models : baselines)[systems_[si]] = MeansJson(s, si);
    Json u = Json::object(), w = Json::object();
    for (int k = 0; k < kNumMetrics; ++k) {
      if (s.agg[si][k].undefined > 0) u[kMetricKeys[k]] = s.agg[si][k].undefined;
    }
    for (int b = 0; b < kNumMetricWarnings; ++b) {
      if (s.warnings[si][b] > 0) w[MetricWarningName(1u << b)] = s.warnings[si][b];
    }
    if (!u.empty()) undefined[systems_[si]] = u;
    if (!w.empty()) warnings[systems_[si]] = w;
  }
  out["models"] = models;
  out["baselines"] = baselines;
  out["undefined"] = undefined;
  out["warnings"] = warnings;
  return out.dump(2) + "\n";
}

namespace {

// Short definitions shown under the tables (the full ones: docs/eval.md, data/metrics.h).
constexpr const char* kDefinitions[][2] = {
    {"cc", "Pearson correlation of prediction and ground truth over all pixels."},
    {"kld", "KL(G&#8214;P) of the maps normalised to sum 1, eps = 2<sup>&minus;52</sup>."},
    {"nss", "Mean of the standardised prediction (std with N&minus;1) at fixated pixels."},
    {"auc_judd",
     "Area under the ROC curve with thresholds at fixated values (ties: expected "
     "value over tie orders)."},
    {"sim", "Histogram intersection of the min-max then sum normalised maps."},
    {"*_sphere",
     "The same with every row weighted by its solid angle, "
     "&prop; sin((i+&frac12;)&pi;/H): poles count as little as they cover."},
};

std::string SystemColour(size_t si, size_t num_models) {
  static const char* kModel[] = {"#c2410c", "#1d4ed8", "#15803d", "#7e22ce"};
  static const char* kBaseline[] = {"#9ca3af", "#6b7280", "#4b5563", "#d1d5db"};
  return si < num_models ? kModel[si % 4] : kBaseline[(si - num_models) % 4];
}

}  // namespace

std::string ReportWriter::Html() const { return Page(""); }

std::string ReportWriter::Page(const std::string& viewer_section) const {
  std::vector<const std::vector<MetricSet>*> rows;
  std::vector<std::string> names;
  std::set<std::string> video_set;
  for (const Row& r : rows_) {
    rows.push_back(&r.scores);
    names.push_back(r.video);
    video_set.insert(r.video);
  }
  const GroupStats s = Aggregate(rows, systems_.size());
  const size_t nm = config_.models.size();
  std::vector<int> keys;  // metric indices present for some system
  for (int k = 0; k < kNumMetrics; ++k) {
    for (size_t si = 0; si < systems_.size(); ++si) {
      if (s.agg[si][k].present()) {
        keys.push_back(k);
        break;
      }
    }
  }

  std::string h;
  absl::StrAppend(&h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
                  "<meta name=\"generator\" content=\"sal360 ", kVersion, "\">\n<title>",
                  util::HtmlEscape(config_.title), "</title>\n");
  h += R"(<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#1f2328}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 10px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.sub{color:#57606a;margin:0 0 14px}
table{border-collapse:collapse;background:#fff;font-size:14px;margin:6px 0}
th,td{border:1px solid #d0d7de;padding:5px 9px;text-align:right}th{background:#eef1f4}
td.l,th.l{text-align:left}tr.base td{color:#57606a}td.best{font-weight:700;background:#fff4e5}
.info td{text-align:left}.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{background:#fff;border:1px solid #d0d7de;border-radius:6px}
.gallery{display:flex;flex-direction:column;gap:18px}.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px}
.card h3{margin:0 0 8px;font-size:15px}.imgs{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0}figure img{display:block;max-width:100%;border-radius:3px}figcaption{font-size:12px;color:#57606a;margin-top:3px}
.caption{font-size:13px;margin-top:6px;color:#1f2328}.legend{display:flex;align-items:center;gap:8px;font-size:13px;margin:8px 0}
.bar{width:220px;height:12px;border-radius:2px;border:1px solid #d0d7de}
dl{font-size:14px}dt{font-weight:600;font-family:ui-monospace,monospace}dd{margin:0 0 6px 18px}
.warn{color:#9a6700}
</style>
</head>
<body><main>
)";
  absl::StrAppend(&h, "<h1>", util::HtmlEscape(config_.title), "</h1>\n<p class=\"sub\">", s.frames,
                  " frames in ", video_set.size(), " videos &middot; sal360 ", kVersion,
                  " &middot; ", kReportFormat, "</p>\n");
  if (!config_.info.empty()) {
    h += "<table class=\"info\">\n";
    for (const auto& [k, v] : config_.info) {
      absl::StrAppend(&h, "<tr><th class=\"l\">", util::HtmlEscape(k), "</th><td>", util::HtmlEscape(v),
                      "</td></tr>\n");
    }
    h += "</table>\n";
  }

  // Overall table.
  h += "<h2>Overall (mean over frames)</h2>\n<table>\n<tr><th class=\"l\">system</th>";
  for (int k : keys) {
    absl::StrAppend(&h, "<th>", kMetricKeys[k],
                    LowerIsBetter(kMetricKeys[k]) ? " &darr;" : " &uarr;", "</th>");
  }
  h += "</tr>\n";
  std::vector<size_t> best(kNumMetrics, SIZE_MAX);
  for (int k : keys) {
    for (size_t si = 0; si < systems_.size(); ++si) {
      const double v = s.agg[si][k].mean();
      if (!std::isfinite(v)) continue;
      const double b = best[k] == SIZE_MAX ? kNaN : s.agg[best[k]][k].mean();
      const bool better = LowerIsBetter(kMetricKeys[k]) ? v < b : v > b;
      if (best[k] == SIZE_MAX || better) best[k] = si;
    }
  }
  for (size_t si = 0; si < systems_.size(); ++si) {
    absl::StrAppend(&h, si < nm ? "<tr>" : "<tr class=\"base\">",
                    "<td class=\"l\"><span class=\"swatch\" style=\"background:",
                    SystemColour(si, nm), "\"></span>", util::HtmlEscape(systems_[si]),
                    si < nm ? "" : " <small>(baseline)</small>", "</td>");
    for (int k : keys) {
      absl::StrAppend(&h, best[k] == si ? "<td class=\"best\">" : "<td>",
                      Fixed(s.agg[si][k].mean()), "</td>");
    }
    h += "</tr>\n";
  }
  h += "</table>\n";

  // Bar charts: one small panel per metric, one horizontal bar per system.
  h += "<h2>Model vs baselines</h2>\n<div class=\"charts\">\n";
  const int label_w = 96, bar_w = 150, value_w = 52, row_h = 20, top = 26;
  const int panel_w = label_w + bar_w + value_w + 10;
  const int panel_h = top + row_h * static_cast<int>(systems_.size()) + 8;
  for (int k : keys) {
    double lo = 0, hi = 0;
    for (size_t si = 0; si < systems_.size(); ++si) {
      const double v = s.agg[si][k].mean();
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
    if (hi - lo <= 0) hi = lo + 1;
    const double scale = bar_w / (hi - lo);
    const double zero_x = label_w + (0 - lo) * scale;
    absl::StrAppendFormat(
        &h, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
        panel_w, panel_h, panel_w, panel_h);
    absl::StrAppendFormat(
        &h,
        "<text x=\"8\" y=\"17\" font-size=\"13\" font-weight=\"600\" "
        "fill=\"#1f2328\">%s %s</text>\n",
        kMetricKeys[k], LowerIsBetter(kMetricKeys[k]) ? "(lower is better)" : "(higher is better)");
    for (size_t si = 0; si < systems_.size(); ++si) {
      const double v = s.agg[si][k].mean();
      const int y = top + row_h * static_cast<int>(si);
      absl::StrAppendFormat(&h,
                            "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"end\" "
                            "fill=\"#1f2328\">%s</text>\n",
                            label_w - 6, y + 13, util::HtmlEscape(systems_[si]));
      if (std::isfinite(v)) {
        const double x0 = std::min(zero_x, label_w + (v - lo) * scale);
        const double wbar = std::max(std::abs(v) * scale, 1.0);
        absl::StrAppendFormat(&h,
                              "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" rx=\"2\" "
                              "fill=\"%s\"/>\n",
                              x0, y + 3, wbar, row_h - 6, SystemColour(si, nm));
      }
      absl::StrAppendFormat(&h,
                            "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#1f2328\">%s</text>\n",
                            label_w + bar_w + 6, y + 13, Fixed(v));
    }
    absl::StrAppendFormat(&h,
                          "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#57606a\" "
                          "stroke-width=\"1\"/>\n</svg>\n",
                          zero_x, top - 2, zero_x, panel_h - 6);
  }
  h += "</div>\n";

  // Per-video table of the first model.
  absl::StrAppend(&h, "<h2>Per video (", util::HtmlEscape(systems_[0]),
                  ")</h2>\n<table>\n<tr><th class=\"l\">video</th><th>frames</th>");
  for (int k : keys) absl::StrAppend(&h, "<th>", kMetricKeys[k], "</th>");
  h += "</tr>\n";
  for (const auto& [video, group] : GroupByVideo(names, rows)) {
    const GroupStats vs = Aggregate(group, systems_.size());
    absl::StrAppend(&h, "<tr><td class=\"l\">", util::HtmlEscape(video), "</td><td>", vs.frames, "</td>");
    for (int k : keys) absl::StrAppend(&h, "<td>", Fixed(vs.agg[0][k].mean()), "</td>");
    h += "</tr>\n";
  }
  h += "</table>\n";

  h += viewer_section;  // the 360° viewer of the gallery's frames (Write), before the flat gallery

  // Gallery.
  if (!gallery_.empty()) {
    h += "<h2>Gallery</h2>\n<div class=\"legend\">low";
    std::string stops;
    for (int i = 0; i <= 10; ++i) {
      const auto c = MapColour(config_.colour_map, i / 10.0);
      absl::StrAppendFormat(&stops, "%s#%02x%02x%02x %d%%", i ? "," : "", c[0], c[1], c[2], i * 10);
    }
    absl::StrAppend(&h, "<span class=\"bar\" style=\"background:linear-gradient(to right,", stops,
                    ")\"></span>high saliency (each map min-max scaled; overlay opacity grows "
                    "with saliency)</div>\n<div class=\"gallery\">\n");
    for (const GalleryEntry& e : gallery_) {
      absl::StrAppend(&h, "<div class=\"card\"><h3>", util::HtmlEscape(e.video), " &middot; frame ",
                      e.frame, "</h3><div class=\"imgs\">\n");
      for (auto [png, label] : {std::pair{&e.frame_png, "frame"},
                                {&e.gt_png, "ground truth"},
                                {&e.pred_png, "prediction"}}) {
        absl::StrAppendFormat(&h,
                              "<figure><img width=\"%d\" height=\"%d\" alt=\"%s\" src=\"%s\">"
                              "<figcaption>%s</figcaption></figure>\n",
                              e.width, e.height, label, PngDataUri(*png), label);
      }
      h += "</div>";
      if (e.has_caption) {
        h += "<div class=\"caption\">";
        bool first = true;
        for (const auto& [key, value] : e.caption.Items()) {
          absl::StrAppend(&h, first ? "" : " &middot; ", key, " ", Fixed(value));
          first = false;
        }
        h += "</div>";
      }
      h += "</div>\n";
    }
    h += "</div>\n";
  }

  // Warnings and definitions.
  std::string warn_rows;
  for (size_t si = 0; si < systems_.size(); ++si) {
    for (int b = 0; b < kNumMetricWarnings; ++b) {
      if (s.warnings[si][b] == 0) continue;
      absl::StrAppend(&warn_rows, "<tr><td class=\"l\">", util::HtmlEscape(systems_[si]),
                      "</td><td class=\"l\">", MetricWarningName(1u << b), "</td><td>",
                      s.warnings[si][b], "</td></tr>\n");
    }
  }
  if (!warn_rows.empty()) {
    h += "<h2>Warnings</h2>\n<p class=\"warn\">Frames with degenerate inputs (see "
         "docs/eval.md for the value each metric takes).</p>\n<table>\n<tr><th class=\"l\">"
         "system</th><th class=\"l\">warning</th><th>frames</th></tr>\n" +
         warn_rows + "</table>\n";
  }
  h += "<h2>Metrics</h2>\n<dl>\n";
  for (const auto& d : kDefinitions)
    absl::StrAppend(&h, "<dt>", d[0], "</dt><dd>", d[1], "</dd>\n");
  h += "</dl>\n</main></body>\n</html>\n";
  return h;
}

absl::Status ReportWriter::Write(const std::string& dir) const {
  if (absl::Status st = util::MakeDirs(dir); !st.ok()) return st;
  // The gallery's frames in the 360° viewer (data/viewer.h: files under dir/viewer/).
  ViewerOptions vo;
  vo.colour_map = config_.colour_map;
  ViewerWriter viewer(dir, vo);
  for (const GalleryEntry& e : gallery_) {
    if (absl::Status st = viewer.AddFrame(absl::StrCat(e.video, " / ", e.frame), e.viewer_rgb.data(), e.viewer_h,
                                          e.viewer_w, e.gt.data(), e.pred.data(), e.map_h, e.map_w);
        !st.ok()) {
      return st;
    }
  }
  const std::pair<const char*, std::string> files[] = {{"frames.csv", FramesCsv()},
                                                       {"videos.json", VideosJson()},
                                                       {"metrics.json", MetricsJson()},
                                                       {"report.html", Page(viewer.Html("Look around (360° viewer)"))}};
  for (const auto& [name, contents] : files) {
    if (absl::Status st = util::WriteFileAtomically(dir + "/" + name, contents); !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace sal360::data

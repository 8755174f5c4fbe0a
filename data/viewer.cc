#include "data/viewer.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/image.h"
#include "data/viewer_js.h"
#include "nlohmann/json.hpp"
#include "util/file.h"
#include "util/html.h"

namespace sal360::data {

using nlohmann::json;

ViewerWriter::ViewerWriter(std::string report_dir, ViewerOptions options)
    : report_dir_(std::move(report_dir)), options_(std::move(options)) {}

std::vector<uint8_t> ViewerWriter::DisplayMap(const float* map, int height, int width) {
  const std::vector<float> t = NormaliseForDisplay(map, height, width);
  std::vector<uint8_t> out(t.size());
  for (size_t k = 0; k < t.size(); ++k) out[k] = static_cast<uint8_t>(std::lround(255.0 * t[k]));
  return out;
}

std::pair<int, int> ViewerWriter::ShownSize(int map_h, int map_w, int frame_h, int frame_w) {
  if (map_h >= frame_h || map_w >= frame_w) return {map_h, map_w};
  return {frame_h, frame_w};
}

std::vector<uint8_t> ViewerWriter::ShownMap(const float* map, int map_h, int map_w, int frame_h, int frame_w) {
  const auto [h, w] = ShownSize(map_h, map_w, frame_h, frame_w);
  if (h == map_h && w == map_w) return DisplayMap(map, map_h, map_w);
  const std::vector<float> up = ResizeFloat(map, map_h, map_w, 1, h, w);
  return DisplayMap(up.data(), h, w);
}

std::vector<uint8_t> ViewerWriter::ColourTable(ColourMap cmap) {
  std::vector<uint8_t> lut;
  lut.reserve(256 * 3);
  for (int k = 0; k < 256; ++k) {
    const std::array<uint8_t, 3> c = MapColour(cmap, k / 255.0);
    lut.insert(lut.end(), c.begin(), c.end());
  }
  return lut;
}

absl::Status ViewerWriter::AddFrame(const std::string& label, const uint8_t* rgb, int frame_h, int frame_w,
                                    const float* gt, const float* pred, int map_h, int map_w) {
  if (frame_h < 1 || frame_w < 1 || map_h < 1 || map_w < 1 || rgb == nullptr || pred == nullptr) {
    return absl::InvalidArgumentError("viewer: a frame needs an image and a predicted map");
  }
  const int with_gt = gt != nullptr ? 1 : 0;
  if (has_gt_ >= 0 && has_gt_ != with_gt) {
    return absl::InvalidArgumentError("viewer: every frame needs a ground truth, or none does");
  }
  has_gt_ = with_gt;
  Image frame{frame_h, frame_w, 3, std::vector<uint8_t>(rgb, rgb + size_t(frame_h) * frame_w * 3)};
  if (frame_w > options_.max_width) {
    const int w = options_.max_width, h = std::max(1, static_cast<int>(std::lround(double(frame_h) * w / frame_w)));
    frame = ResizeImage(frame, h, w);
  }
  auto png = [](const uint8_t* px, int h, int w, int c) -> absl::StatusOr<std::string> {
    absl::StatusOr<std::string> bytes = EncodePng(px, h, w, c);
    if (!bytes.ok()) return bytes.status();
    return PngDataUri(*bytes);
  };
  json data;
  // The frame as JPEG (a photo: ~10x smaller than PNG); the maps as lossless PNG.
  absl::StatusOr<std::string> jpeg = EncodeJpeg(frame, 85);
  if (!jpeg.ok()) return jpeg.status();
  data["frame"] = absl::StrCat("data:image/jpeg;base64,", absl::Base64Escape(*jpeg));
  const auto [sh, sw] = ShownSize(map_h, map_w, frame.height, frame.width);
  const std::vector<uint8_t> p8 = ShownMap(pred, map_h, map_w, frame.height, frame.width);
  absl::StatusOr<std::string> p = png(p8.data(), sh, sw, 1);
  if (!p.ok()) return p.status();
  data["pred"] = *p;
  const std::vector<uint8_t> heat = HeatmapRgb(pred, map_h, map_w, options_.colour_map);
  absl::StatusOr<std::string> o = png(heat.data(), map_h, map_w, 3);
  if (!o.ok()) return o.status();
  data["overlay"] = *o;
  if (gt != nullptr) {
    const std::vector<uint8_t> g8 = ShownMap(gt, map_h, map_w, frame.height, frame.width);
    absl::StatusOr<std::string> g = png(g8.data(), sh, sw, 1);
    if (!g.ok()) return g.status();
    data["gt"] = *g;
  }
  const int k = frames();
  const std::string dir = report_dir_ + "/" + options_.dir_name;
  if (k == 0) {
    if (absl::Status s = util::MakeDirs(dir); !s.ok()) return s;
  }
  const std::string script = absl::StrCat("sal360ViewerFrame(", k, ", ", util::ScriptSafeJson(data.dump()), ");\n");
  if (absl::Status s = util::WriteFileAtomically(absl::StrFormat("%s/%06d.js", dir, k), script); !s.ok()) return s;
  labels_.push_back(label);
  return absl::OkStatus();
}

std::string ViewerWriter::Html(const std::string& title) const {
  if (labels_.empty()) return "";
  json cfg;
  cfg["dir"] = options_.dir_name;
  cfg["frames"] = labels_;
  cfg["hasGt"] = has_gt_ == 1;
  cfg["lut"] = ColourTable(options_.colour_map);
  // The self-test's probe directions (yaw = longitude, pitch = latitude, degrees): the
  // image centre, both sides of the seam, near both poles, and in between.
  cfg["selftestViews"] = json::array({{183.0, 2.0}, {0.4, 5.0}, {359.6, -5.0}, {93.0, 89.5}, {273.0, -89.5},
                                      {47.0, 40.0}, {303.0, -60.0}});
  std::string h;
  absl::StrAppend(&h, "<h2>", util::HtmlEscape(title), "</h2>\n",
                  "<p class=\"sub\">Drag to look around, scroll to zoom. The flat view marks the looked-at "
                  "direction.</p>\n<style>\n",
                  "#sal360-viewer{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}\n",
                  "#sal360-viewer canvas.sphere{width:640px;height:400px;background:#000;cursor:grab;"
                  "touch-action:none}\n",
                  "#sal360-viewer canvas.flat{width:400px;height:200px;background:#000}\n",
                  "#sal360-viewer .controls{font-size:13px;margin:6px 0}\n",
                  "#sal360-viewer .controls button{margin-right:4px}\n",
                  "</style>\n<div id=\"sal360-viewer\">\n<div>\n",
                  "<canvas class=\"sphere\" width=\"640\" height=\"400\"></canvas>\n",
                  "<div class=\"controls\"><button data-mode=\"gt\">ground truth</button>"
                  "<button data-mode=\"pred\">prediction</button><button data-mode=\"both\">both</button> "
                  "opacity <input type=\"range\" min=\"0\" max=\"100\" value=\"70\" data-ui=\"opacity\"> "
                  "<label><input type=\"checkbox\" checked data-ui=\"showFrame\"> frame</label></div>\n",
                  "<div class=\"controls timeline\"><button data-ui=\"prev\">&#9664;</button>"
                  "<input type=\"range\" min=\"0\" max=\"0\" value=\"0\" data-ui=\"timeline\" style=\"width:360px\">"
                  "<button data-ui=\"next\">&#9654;</button> <span data-ui=\"index\"></span></div>\n",
                  "<div class=\"controls\">frame <span data-ui=\"label\"></span> &middot; looking at longitude "
                  "<span data-ui=\"yaw\"></span>&deg;, latitude <span data-ui=\"pitch\"></span>&deg; &middot; "
                  "field of view <span data-ui=\"fov\"></span>&deg; <span class=\"status\"></span></div>\n",
                  "</div>\n<div><canvas class=\"flat\" width=\"800\" height=\"400\"></canvas>"
                  "<p class=\"sub\">Flat (equirectangular) view: the cross is the view's centre.</p></div>\n",
                  "</div>\n<script type=\"application/json\" id=\"sal360-viewer-config\">",
                  util::ScriptSafeJson(cfg.dump()), "</script>\n<script>\n", kViewerJs, "\n</script>\n");
  return h;
}

std::string ViewerWriter::Page(const std::string& title,
                               const std::vector<std::pair<std::string, std::string>>& facts) const {
  std::string h;
  absl::StrAppend(&h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>",
                  util::HtmlEscape(title), "</title>\n<style>body{font-family:system-ui,sans-serif;margin:24px;",
                  "background:#f6f7f9;color:#1f2328}table{border-collapse:collapse;background:#fff}",
                  "td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;font-size:13px}",
                  ".sub{color:#57606a;font-size:13px}</style></head><body>\n<h1>", util::HtmlEscape(title),
                  "</h1>\n<table>\n");
  for (const auto& [k, v] : facts) {
    absl::StrAppend(&h, "<tr><th>", util::HtmlEscape(k), "</th><td>", util::HtmlEscape(v), "</td></tr>\n");
  }
  absl::StrAppend(&h, "</table>\n", Html("Look around (360° viewer)"), "</body></html>\n");
  return h;
}

}  // namespace sal360::data

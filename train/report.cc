#include "train/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "util/html.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "util/file.h"
#include "util/version.h"

namespace sal360::train {
namespace {

using nlohmann::json;


std::string Num(double v, const char* fmt = "%.4f") {
  if (!std::isfinite(v)) return "–";
  char buf[64];  // fmt is one of this file's literals ("%.4f", "%.3g", ...)
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string Duration(double s) {
  if (!(s >= 0)) return "–";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  if (t >= 3600) return absl::StrFormat("%d h %02d min %02d s", t / 3600, (t / 60) % 60, t % 60);
  if (t >= 60) return absl::StrFormat("%d min %02d s", t / 60, t % 60);
  return absl::StrFormat("%.1f s", s);
}

double Get(const json& j, const char* group, const std::string& key) {
  if (!j.contains(group) || !j[group].is_object() || !j[group].contains(key) || !j[group][key].is_number()) {
    return NAN;
  }
  return j[group][key].get<double>();
}

// A line chart as inline SVG: each series is (x, y) points; y on a log scale when asked.
struct Series {
  std::string name, colour;
  std::vector<std::pair<double, double>> points;
  bool dashed = false;
};

std::string Chart(const std::string& title, const std::string& x_label, const std::vector<Series>& series,
                  bool log_y) {
  const double W = 640, H = 260, L = 60, R = 150, T = 28, B = 40;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  auto ty = [&](double y) { return log_y ? std::log10(y) : y; };
  for (const Series& s : series) {
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(y) || (log_y && y <= 0)) continue;
      x0 = std::min(x0, x);
      x1 = std::max(x1, x);
      y0 = std::min(y0, ty(y));
      y1 = std::max(y1, ty(y));
    }
  }
  std::string svg = absl::StrFormat(
      "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
      "aria-label=\"%s\">\n<text x=\"%.0f\" y=\"18\" class=\"title\">%s</text>\n",
      W, H, W, H, util::HtmlEscape(title), L, util::HtmlEscape(title));
  if (!(x0 <= x1)) return svg + "<text x=\"60\" y=\"120\">no data yet</text></svg>\n";
  if (x1 == x0) x1 = x0 + 1;
  if (y1 - y0 < 1e-9) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad;
  y1 += pad;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return T + (y1 - ty(y)) / (y1 - y0) * (H - T - B); };
  absl::StrAppendFormat(&svg, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" class=\"frame\"/>\n", L, T,
                        W - L - R, H - T - B);
  for (int k = 0; k <= 4; ++k) {
    const double v = y0 + (y1 - y0) * k / 4;
    const double y = T + (y1 - v) / (y1 - y0) * (H - T - B);
    const double label = log_y ? std::pow(10.0, v) : v;
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                          "<text x=\"%.0f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%.3g</text>\n",
                          L, W - R, y, y, L - 6, y + 4, label);
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.0f\" y=\"%.0f\" class=\"tick\" text-anchor=\"middle\">%s (%.6g to %.6g)</text>\n",
                        L + (W - L - R) / 2, H - 10, util::HtmlEscape(x_label), x0, x1);
  int row = 0;
  for (const Series& s : series) {
    std::string pts;
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(y) || (log_y && y <= 0)) continue;
      absl::StrAppendFormat(&pts, "%.1f,%.1f ", px(x), py(y));
    }
    absl::StrAppendFormat(&svg,
                          "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s/>\n"
                          "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>"
                          "<text x=\"%.0f\" y=\"%d\" class=\"tick\">%s</text>\n",
                          pts, s.colour, s.dashed ? " stroke-dasharray=\"5 4\"" : "", W - R + 10, W - R + 30,
                          int(T + 10 + 18 * row), int(T + 10 + 18 * row), s.colour,
                          s.dashed ? " stroke-dasharray=\"5 4\"" : "", W - R + 36, int(T + 14 + 18 * row),
                          util::HtmlEscape(s.name));
    ++row;
  }
  return svg + "</svg>\n";
}

}  // namespace

absl::Status WriteTrainReport(const std::string& run_dir) {
  const std::string config_path = run_dir + "/config.json", log_path = run_dir + "/log.jsonl";
  absl::StatusOr<std::string> config_text = util::ReadFile(config_path, 1 << 20);
  if (!config_text.ok()) return config_text.status();
  const json config = json::parse(*config_text, nullptr, false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(config_path, ": not a JSON object"));
  }
  absl::StatusOr<std::string> log_text = util::ReadFile(log_path, int64_t{1} << 32);
  if (!log_text.ok()) return log_text.status();

  std::vector<json> steps, epochs;
  std::stringstream ss(*log_text);
  std::string line;
  while (std::getline(ss, line)) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;  // a line cut by a crash
    const std::string kind = j.value("kind", "");
    if (kind == "step") steps.push_back(j);
    if (kind == "epoch") epochs.push_back(j);
  }

  // Summary numbers.
  const int64_t last_step = steps.empty() ? 0 : steps.back().value("step", int64_t{0});
  const double elapsed = steps.empty() ? 0.0 : steps.back().value("elapsed_s", 0.0);
  std::vector<double> rates;
  for (const json& s : steps) rates.push_back(s.value("samples_per_s", 0.0));
  double median_rate = NAN;
  if (!rates.empty()) {
    std::nth_element(rates.begin(), rates.begin() + rates.size() / 2, rates.end());
    median_rate = rates[rates.size() / 2];
  }
  int best = -1;
  for (size_t i = 0; i < epochs.size(); ++i) {
    const double cc = Get(epochs[i], "val", "cc");
    if (std::isfinite(cc) && (best < 0 || cc > Get(epochs[best], "val", "cc"))) best = static_cast<int>(i);
  }
  std::vector<std::string> baselines;
  if (!epochs.empty() && epochs.back().contains("baselines") && epochs.back()["baselines"].is_object()) {
    for (const auto& [name, m] : epochs.back()["baselines"].items()) baselines.push_back(name);
  }

  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>sal360 training run: ",
      util::HtmlEscape(run_dir), "</title>\n<style>\n",
      "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}\n"
      "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;"
      "text-align:right}th{background:#f3f3f3}td.k{text-align:left}\n"
      "tr.best td{background:#eaf6ea;font-weight:600}\n"
      ".chart{display:block;margin:1em 0}.chart .title{font-weight:600;font-size:14px}"
      ".chart .tick{font-size:11px;fill:#444}.chart .grid{stroke:#e4e4e4}"
      ".chart .frame{fill:none;stroke:#999}\ncode{background:#f3f3f3;padding:.1em .3em}\n",
      "</style></head><body>\n<h1>Training run</h1>\n<p><code>", util::HtmlEscape(run_dir), "</code> · sal360 ",
      util::HtmlEscape(kVersion), "</p>\n");

  // Summary.
  const int64_t planned_epochs = config.value("epochs", int64_t{0});
  const int64_t batch = config.value("batch", int64_t{0});
  absl::StrAppend(&html, "<h2>Summary</h2>\n<table>\n");
  auto row = [&](const std::string& k, const std::string& v) {
    absl::StrAppend(&html, "<tr><td class=\"k\">", util::HtmlEscape(k), "</td><td>", util::HtmlEscape(v), "</td></tr>\n");
  };
  row("epochs done", absl::StrCat(epochs.size(), " of ", planned_epochs));
  row("optimiser steps", absl::StrCat(last_step));
  row("training wall time (incl. validation)", Duration(elapsed));
  row("throughput (median over the log, samples/s)", Num(median_rate, "%.2f"));
  row("input size, batch",
      absl::StrCat(config.value("height", 0), " x ", config.value("width", 0), ", batch ", batch));
  if (best >= 0) {
    const json& e = epochs[best];
    row("best epoch (validation CC)", absl::StrCat(e.value("epoch", int64_t{0})));
    row("validation CC / KLD at the best epoch",
        absl::StrCat(Num(Get(e, "val", "cc")), " / ", Num(Get(e, "val", "kld"))));
    for (const std::string& b : baselines) {
      const double cc = e.contains("baselines") && e["baselines"].contains(b) && e["baselines"][b].contains("cc")
                            ? e["baselines"][b]["cc"].get<double>()
                            : NAN;
      const double kld = e.contains("baselines") && e["baselines"].contains(b) && e["baselines"][b].contains("kld")
                             ? e["baselines"][b]["kld"].get<double>()
                             : NAN;
      row(absl::StrCat("baseline ", b, ": CC / KLD"), absl::StrCat(Num(cc), " / ", Num(kld)));
    }
  } else {
    row("validation", "none yet (no completed epoch with validation)");
  }
  absl::StrAppend(&html, "</table>\n");

  // Charts.
  Series loss{"train loss", "#1f77b4", {}};
  for (const json& s : steps) loss.points.push_back({double(s.value("step", int64_t{0})), s.value("loss", NAN)});
  Series epoch_loss{"epoch mean", "#ff7f0e", {}};
  for (const json& e : epochs) {
    epoch_loss.points.push_back({double(e.value("step", int64_t{0})), e.value("train_loss", NAN)});
  }
  absl::StrAppend(&html, Chart("Training loss (log scale)", "step", {loss, epoch_loss}, true));
  std::vector<Series> cc_series = {{"model (val)", "#2ca02c", {}}};
  const char* colours[] = {"#d62728", "#9467bd", "#8c564b", "#7f7f7f"};
  for (size_t b = 0; b < baselines.size(); ++b) cc_series.push_back({baselines[b], colours[b % 4], {}, true});
  for (const json& e : epochs) {
    const double x = double(e.value("epoch", int64_t{0}));
    cc_series[0].points.push_back({x, Get(e, "val", "cc")});
    for (size_t b = 0; b < baselines.size(); ++b) {
      double v = NAN;
      if (e.contains("baselines") && e["baselines"].contains(baselines[b])) {
        v = Get(e["baselines"], baselines[b].c_str(), "cc");
      }
      cc_series[b + 1].points.push_back({x, v});
    }
  }
  absl::StrAppend(&html, Chart("Validation CC", "epoch", cc_series, false));

  // Epoch table.
  absl::StrAppend(&html, "<h2>Epochs</h2>\n<table>\n<tr><th>epoch</th><th>step</th><th>train loss</th>"
                         "<th>val CC</th><th>val KLD</th><th>val CC (sphere)</th><th>val KLD (sphere)</th>");
  for (const std::string& b : baselines) absl::StrAppend(&html, "<th>", util::HtmlEscape(b), " CC</th>");
  absl::StrAppend(&html, "</tr>\n");
  for (size_t i = 0; i < epochs.size(); ++i) {
    const json& e = epochs[i];
    absl::StrAppend(&html, static_cast<int>(i) == best ? "<tr class=\"best\">" : "<tr>", "<td>",
                    e.value("epoch", int64_t{0}), "</td><td>", e.value("step", int64_t{0}), "</td><td>",
                    Num(e.value("train_loss", NAN), "%.4g"), "</td><td>", Num(Get(e, "val", "cc")), "</td><td>",
                    Num(Get(e, "val", "kld")), "</td><td>", Num(Get(e, "val", "cc_sphere")), "</td><td>",
                    Num(Get(e, "val", "kld_sphere")), "</td>");
    for (const std::string& b : baselines) {
      double v = NAN;
      if (e.contains("baselines") && e["baselines"].contains(b)) v = Get(e["baselines"], b.c_str(), "cc");
      absl::StrAppend(&html, "<td>", Num(v), "</td>");
    }
    absl::StrAppend(&html, "</tr>\n");
  }
  absl::StrAppend(&html, "</table>\n");

  // Configuration and next step.
  absl::StrAppend(&html, "<h2>Configuration</h2>\n<table>\n");
  for (const auto& [k, v] : config.items()) row(k, v.is_string() ? v.get<std::string>() : v.dump());
  absl::StrAppend(&html, "</table>\n<h2>Next</h2>\n<p>Evaluate the best checkpoint on the test split:</p>\n"
                         "<p><code>bazel run //tools:test -- --checkpoint=",
                  util::HtmlEscape(run_dir), "/best.safetensors --out=", util::HtmlEscape(run_dir), "/test</code></p>\n",
                  "<p>Logs: <code>steps.csv</code>, <code>epochs.csv</code>, <code>log.jsonl</code>.</p>\n"
                  "</body></html>\n");
  return util::WriteFileAtomically(run_dir + "/report.html", html);
}

}  // namespace sal360::train

// tools:eval's pairing and scoring; see eval_lib.h.
#include "tools/eval_lib.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "data/baselines.h"
#include "data/ground_truth.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/map_file.h"
#include "data/salient360.h"

namespace sal360::tools {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

enum class Kind { kMissing, kFile, kDirectory, kOther };

Kind KindOf(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return Kind::kMissing;
  if (fs::is_directory(st)) return Kind::kDirectory;
  if (fs::is_regular_file(st)) return Kind::kFile;
  return Kind::kOther;
}

// The pairing key of a file relative to its directory (see eval_lib.h).
std::string KeyOf(const fs::path& relative) {
  std::string stem = relative.stem().string();
  for (const char* suffix : {"_fixations", "_pred", "_sal", "_fix", "_gt"}) {
    const std::string s = suffix;
    if (stem.size() > s.size() && stem.compare(stem.size() - s.size(), s.size(), s) == 0) {
      stem.resize(stem.size() - s.size());
      break;
    }
  }
  const fs::path parent = relative.parent_path();
  return parent.empty() ? stem : (parent / stem).string();
}

// key -> path of every map file under `dir`.
// With `fixation_lists`, Salient360! fixation lists (.txt/.csv) count too.
absl::StatusOr<std::map<std::string, std::string>> ListMaps(const std::string& dir,
                                                            const std::string& what,
                                                            int64_t max_files, bool fixation_lists = false) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  int64_t seen = 0;
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (++seen > max_files) {
      return absl::ResourceExhaustedError(
          absl::StrCat(what, " directory ", dir, ": more than ", max_files, " entries"));
    }
    const std::string path = it->path().string();
    if (!it->is_regular_file(ec) ||
        !(data::IsSaliencyMapFile(path) || (fixation_lists && data::IsFixationListFile(path)))) {
      continue;
    }
    const std::string key = KeyOf(fs::relative(it->path(), dir, ec));
    auto [pos, inserted] = out.emplace(key, it->path().string());
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(what, " directory ", dir, ": ", pos->second,
                                                     " and ", it->path().string(),
                                                     " both have the key '", key, "'"));
    }
  }
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " directory ", dir, ": cannot list (", ec.message(), ")"));
  }
  return out;
}

std::string Preview(const std::vector<std::string>& names) {
  std::vector<std::string> first(names.begin(), names.begin() + std::min<size_t>(names.size(), 5));
  return absl::StrCat(absl::StrJoin(first, ", "), names.size() > 5 ? ", ..." : "");
}

}  // namespace

Json MetricsToJson(const data::MetricSet& m) {
  Json out = Json::object();
  for (const auto& [key, value] : m.Items()) {
    out[key] = std::isfinite(value) ? Json(value) : Json(nullptr);
  }
  return out;
}

namespace {

// Dataset mode: prediction files keyed "<video>/<NNNN>" against the dataset's frames.
absl::StatusOr<std::vector<EvalPair>> MatchDatasetPairs(
    const EvalOptions& o, const std::function<void(const std::string&)>& warn,
    const data::Dataset& dataset) {
  if (!o.gt.empty() || !o.fix.empty()) {
    return absl::InvalidArgumentError(
        "--data replaces --gt and --fix (the ground truth and fixations come from the "
        "dataset's gaze points); give one or the other");
  }
  if (o.resize) {
    return absl::InvalidArgumentError(
        "--resize has no effect with --data (the ground truth is made at each prediction's "
        "size)");
  }
  if (!(o.gaze_sigma > 0) || !std::isfinite(o.gaze_sigma)) {
    return absl::InvalidArgumentError(absl::StrCat("--gaze_sigma must be > 0, got ", o.gaze_sigma));
  }
  if (o.gt_source != "generate" && o.gt_source != "cache") {
    return absl::InvalidArgumentError(
        absl::StrCat("--gt_source must be generate or cache, not '", o.gt_source, "'"));
  }
  const Kind pk = KindOf(o.pred);
  if (pk == Kind::kMissing) {
    return absl::NotFoundError(absl::StrCat("--pred=", o.pred, ": no such file or directory"));
  }
  if (pk != Kind::kDirectory) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--pred=", o.pred, ": with --data, --pred must be a directory of <video>/<NNNN> maps"));
  }
  absl::StatusOr<std::map<std::string, std::string>> preds =
      ListMaps(o.pred, "--pred", o.max_files);
  if (!preds.ok()) return preds.status();
  std::vector<EvalPair> pairs;
  std::vector<std::string> unknown;
  for (const auto& [key, path] : *preds) {
    const size_t slash = key.rfind('/');
    int frame = 0;
    const std::string video = slash == std::string::npos ? "" : key.substr(0, slash);
    if (video.empty() || !data::ParseFrameKey(key.substr(slash + 1), &frame) ||
        dataset.gaze(video, frame) == nullptr) {
      unknown.push_back(key);
      continue;
    }
    EvalPair pair;
    pair.name = data::FrameRef{video, frame}.ToString();
    pair.pred = path;
    pair.video = video;
    pair.frame = frame;
    pairs.push_back(std::move(pair));
  }
  if (!unknown.empty() && warn) {
    warn(absl::StrCat(unknown.size(), " file(s) in ", o.pred, " are not frames of ",
                      dataset.root(), " (keys must be <video>/<NNNN>), ignored: ",
                      Preview(unknown)));
  }
  if (pairs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--pred=", o.pred, ": no prediction named <video>/<NNNN>.npy|.png for a frame of ",
        dataset.root()));
  }
  if (warn) {
    warn(absl::StrCat("scoring ", pairs.size(), " of the ", dataset.num_frames(),
                      " frames of ", dataset.root()));
  }
  return pairs;
}

}  // namespace

absl::StatusOr<std::vector<EvalPair>> MatchEvalPairs(
    const EvalOptions& o, const std::function<void(const std::string&)>& warn,
    const data::Dataset* dataset) {
  if (!o.data.empty()) {
    if (o.pred.empty()) return absl::InvalidArgumentError("--pred is required");
    if (dataset == nullptr) return absl::InvalidArgumentError("--data: dataset not opened");
    return MatchDatasetPairs(o, warn, *dataset);
  }
  if (o.pred.empty() || o.gt.empty()) {
    return absl::InvalidArgumentError("both --pred and --gt (or --data) are required");
  }
  const Kind pk = KindOf(o.pred), gk = KindOf(o.gt);
  const Kind fk = o.fix.empty() ? Kind::kMissing : KindOf(o.fix);
  for (auto [path, kind, flag] : {std::tuple{&o.pred, pk, "--pred"}, {&o.gt, gk, "--gt"},
                                  {&o.fix, fk, "--fix"}}) {
    if (path->empty()) continue;
    if (kind == Kind::kMissing) {
      return absl::NotFoundError(absl::StrCat(flag, "=", *path, ": no such file or directory"));
    }
    if (kind == Kind::kOther) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, "=", *path, ": neither a regular file nor a directory"));
    }
  }
  if (pk != gk || (!o.fix.empty() && fk != gk)) {
    return absl::InvalidArgumentError(
        "--pred, --gt (and --fix) must all be files or all be directories");
  }
  if (gk == Kind::kFile) {
    absl::StatusOr<int64_t> np = data::SaliencyMapFrames(o.pred), ng = data::SaliencyMapFrames(o.gt);
    if (!np.ok()) return np.status();
    if (!ng.ok()) return ng.status();
    if (*np != *ng) {
      return absl::InvalidArgumentError(absl::StrCat("--pred=", o.pred, " holds ", *np, " map(s) but --gt=", o.gt,
                                                     " holds ", *ng));
    }
    std::vector<EvalPair> pairs;
    for (int64_t k = 0; k < *ng; ++k) {
      EvalPair p{fs::path(o.gt).filename().string(), o.pred, o.gt, o.fix};
      if (*ng > 1) {
        p.name = absl::StrCat(p.name, "#", k);
        p.map_index = k;
        p.video_map = true;
        if (!o.fix.empty() && !data::IsFixationListFile(o.fix) && data::SaliencyMapFrames(o.fix).value_or(1) != *ng) {
          return absl::InvalidArgumentError(absl::StrCat("--fix=", o.fix, " must hold ", *ng, " maps too"));
        }
      }
      pairs.push_back(std::move(p));
    }
    return pairs;
  }
  absl::StatusOr<std::map<std::string, std::string>> preds =
      ListMaps(o.pred, "--pred", o.max_files);
  if (!preds.ok()) return preds.status();
  absl::StatusOr<std::map<std::string, std::string>> gts = ListMaps(o.gt, "--gt", o.max_files);
  if (!gts.ok()) return gts.status();
  std::map<std::string, std::string> fixes;
  if (!o.fix.empty()) {
    absl::StatusOr<std::map<std::string, std::string>> f = ListMaps(o.fix, "--fix", o.max_files, /*fixation_lists=*/true);
    if (!f.ok()) return f.status();
    fixes = std::move(*f);
  }
  if (gts->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--gt=", o.gt, ": no .npy or .png files found"));
  }
  std::vector<EvalPair> pairs;
  std::vector<std::string> no_pred, no_fix, no_gt;
  for (const auto& [key, gt_path] : *gts) {
    auto p = preds->find(key);
    if (p == preds->end()) {
      no_pred.push_back(key);
      continue;
    }
    EvalPair pair{key, p->second, gt_path, ""};
    if (!o.fix.empty()) {
      auto f = fixes.find(key);
      if (f == fixes.end()) {
        no_fix.push_back(key);
        continue;
      }
      pair.fix = f->second;
    }
    pairs.push_back(std::move(pair));
  }
  if (!no_pred.empty()) {
    return absl::NotFoundError(absl::StrCat(no_pred.size(), " ground-truth map(s) in ", o.gt,
                                            " have no prediction in ", o.pred, ": ",
                                            Preview(no_pred)));
  }
  if (!no_fix.empty()) {
    return absl::NotFoundError(absl::StrCat(no_fix.size(), " ground-truth map(s) in ", o.gt,
                                            " have no fixation map in ", o.fix, ": ",
                                            Preview(no_fix)));
  }
  for (const auto& [key, path] : *preds) {
    if (gts->count(key) == 0) no_gt.push_back(key);
  }
  if (!no_gt.empty() && warn) {
    warn(absl::StrCat(no_gt.size(), " prediction(s) without ground truth ignored: ",
                      Preview(no_gt)));
  }
  return pairs;
}

namespace {

// InfoGain's baseline at (h, w); empty for "none".
absl::StatusOr<std::vector<double>> BaselineMap(const EvalOptions& o, int h, int w) {
  if (o.baseline == "none") return std::vector<double>{};
  std::vector<float> f;
  if (o.baseline == "centre") {
    f = data::CentrePriorMap(h, w);
  } else if (o.baseline == "equator") {
    f = data::LatitudePrior(h, w);
  } else {
    absl::StatusOr<data::SaliencyMap> m = data::ReadSaliencyMap(o.baseline, o.max_file_bytes);
    if (!m.ok()) return m.status();
    const std::vector<float> src(m->values.begin(), m->values.end());
    f = (m->height == h && m->width == w) ? src : data::ResizeFloat(src.data(), m->height, m->width, 1, h, w);
  }
  return std::vector<double>(f.begin(), f.end());
}

}  // namespace

absl::StatusOr<data::MetricSet> ScoreEvalPair(const EvalPair& pair, const EvalOptions& o,
                                              const data::Dataset* dataset) {
  if (!o.data.empty()) {
    if (dataset == nullptr) return absl::InvalidArgumentError("--data: dataset not opened");
    absl::StatusOr<data::SaliencyMap> pred = data::ReadSaliencyMap(pair.pred, o.max_file_bytes);
    if (!pred.ok()) return pred.status();
    const data::FrameRef ref{pair.video, pair.frame};
    const std::vector<data::GazePoint>* gaze = dataset->gaze(ref.video, ref.frame);
    if (gaze == nullptr) {
      return absl::NotFoundError(
          absl::StrCat(ref.ToString(), ": not a frame of ", dataset->root()));
    }
    data::SampleOptions so;
    so.gt = o.gt_source == "cache" ? data::GtSource::kCache : data::GtSource::kGenerate;
    so.gt_options.sigma = o.gaze_sigma;
    absl::StatusOr<std::vector<float>> g =
        data::FrameGroundTruth(*dataset, ref, pred->height, pred->width, so);
    if (!g.ok()) return g.status();
    const std::vector<double> gt(g->begin(), g->end());
    const std::vector<uint8_t> fix8 = data::FixationMap(*gaze, pred->height, pred->width);
    const std::vector<double> fix(fix8.begin(), fix8.end());
    // sAUC negatives: the gaze of other videos at this frame id, or of the other frames.
    std::vector<data::GazePoint> others;
    if (o.sauc == "other_videos") {
      for (const std::string& v : dataset->videos()) {
        if (v == ref.video) continue;
        if (const auto* g2 = dataset->gaze(v, ref.frame)) others.insert(others.end(), g2->begin(), g2->end());
      }
    } else if (o.sauc == "other_frames") {
      for (int f : dataset->frames(ref.video)) {
        if (f == ref.frame) continue;
        if (const auto* g2 = dataset->gaze(ref.video, f)) others.insert(others.end(), g2->begin(), g2->end());
      }
    }
    std::vector<double> other;
    if (o.sauc != "none") {
      const std::vector<uint8_t> o8 = data::FixationMap(others, pred->height, pred->width);
      other.assign(o8.begin(), o8.end());
    }
    absl::StatusOr<std::vector<double>> base = BaselineMap(o, pred->height, pred->width);
    if (!base.ok()) return base.status();
    data::MetricOptions mo = o.metric;
    mo.other_fixations = other.empty() ? nullptr : other.data();
    mo.baseline = base->empty() ? nullptr : base->data();
    return data::ComputeMetrics(pred->values.data(), gt.data(), fix.data(), pred->height,
                                pred->width, mo);
  }
  absl::StatusOr<data::SaliencyMap> gt = data::ReadSaliencyMap(pair.gt, o.max_file_bytes, pair.map_index);
  if (!gt.ok()) return gt.status();
  absl::StatusOr<data::SaliencyMap> pred = data::ReadSaliencyMap(pair.pred, o.max_file_bytes, pair.map_index);
  if (!pred.ok()) return pred.status();
  if (pred->height != gt->height || pred->width != gt->width) {
    if (!o.resize) {
      return absl::InvalidArgumentError(absl::StrCat(
          pair.pred, ": prediction is ", pred->height, "x", pred->width, " but ", pair.gt, " is ",
          gt->height, "x", gt->width, "; pass --resize to resize predictions to the ground truth"));
    }
    const std::vector<float> src(pred->values.begin(), pred->values.end());
    const std::vector<float> dst =
        data::ResizeFloat(src.data(), pred->height, pred->width, 1, gt->height, gt->width);
    pred->values.assign(dst.begin(), dst.end());
    pred->height = gt->height;
    pred->width = gt->width;
  }
  data::SaliencyMap fix;
  if (!pair.fix.empty() && data::IsFixationListFile(pair.fix)) {
    absl::StatusOr<data::Salient360FixationList> list = data::ReadSalient360Fixations(pair.fix, o.max_file_bytes);
    if (!list.ok()) return list.status();
    absl::StatusOr<std::vector<data::GazePoint>> points =
        data::FixationsOfFrame(*list, pair.video_map ? pair.map_index : -1, o.fix_fps, pair.fix);
    if (!points.ok()) return points.status();
    const std::vector<uint8_t> f8 = data::FixationMap(*points, gt->height, gt->width);
    fix = data::SaliencyMap{gt->height, gt->width, std::vector<double>(f8.begin(), f8.end())};
  } else if (!pair.fix.empty()) {
    absl::StatusOr<data::SaliencyMap> f = data::ReadSaliencyMap(pair.fix, o.max_file_bytes, pair.map_index);
    if (!f.ok()) return f.status();
    if (f->height != gt->height || f->width != gt->width) {
      return absl::InvalidArgumentError(absl::StrCat(
          pair.fix, ": fixation map is ", f->height, "x", f->width, " but ", pair.gt, " is ",
          gt->height, "x", gt->width, " (fixation maps are never resized)"));
    }
    fix = std::move(*f);
  }
  data::MetricOptions mo = o.metric;
  data::SaliencyMap other;
  if (o.sauc != "none") {
    absl::StatusOr<data::SaliencyMap> f = data::ReadSaliencyMap(o.sauc, o.max_file_bytes);
    if (!f.ok()) return f.status();
    if (f->height != gt->height || f->width != gt->width) {
      return absl::InvalidArgumentError(absl::StrCat("--sauc=", o.sauc, ": ", f->height, "x", f->width,
                                                     " but the ground truth is ", gt->height, "x", gt->width));
    }
    other = std::move(*f);
    mo.other_fixations = other.values.data();
  }
  absl::StatusOr<std::vector<double>> base = BaselineMap(o, gt->height, gt->width);
  if (!base.ok()) return base.status();
  mo.baseline = base->empty() ? nullptr : base->data();
  return data::ComputeMetrics(pred->values.data(), gt->values.data(),
                              pair.fix.empty() ? nullptr : fix.values.data(), gt->height,
                              gt->width, mo);
}

Json EvalConventions(const EvalOptions& o) {
  Json c = Json::object();
  for (const auto& [k, v] : data::MetricConventions(o.metric)) c[k] = v;
  c["info_gain_baseline"] = o.baseline;
  c["sauc_negatives"] = o.sauc;
  return c;
}

absl::StatusOr<Json> RunEval(const EvalOptions& o,
                             const std::function<void(const std::string&)>& warn,
                             const std::function<void(int64_t, int64_t)>& progress) {
  std::unique_ptr<data::Dataset> dataset;
  if (!o.data.empty()) {
    absl::StatusOr<data::Dataset> d = data::Dataset::Open(o.data);
    if (!d.ok()) return d.status();
    dataset = std::make_unique<data::Dataset>(*std::move(d));
  }
  absl::StatusOr<std::vector<EvalPair>> pairs = MatchEvalPairs(o, warn, dataset.get());
  if (!pairs.ok()) return pairs.status();
  const bool single = o.data.empty() && KindOf(o.gt) == Kind::kFile && pairs->size() == 1;
  Json list = Json::array();
  std::vector<double> sum(data::kNumMetrics, 0.0);
  std::vector<int64_t> defined(data::kNumMetrics, 0), undefined(data::kNumMetrics, 0);
  for (size_t i = 0; i < pairs->size(); ++i) {
    const EvalPair& pair = (*pairs)[i];
    absl::StatusOr<data::MetricSet> m = ScoreEvalPair(pair, o, dataset.get());
    if (!m.ok()) return m.status();
    if (m->warnings != 0 && warn) {
      // Each warning under the file it concerns.
      const std::pair<uint32_t, std::string> owners[] = {
          {data::kWarnConstantPred | data::kWarnNegativeValues, pair.pred},
          {data::kWarnConstantGt, dataset != nullptr ? pair.name + " (ground truth)" : pair.gt},
          {data::kWarnNoFixations | data::kWarnAllFixated | data::kWarnNonFiniteFixations,
           dataset != nullptr ? pair.name + " (fixations)" : pair.fix},
          {data::kWarnConstantBaseline, o.baseline},
          {data::kWarnNoOtherFixations, "sAUC negatives " + o.sauc},
          {data::kWarnNonFinite, pair.name}};
      uint32_t left = m->warnings;
      for (const auto& [bits, who] : owners) {
        if ((left & bits) == 0) continue;
        warn(absl::StrCat(who.empty() ? pair.name : who, ": ", data::MetricWarningText(left & bits),
                          " (see docs/eval.md for the values used)"));
        left &= ~bits;
      }
    }
    if (single) {
      Json one = MetricsToJson(*m);
      one["conventions"] = EvalConventions(o);
      return one;
    }
    Json row;
    row["name"] = pair.name;
    row["pred"] = pair.pred;
    if (dataset != nullptr) {
      row["video"] = pair.video;
      row["frame"] = pair.frame;
    } else {
      row["gt"] = pair.gt;
      if (!pair.fix.empty()) row["fix"] = pair.fix;
    }
    const Json metrics = MetricsToJson(*m);
    for (const auto& [key, value] : metrics.items()) row[key] = value;
    list.push_back(std::move(row));
    for (int k = 0; k < data::kNumMetrics; ++k) {
      if (!metrics.contains(data::kMetricKeys[k])) continue;  // not computed for this pair
      const double v = m->Get(data::kMetricKeys[k]);
      if (std::isfinite(v)) {
        sum[k] += v;
        ++defined[k];
      } else {
        ++undefined[k];
      }
    }
    if (progress) progress(static_cast<int64_t>(i + 1), static_cast<int64_t>(pairs->size()));
  }
  Json mean = Json::object(), undef = Json::object();
  for (int k = 0; k < data::kNumMetrics; ++k) {
    if (defined[k] + undefined[k] == 0) continue;
    mean[data::kMetricKeys[k]] = defined[k] > 0 ? Json(sum[k] / defined[k]) : Json(nullptr);
    if (undefined[k] > 0) undef[data::kMetricKeys[k]] = undefined[k];
  }
  Json out;
  out["pairs"] = std::move(list);
  out["mean"] = std::move(mean);
  out["count"] = static_cast<int64_t>(pairs->size());
  out["undefined"] = std::move(undef);
  out["conventions"] = EvalConventions(o);
  return out;
}

}  // namespace sal360::tools

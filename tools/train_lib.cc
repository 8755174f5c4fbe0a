#include "tools/train_lib.h"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nn/checkpoint.h"
#include "nn/init.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "tools/model_lib.h"
#include "tools/train_report.h"
#include "util/file.h"
#include "util/progress.h"
#include "util/safetensors.h"
#include "util/version.h"

namespace sal360::tools {
namespace {

using nlohmann::json;

constexpr char kLast[] = "last.safetensors";
constexpr char kBest[] = "best.safetensors";

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Where the run is: everything a resumed run needs besides the tensors.
struct Progress {
  int64_t epoch = 0;     // current epoch (0-based)
  int64_t position = 0;  // batches of `epoch` already consumed
  int64_t step = 0;      // total optimiser steps
  double best_val_cc = -std::numeric_limits<double>::infinity();
  int64_t best_epoch = -1;
  double elapsed_s = 0;  // training wall time over all invocations

  json ToJson() const {
    json j = {{"epoch", epoch}, {"position", position}, {"step", step},
              {"best_epoch", best_epoch}, {"elapsed_s", elapsed_s}};
    j["best_val_cc"] = std::isfinite(best_val_cc) ? json(best_val_cc) : json(nullptr);
    return j;
  }
  static absl::StatusOr<Progress> FromJson(const std::string& text, const std::string& file) {
    const json j = json::parse(text, nullptr, false);
    Progress p;
    try {
      if (j.is_discarded() || !j.is_object()) throw std::runtime_error("not a JSON object");
      p.epoch = j.at("epoch").get<int64_t>();
      p.position = j.at("position").get<int64_t>();
      p.step = j.at("step").get<int64_t>();
      p.best_epoch = j.at("best_epoch").get<int64_t>();
      p.elapsed_s = j.at("elapsed_s").get<double>();
      if (!j.at("best_val_cc").is_null()) p.best_val_cc = j.at("best_val_cc").get<double>();
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": unreadable training progress (", kMetaTrainProgress, "): ", e.what()));
    }
    if (p.epoch < 0 || p.position < 0 || p.step < 0) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": negative training progress"));
    }
    return p;
  }
};

// Append-only log files with a header line; cut back to a step on resume.
class Logs {
 public:
  absl::Status Open(const std::string& dir, int64_t keep_up_to_step, bool resume) {
    steps_path_ = dir + "/steps.csv";
    epochs_path_ = dir + "/epochs.csv";
    jsonl_path_ = dir + "/log.jsonl";
    if (resume) {
      // Keep header lines and rows of steps <= keep_up_to_step (the checkpoint's).
      auto csv_keep = [&](const std::string& line) {
        if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) return true;  // header
        std::stringstream ss(line);
        std::string epoch, step;
        std::getline(ss, epoch, ',');
        std::getline(ss, step, ',');
        return std::atoll(step.c_str()) <= keep_up_to_step;
      };
      auto jsonl_keep = [&](const std::string& line) {
        const json j = json::parse(line, nullptr, false);
        return !j.is_discarded() && j.is_object() && j.value("step", int64_t{0}) <= keep_up_to_step;
      };
      for (const auto& [path, keep] :
           std::vector<std::pair<std::string, std::function<bool(const std::string&)>>>{
               {steps_path_, csv_keep}, {epochs_path_, csv_keep}, {jsonl_path_, jsonl_keep}}) {
        if (absl::Status s = Filter(path, keep); !s.ok()) return s;
      }
    }
    steps_ = std::fopen(steps_path_.c_str(), "a");
    epochs_ = std::fopen(epochs_path_.c_str(), "a");
    jsonl_ = std::fopen(jsonl_path_.c_str(), "a");
    if (steps_ == nullptr || epochs_ == nullptr || jsonl_ == nullptr) {
      return absl::PermissionDeniedError(absl::StrCat(dir, ": cannot open the log files for writing"));
    }
    if (std::ftell(steps_) == 0) std::fprintf(steps_, "epoch,step,loss,samples_per_s,elapsed_s\n");
    return absl::OkStatus();
  }
  ~Logs() {
    for (FILE* f : {steps_, epochs_, jsonl_}) {
      if (f != nullptr) std::fclose(f);
    }
  }

  void Step(int64_t epoch, int64_t step, double loss, double samples_per_s, double elapsed) {
    std::fprintf(steps_, "%lld,%lld,%.9g,%.4g,%.3f\n", static_cast<long long>(epoch),
                 static_cast<long long>(step), loss, samples_per_s, elapsed);
    json j = {{"kind", "step"}, {"epoch", epoch}, {"step", step}, {"loss", loss},
              {"samples_per_s", samples_per_s}, {"elapsed_s", elapsed}};
    std::fprintf(jsonl_, "%s\n", j.dump().c_str());
    std::fflush(steps_);
    std::fflush(jsonl_);
  }

  // One row per epoch; columns: epoch, step, train_loss, then val_<metric> and
  // <baseline>_<metric> in sorted order (the header is written with the first row).
  void Epoch(int64_t epoch, int64_t step, double train_loss, const std::map<std::string, double>& val,
             const std::map<std::string, std::map<std::string, double>>& baselines) {
    std::vector<std::string> names = {"epoch", "step", "train_loss"};
    std::vector<std::string> values = {absl::StrCat(epoch), absl::StrCat(step), absl::StrFormat("%.9g", train_loss)};
    json j = {{"kind", "epoch"}, {"epoch", epoch}, {"step", step}, {"train_loss", train_loss}};
    for (const auto& [k, v] : val) {
      names.push_back("val_" + k);
      values.push_back(absl::StrFormat("%.6g", v));
      j["val"][k] = v;
    }
    for (const auto& [b, metrics] : baselines) {
      for (const auto& [k, v] : metrics) {
        names.push_back(b + "_" + k);
        values.push_back(absl::StrFormat("%.6g", v));
        j["baselines"][b][k] = v;
      }
    }
    if (std::ftell(epochs_) == 0) std::fprintf(epochs_, "%s\n", absl::StrJoin(names, ",").c_str());
    std::fprintf(epochs_, "%s\n", absl::StrJoin(values, ",").c_str());
    std::fprintf(jsonl_, "%s\n", j.dump().c_str());
    std::fflush(epochs_);
    std::fflush(jsonl_);
  }

 private:
  static absl::Status Filter(const std::string& path, const std::function<bool(const std::string&)>& keep) {
    if (!Exists(path)) return absl::OkStatus();
    absl::StatusOr<std::string> text = util::ReadFile(path, int64_t{4} << 30);
    if (!text.ok()) return text.status();
    std::string out;
    std::stringstream ss(*text);
    std::string line;
    while (std::getline(ss, line)) {
      if (keep(line)) out += line + "\n";
    }
    return util::WriteFileAtomically(path, out);
  }

  std::string steps_path_, epochs_path_, jsonl_path_;
  FILE* steps_ = nullptr;
  FILE* epochs_ = nullptr;
  FILE* jsonl_ = nullptr;
};

// RUN/report.html from the logs; a failure is reported but does not stop training.
void UpdateReport(const std::string& dir) {
  if (absl::Status s = WriteTrainReport(dir); !s.ok()) {
    std::fprintf(stderr, "train: warning: report.html not written: %s\n", std::string(s.message()).c_str());
  }
}

void OnStopSignal(int) {
  StopRequested().store(true);
  // A second signal kills the process the default way.
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
}

// Rotates every image of a host batch by `shift` columns (longitude), in place.
void RollColumns(std::vector<float>& v, int n, int h, int w, int c, int shift, std::vector<float>& row) {
  if (shift == 0) return;
  row.resize(size_t(w) * c);
  for (int64_t r = 0; r < int64_t{n} * h; ++r) {
    float* base = v.data() + r * w * c;
    for (int j = 0; j < w; ++j) {
      std::copy(base + size_t(j) * c, base + size_t(j + 1) * c, row.begin() + size_t((j + shift) % w) * c);
    }
    std::copy(row.begin(), row.end(), base);
  }
}

std::set<std::string> ResumableFields() {
  return {"epochs", "max_steps", "device", "checkpoint_every", "validate", "data", "out", "loader_threads"};
}

}  // namespace

std::atomic<bool>& StopRequested() {
  static std::atomic<bool> flag{false};
  return flag;
}

void InstallStopHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

json TrainConfig::ToJson() const {
  return {{"data", data},
          {"height", height},
          {"width", width},
          {"batch", batch},
          {"epochs", epochs},
          {"max_steps", max_steps},
          {"optimizer", optimizer},
          {"lr", lr},
          {"momentum", momentum},
          {"weight_decay", weight_decay},
          {"loss", loss},
          {"device", device},
          {"table_mode", table_mode},
          {"convention", convention},
          {"seed", seed},
          {"out", out},
          {"checkpoint_every", checkpoint_every},
          {"validate", validate},
          {"roll_augment", roll_augment},
          {"split", split},
          {"split_file", split_file},
          {"val_videos", val_videos},
          {"gt", gt},
          {"prev_interval", prev_interval},
          {"first_frames", first_frames},
          {"loader_threads", loader_threads},
          {"version", kVersion}};
}

absl::StatusOr<TrainConfig> TrainConfig::FromJson(const json& j) {
  TrainConfig c;
  if (!j.is_object()) return absl::InvalidArgumentError("training config is not a JSON object");
  try {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& k = it.key();
      const json& v = it.value();
      if (k == "data") c.data = v.get<std::string>();
      else if (k == "height") c.height = v.get<int>();
      else if (k == "width") c.width = v.get<int>();
      else if (k == "batch") c.batch = v.get<int>();
      else if (k == "epochs") c.epochs = v.get<int>();
      else if (k == "max_steps") c.max_steps = v.get<int64_t>();
      else if (k == "optimizer") c.optimizer = v.get<std::string>();
      else if (k == "lr") c.lr = v.get<float>();
      else if (k == "momentum") c.momentum = v.get<float>();
      else if (k == "weight_decay") c.weight_decay = v.get<float>();
      else if (k == "loss") c.loss = v.get<std::string>();
      else if (k == "device") c.device = v.get<std::string>();
      else if (k == "table_mode") c.table_mode = v.get<std::string>();
      else if (k == "convention") c.convention = v.get<std::string>();
      else if (k == "seed") c.seed = v.get<uint64_t>();
      else if (k == "out") c.out = v.get<std::string>();
      else if (k == "checkpoint_every") c.checkpoint_every = v.get<int64_t>();
      else if (k == "validate") c.validate = v.get<bool>();
      else if (k == "roll_augment") c.roll_augment = v.get<bool>();
      else if (k == "split") c.split = v.get<std::string>();
      else if (k == "split_file") c.split_file = v.get<std::string>();
      else if (k == "val_videos") c.val_videos = v.get<int>();
      else if (k == "gt") c.gt = v.get<std::string>();
      else if (k == "prev_interval") c.prev_interval = v.get<int>();
      else if (k == "first_frames") c.first_frames = v.get<std::string>();
      else if (k == "loader_threads") c.loader_threads = v.get<int>();
      else if (k == "version") continue;
      else return absl::InvalidArgumentError(absl::StrCat("training config: unknown key '", k, "'"));
    }
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("training config: ", e.what()));
  }
  return c;
}

absl::Status TrainConfig::Validate() const {
  const std::string shape = nn::SphericalUNet::CheckInputShape(nn::Shape{std::max(batch, 1), height, width, 4});
  if (!shape.empty()) return absl::InvalidArgumentError(absl::StrCat("--height/--width: ", shape));
  if (batch < 1 || batch > 4096) return absl::InvalidArgumentError("--batch must be in 1..4096");
  if (height / 8 * (width / 8) * batch < 2) {
    return absl::InvalidArgumentError("--batch 1 needs a larger image: BatchNorm needs 2 values per channel");
  }
  if (epochs < 1) return absl::InvalidArgumentError("--epochs must be at least 1");
  if (max_steps < 0) return absl::InvalidArgumentError("--max_steps must be >= 0 (0 = no limit)");
  if (optimizer != "adam" && optimizer != "adamw" && optimizer != "sgd") {
    return absl::InvalidArgumentError(absl::StrCat("--optimizer must be adam, adamw or sgd, not '", optimizer, "'"));
  }
  if (loss != "smse" && loss != "skld") {
    return absl::InvalidArgumentError(absl::StrCat("--loss must be smse or skld, not '", loss, "'"));
  }
  if (checkpoint_every < 0) return absl::InvalidArgumentError("--checkpoint_every must be >= 0");
  if (!std::isfinite(lr) || !std::isfinite(momentum) || !std::isfinite(weight_decay)) {
    return absl::InvalidArgumentError("--lr, --momentum and --weight_decay must be finite");
  }
  nn::OptimConfig oc;
  oc.kind = optimizer;
  oc.lr = lr;
  oc.weight_decay = weight_decay;
  oc.momentum = optimizer == "sgd" ? momentum : 0.0f;
  if (absl::Status s = nn::ValidateOptimConfig(oc); !s.ok()) return s;
  if (absl::StatusOr<sphere::TableMode> m = nn::ParseTableMode(table_mode); !m.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--table_mode: ", m.status().message()));
  }
  if (absl::StatusOr<sphere::Convention> c = nn::ParseConvention(convention); !c.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--convention: ", c.status().message()));
  }
  if (device != "auto" && device != "cpu" && device != "cuda") {
    return absl::InvalidArgumentError(absl::StrCat("--device must be auto, cpu or cuda, not '", device, "'"));
  }
  if (out.empty()) return absl::InvalidArgumentError("--out must name a run directory");
  if (val_videos < 0) return absl::InvalidArgumentError("--val_videos must be >= 0");
  if (prev_interval < 1) return absl::InvalidArgumentError("--prev_interval must be at least 1");
  if (loader_threads < 1 || loader_threads > 64) return absl::InvalidArgumentError("--loader_threads must be in 1..64");
  return absl::OkStatus();
}

absl::StatusOr<TrainConfig> ResumeConfig(const std::string& run_dir, const TrainConfig& requested,
                                         const std::vector<std::string>& changed) {
  const std::string path = run_dir + "/" + kLast;
  if (!Exists(path)) {
    return absl::NotFoundError(absl::StrCat("--resume: ", path, " does not exist (nothing to resume in --out=",
                                            run_dir, ")"));
  }
  absl::StatusOr<util::Safetensors> st = util::ReadSafetensors(path);
  if (!st.ok()) return st.status();
  absl::StatusOr<std::string> text = st->GetMetadata(path, kMetaTrainConfig);
  if (!text.ok()) return text.status();
  const json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": training config is not JSON"));
  absl::StatusOr<TrainConfig> saved = TrainConfig::FromJson(j);
  if (!saved.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", saved.status().message()));
  const json want = requested.ToJson();
  json merged = saved->ToJson();
  const std::set<std::string> allowed = ResumableFields();
  for (const std::string& flag : changed) {
    if (!want.contains(flag)) continue;  // not a training-config flag
    if (allowed.count(flag) > 0) {
      merged[flag] = want[flag];
    } else if (want[flag] != merged[flag]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, "=", want[flag].dump(), " differs from the run's ", merged[flag].dump(),
          "; a resumed run keeps its configuration (only ", absl::StrJoin(allowed, ", "),
          " may change)"));
    }
  }
  merged["out"] = requested.out;
  return TrainConfig::FromJson(merged);
}

absl::StatusOr<TrainResult> Train(const TrainConfig& config, bool resume, TrainingData& data,
                                  const MapScorer& scorer, const Baselines& baselines,
                                  bool show_progress) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  const double t_start = Now();
  absl::StatusOr<nn::Device> device = DeviceFromFlag(config.device);
  if (!device.ok()) return device.status();
  const std::string& dir = config.out;
  if (absl::Status s = util::MakeDirs(dir); !s.ok()) return s;
  const std::string last_path = dir + "/" + kLast, best_path = dir + "/" + kBest;
  if (!resume && Exists(last_path)) {
    return absl::AlreadyExistsError(absl::StrCat(
        dir, " already holds a run (", kLast, "); continue it with --resume or choose another --out"));
  }

  nn::ModelConfig model_config;
  model_config.table_mode = *nn::ParseTableMode(config.table_mode);
  model_config.convention = *nn::ParseConvention(config.convention);
  nn::SphericalUNet model(*device, model_config);
  nn::OptimConfig oc;
  oc.kind = config.optimizer;
  oc.lr = config.lr;
  oc.weight_decay = config.weight_decay;
  oc.momentum = config.optimizer == "sgd" ? config.momentum : 0.0f;
  nn::Optimizer opt(oc, model.params());
  nn::Rng rng(config.seed);
  Progress progress;

  if (resume) {
    absl::StatusOr<util::Safetensors> st = util::ReadSafetensors(last_path);
    if (!st.ok()) return st.status();
    if (absl::Status s = nn::ImportModel(*st, last_path, model); !s.ok()) return s;
    if (absl::Status s = nn::ImportOptimizer(*st, last_path, model, opt); !s.ok()) return s;
    absl::StatusOr<std::string> p = st->GetMetadata(last_path, kMetaTrainProgress);
    if (!p.ok()) return p.status();
    absl::StatusOr<Progress> loaded = Progress::FromJson(*p, last_path);
    if (!loaded.ok()) return loaded.status();
    progress = *loaded;
    absl::StatusOr<std::string> r = st->GetMetadata(last_path, kMetaTrainRng);
    if (!r.ok()) return r.status();
    if (!rng.Deserialize(*r)) return absl::InvalidArgumentError(absl::StrCat(last_path, ": unreadable RNG state"));
    if (opt.step_count() != progress.step) {
      return absl::InvalidArgumentError(absl::StrCat(last_path, ": optimiser step ", opt.step_count(),
                                                     " disagrees with the progress step ", progress.step));
    }
  } else {
    model.Initialize(rng);
    if (absl::Status s = util::WriteFileAtomically(dir + "/config.json", config.ToJson().dump(2) + "\n"); !s.ok()) {
      return s;
    }
  }
  Logs logs;
  if (absl::Status s = logs.Open(dir, progress.step, resume); !s.ok()) return s;

  const int h = config.height, w = config.width, cap = config.batch;
  const int64_t per_epoch = data.batches_per_epoch();
  if (per_epoch < 1) return absl::FailedPreconditionError("the training set has no batches");
  const nn::Tensor row_weights = nn::LossRowWeights(h, w, *device);
  nn::Tensor x_dev(nn::Shape{cap, h, w, 4}, *device), t_dev(nn::Shape{cap, h, w, 1}, *device);
  const bool kld = config.loss == "skld";

  auto save = [&](const std::string& path) {
    Progress p = progress;
    p.elapsed_s += Now() - t_start;  // this invocation's time so far
    return nn::SaveCheckpoint(path, model, &opt,
                              {{kMetaTrainConfig, config.ToJson().dump()},
                               {kMetaTrainProgress, p.ToJson().dump()},
                               {kMetaTrainRng, rng.Serialize()}});
  };

  TrainResult result;
  const int64_t total_steps =
      config.max_steps > 0 ? std::min<int64_t>(config.max_steps, config.epochs * per_epoch) : config.epochs * per_epoch;
  std::unique_ptr<util::ProgressLine> line;
  if (show_progress) line = std::make_unique<util::ProgressLine>("train", total_steps, "step");
  HostBatch batch;
  std::vector<float> roll_row;
  double loss_sum = 0;
  int64_t loss_count = 0;
  double window_start = Now();
  int64_t window_samples = 0;
  double samples_per_s = 0;

  auto validate = [&]() -> absl::Status {
    std::map<std::string, double> sums;
    std::map<std::string, std::map<std::string, double>> base_sums;
    int64_t frames = 0;
    absl::Status s = data.ForEachValidationBatch([&](const HostBatch& vb) -> absl::Status {
      if (vb.n < 1 || vb.n > cap) return absl::InternalError("validation batch of unexpected size");
      nn::Tensor x = nn::Tensor::View(x_dev.data(), nn::Shape{vb.n, h, w, 4}, *device);
      x.CopyFrom(nn::Tensor::View(const_cast<float*>(vb.input.data()), x.shape(), nn::Device::kCpu));
      const std::vector<float> pred = model.Forward(x, false).ToVector();
      std::vector<float> prev(size_t(h) * w);
      for (int i = 0; i < vb.n; ++i) {
        const float* gt = vb.target.data() + size_t(i) * h * w;
        for (const auto& [k, v] : scorer(pred.data() + size_t(i) * h * w, gt, h, w)) sums[k] += v;
        for (size_t p = 0; p < prev.size(); ++p) prev[p] = vb.input[(size_t(i) * h * w + p) * 4 + 3];
        for (const auto& [k, v] : scorer(prev.data(), gt, h, w)) base_sums["prev_gt"][k] += v;
        for (const auto& [name, map] : baselines) {
          for (const auto& [k, v] : scorer(map.data(), gt, h, w)) base_sums[name][k] += v;
        }
        ++frames;
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    result.last_val.clear();
    result.baselines_val.clear();
    if (frames == 0) return absl::OkStatus();
    for (const auto& [k, v] : sums) result.last_val[k] = v / frames;
    for (const auto& [b, m] : base_sums) {
      for (const auto& [k, v] : m) result.baselines_val[b][k] = v / frames;
    }
    return absl::OkStatus();
  };

  bool stop_now = false;
  while (progress.epoch < config.epochs && !stop_now) {
    if (config.max_steps > 0 && progress.step >= config.max_steps) break;
    if (absl::Status s = data.StartEpoch(progress.epoch, progress.position); !s.ok()) return s;
    bool epoch_done = progress.position >= per_epoch;
    while (!epoch_done) {
      if (config.max_steps > 0 && progress.step >= config.max_steps) {
        stop_now = true;
        break;
      }
      if (StopRequested().load()) {
        if (absl::Status s = save(last_path); !s.ok()) return s;
        UpdateReport(dir);
        if (line) line->Finish("stopped");
        std::fprintf(stderr, "train: stopped at step %lld; %s holds the state; continue with --resume\n",
                     static_cast<long long>(progress.step), last_path.c_str());
        result.stopped_by_signal = true;
        result.steps = progress.step;
        result.seconds = Now() - t_start;
        return result;
      }
      if (absl::Status s = data.NextBatch(batch); !s.ok()) return s;
      if (batch.n == 0) break;
      if (batch.n > cap || batch.input.size() != size_t(batch.n) * h * w * 4 ||
          batch.target.size() != size_t(batch.n) * h * w) {
        return absl::InternalError("training batch of unexpected size");
      }
      if (config.roll_augment) {
        const int shift = static_cast<int>(rng.Uniform() * w) % w;
        RollColumns(batch.input, batch.n, h, w, 4, shift, roll_row);
        RollColumns(batch.target, batch.n, h, w, 1, shift, roll_row);
      }
      nn::Tensor x = nn::Tensor::View(x_dev.data(), nn::Shape{batch.n, h, w, 4}, *device);
      nn::Tensor t = nn::Tensor::View(t_dev.data(), nn::Shape{batch.n, h, w, 1}, *device);
      x.CopyFrom(nn::Tensor::View(batch.input.data(), x.shape(), nn::Device::kCpu));
      t.CopyFrom(nn::Tensor::View(batch.target.data(), t.shape(), nn::Device::kCpu));
      model.params().ZeroGrad();
      const nn::Tensor& out = model.Forward(x, true);
      const float loss = kld ? nn::SphereKldLoss(out, t, row_weights, &model.output_grad())
                             : nn::SphereMseLoss(out, t, row_weights, &model.output_grad());
      if (!std::isfinite(loss)) {
        if (line) line->Finish("diverged");
        return absl::InternalError(absl::StrCat(
            "training diverged: the loss is ", loss, " at step ", progress.step + 1, " (epoch ",
            progress.epoch + 1, "); stopping. ", Exists(last_path) ? last_path : "No checkpoint",
            Exists(last_path) ? " keeps the last good state" : " was written yet",
            " (try a smaller --lr)"));
      }
      model.Backward(model.output_grad());
      opt.Step();
      ++progress.step;
      ++progress.position;
      loss_sum += loss;
      ++loss_count;
      result.last_loss = loss;
      window_samples += batch.n;
      const double now = Now();
      // Training throughput over windows of >= 5 s (one step can take a second);
      // the window restarts after validation and checkpoints, which it excludes.
      if (now - window_start > 5.0 || samples_per_s == 0) {
        samples_per_s = window_samples / std::max(now - window_start, 1e-9);
        window_start = now;
        window_samples = 0;
      }
      logs.Step(progress.epoch + 1, progress.step, loss, samples_per_s, progress.elapsed_s + now - t_start);
      if (line) {
        line->Update(std::min(progress.step, total_steps),
                     absl::StrFormat("epoch %d/%d loss %.4g %.1f samples/s", progress.epoch + 1,
                                     config.epochs, loss, samples_per_s));
      }
      if (config.checkpoint_every > 0 && progress.step % config.checkpoint_every == 0) {
        if (absl::Status s = save(last_path); !s.ok()) return s;
      }
      epoch_done = progress.position >= per_epoch;
    }
    if (stop_now) break;
    // The epoch is complete: validate, keep the best, checkpoint.
    const double train_loss = loss_count > 0 ? loss_sum / loss_count : 0.0;
    loss_sum = 0;
    loss_count = 0;
    ++progress.epoch;
    progress.position = 0;
    ++result.epochs_done;
    if (config.validate) {
      if (absl::Status s = validate(); !s.ok()) return s;
    }
    logs.Epoch(progress.epoch, progress.step, train_loss, result.last_val, result.baselines_val);
    bool improved = false;
    if (const auto it = result.last_val.find("cc"); it != result.last_val.end() && it->second > progress.best_val_cc) {
      progress.best_val_cc = it->second;
      progress.best_epoch = progress.epoch;
      result.best_val = result.last_val;
      improved = true;
    }
    if (line) {
      std::string summary = absl::StrFormat("epoch %d/%d done, train loss %.4g", progress.epoch, config.epochs, train_loss);
      for (const auto& [k, v] : result.last_val) absl::StrAppendFormat(&summary, ", val %s %.4f", k, v);
      for (const auto& [b, m] : result.baselines_val) {
        if (const auto it = m.find("cc"); it != m.end()) absl::StrAppendFormat(&summary, " (%s cc %.4f)", b, it->second);
      }
      std::fprintf(stderr, "\n%s%s\n", summary.c_str(), improved ? " [best]" : "");
    }
    if (improved) {
      if (absl::Status s = save(best_path); !s.ok()) return s;
    }
    if (absl::Status s = save(last_path); !s.ok()) return s;
    UpdateReport(dir);
    window_start = Now();
    window_samples = 0;
  }
  // Stopped by --max_steps mid-epoch, or done: the last state is always on disk.
  if (absl::Status s = save(last_path); !s.ok()) return s;
  if (!Exists(best_path)) {
    // No completed validation yet (e.g. --max_steps inside the first epoch): the last
    // state is the best known, so `test` has a checkpoint to use at once.
    if (absl::Status s = save(best_path); !s.ok()) return s;
  }
  UpdateReport(dir);
  if (line) line->Finish(absl::StrFormat("loss %.4g", result.last_loss));
  result.steps = progress.step;
  result.seconds = Now() - t_start;
  return result;
}

}  // namespace sal360::tools

#include "train/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "nn/checkpoint.h"
#include "train/report.h"
#include "util/crash_point.h"
#include "util/file.h"

namespace sal360::train {

using nlohmann::json;

std::string TrainProgress::ToJson() const {
  json j = {{"epoch", epoch}, {"position", position}, {"step", step}, {"best_epoch", best_epoch},
            {"elapsed_s", elapsed_s}, {"ranks", ranks}, {"epoch_loss_sum", epoch_loss_sum},
            {"epoch_loss_steps", epoch_loss_steps}, {"last_loss", last_loss}, {"best_val", best_val}};
  j["best_val_cc"] = std::isfinite(best_val_cc) ? json(best_val_cc) : json(nullptr);
  return j.dump();
}

absl::StatusOr<TrainProgress> TrainProgress::FromJson(const std::string& text, const std::string& file) {
  const json j = json::parse(text, nullptr, false);
  TrainProgress p;
  try {
    if (j.is_discarded() || !j.is_object()) throw std::runtime_error("not a JSON object");
    p.epoch = j.at("epoch").get<int64_t>();
    p.position = j.at("position").get<int64_t>();
    p.step = j.at("step").get<int64_t>();
    p.best_epoch = j.at("best_epoch").get<int64_t>();
    p.elapsed_s = j.at("elapsed_s").get<double>();
    if (!j.at("best_val_cc").is_null()) p.best_val_cc = j.at("best_val_cc").get<double>();
    if (j.contains("ranks")) p.ranks = j.at("ranks").get<int>();  // absent before issue #16: 1
    // Absent before issue #18: an epoch's loss then counts the post-resume steps only.
    if (j.contains("epoch_loss_sum")) p.epoch_loss_sum = j.at("epoch_loss_sum").get<double>();
    if (j.contains("epoch_loss_steps")) p.epoch_loss_steps = j.at("epoch_loss_steps").get<int64_t>();
    if (j.contains("last_loss")) p.last_loss = j.at("last_loss").get<double>();
    if (j.contains("best_val")) p.best_val = j.at("best_val").get<std::map<std::string, double>>();
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": unreadable training progress (", nn::kMetaTrainProgress, "): ", e.what()));
  }
  if (p.epoch < 0 || p.position < 0 || p.step < 0 || p.ranks < 1 || p.epoch_loss_steps < 0 ||
      p.epoch_loss_steps > p.position || !std::isfinite(p.epoch_loss_sum)) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": negative training progress"));
  }
  return p;
}

bool RunDir::Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

absl::Status RunDir::Prepare(bool resume) const {
  if (absl::Status s = util::MakeDirs(dir_); !s.ok()) return s;
  if (!resume && has_last()) {
    return absl::AlreadyExistsError(absl::StrCat(dir_, " already holds a run (", kLastCheckpoint,
                                                 "); continue it with --resume or choose another --out"));
  }
  return absl::OkStatus();
}

absl::StatusOr<RunLock> RunLock::Acquire(const std::string& dir) {
  const std::string path = dir + "/.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " is in use by another train (pid ", n > 0 ? std::string(buf, strnlen(buf, sizeof buf)) : "?",
        "); wait for it, stop it, or choose another --out"));
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    // The pid is only for the message above; the lock holds without it.
  }
  RunLock lock(fd);
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp.") != std::string::npos && e.is_regular_file(ec)) {
      if (std::filesystem::remove(e.path(), ec)) ++lock.removed_;
    }
  }
  return lock;
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

absl::Status RunDir::WriteConfig(const std::string& json_text) const {
  return util::WriteFileAtomically(dir_ + "/config.json", json_text);
}

void RunDir::UpdateReport() const {
  if (absl::Status s = WriteTrainReport(dir_); !s.ok()) {
    std::fprintf(stderr, "train: warning: report.html not written: %s\n", std::string(s.message()).c_str());
  }
}

namespace {

// Rewrites `path` keeping the lines `keep` accepts (atomically); a missing file is fine.
absl::Status FilterLines(const std::string& path, const std::function<bool(const std::string&)>& keep) {
  if (!RunDir::Exists(path)) return absl::OkStatus();
  absl::StatusOr<std::string> text = util::ReadFile(path, int64_t{4} << 30);
  if (!text.ok()) return text.status();
  std::string out;
  // A last line without its newline was cut short by a kill: it goes.
  const size_t complete = text->rfind('\n') == std::string::npos ? 0 : text->rfind('\n') + 1;
  std::stringstream ss(text->substr(0, complete));
  std::string line;
  while (std::getline(ss, line)) {
    if (keep(line)) out += line + "\n";
  }
  return util::WriteFileAtomically(path, out);
}

}  // namespace

absl::Status RunLogs::Open(const RunDir& dir, int64_t keep_up_to_step, int64_t keep_epochs, bool resume) {
  steps_path_ = dir.dir() + "/steps.csv";
  epochs_path_ = dir.dir() + "/epochs.csv";
  jsonl_path_ = dir.dir() + "/log.jsonl";
  if (resume) {
    // Keep header lines, step rows of steps <= keep_up_to_step (the checkpoint's) and
    // epoch rows of epochs <= keep_epochs. Both CSVs start with the epoch column; a
    // line cut short by the kill (no newline, or too few fields) goes too.
    auto csv_keep = [&](bool epochs, const std::string& line) {
      if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) return !line.empty();  // header
      std::stringstream ss(line);
      std::string epoch, step, third;
      if (!std::getline(ss, epoch, ',') || !std::getline(ss, step, ',') || !std::getline(ss, third, ',')) return false;
      return epochs ? std::atoll(epoch.c_str()) <= keep_epochs : std::atoll(step.c_str()) <= keep_up_to_step;
    };
    auto jsonl_keep = [&](const std::string& line) {
      const json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) return false;
      if (j.value("kind", "") == "epoch") return j.value("epoch", int64_t{0}) <= keep_epochs;
      return j.value("step", int64_t{0}) <= keep_up_to_step;
    };
    using Keep = std::function<bool(const std::string&)>;
    for (const auto& [path, keep] : std::vector<std::pair<std::string, Keep>>{
             {steps_path_, [&](const std::string& l) { return csv_keep(false, l); }},
             {epochs_path_, [&](const std::string& l) { return csv_keep(true, l); }},
             {jsonl_path_, jsonl_keep}}) {
      if (absl::Status s = FilterLines(path, keep); !s.ok()) return s;
    }
  }
  steps_ = std::fopen(steps_path_.c_str(), "a");
  epochs_ = std::fopen(epochs_path_.c_str(), "a");
  jsonl_ = std::fopen(jsonl_path_.c_str(), "a");
  if (steps_ == nullptr || epochs_ == nullptr || jsonl_ == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(dir.dir(), ": cannot open the log files for writing"));
  }
  if (std::ftell(steps_) == 0) std::fprintf(steps_, "epoch,step,loss,samples_per_s,elapsed_s\n");
  return absl::OkStatus();
}

RunLogs::~RunLogs() {
  for (FILE* f : {steps_, epochs_, jsonl_}) {
    if (f != nullptr) std::fclose(f);
  }
}

void RunLogs::Step(int64_t epoch, int64_t step, double loss, double samples_per_s, double elapsed) {
  std::fprintf(steps_, "%lld,%lld,%.9g,%.4g,%.3f\n", static_cast<long long>(epoch), static_cast<long long>(step),
               loss, samples_per_s, elapsed);
  json j = {{"kind", "step"},   {"epoch", epoch},
            {"step", step},     {"loss", loss},
            {"samples_per_s", samples_per_s}, {"elapsed_s", elapsed}};
  std::fprintf(jsonl_, "%s\n", j.dump().c_str());
  std::fflush(steps_);
  std::fflush(jsonl_);
  util::CrashPoint("logged_step");
}

void RunLogs::Epoch(int64_t epoch, int64_t step, double train_loss, const std::map<std::string, double>& val,
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
  util::CrashPoint("logged_epoch");
}

}  // namespace sal360::train

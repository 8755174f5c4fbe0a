// The training loop (train/trainer.h) on a small in-memory dataset: a run stopped
// (by --max_steps, or by a signal mid-epoch) and resumed ends with weights, BatchNorm
// statistics and optimiser state bit-identical to an uninterrupted run; logs are cut
// back to the checkpoint on resume; a diverging loss stops with an error and keeps the
// last good checkpoint; a resumed run refuses to change its configuration.
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nn/checkpoint.h"
#include "train/run_dir.h"
#include "train/trainer.h"
#include "util/file.h"
#include "util/safetensors.h"

namespace sal360::train {
namespace {

constexpr int kH = 16, kW = 32;

// Samples: random RGB with one bright square; the target is a blob on the square.
// Epoch order: a permutation drawn from (seed, epoch) with a fixed LCG.
class InMemoryData : public TrainingData {
 public:
  InMemoryData(int samples, int batch, uint64_t seed) : batch_(batch), seed_(seed) {
    uint64_t s = 12345;
    auto next = [&] {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      return double(s >> 11) / double(1ull << 53);
    };
    for (int i = 0; i < samples; ++i) {
      std::vector<float> in(size_t(kH) * kW * 4), tg(size_t(kH) * kW);
      const int ci = 2 + int(next() * (kH - 4)), cj = int(next() * kW);
      for (int r = 0; r < kH; ++r) {
        for (int c = 0; c < kW; ++c) {
          const size_t p = size_t(r) * kW + c;
          const int dc = std::min(std::abs(c - cj), kW - std::abs(c - cj));
          const bool on = std::abs(r - ci) <= 1 && dc <= 1;
          for (int k = 0; k < 3; ++k) in[p * 4 + k] = on ? 1.0f : 0.3f * float(next());
          in[p * 4 + 3] = 0.0f;
          tg[p] = 10.0f * float(std::exp(-0.5 * ((r - ci) * (r - ci) + dc * dc) / 2.0));
        }
      }
      inputs_.push_back(in);
      targets_.push_back(tg);
    }
  }
  int64_t batches_per_epoch() const override { return (int64_t(inputs_.size()) + batch_ - 1) / batch_; }
  absl::Status StartEpoch(int64_t epoch, int64_t position) override {
    order_.resize(inputs_.size());
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = int(i);
    uint64_t s = seed_ * 1000003 + uint64_t(epoch);
    for (size_t i = order_.size(); i > 1; --i) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      std::swap(order_[i - 1], order_[(s >> 33) % i]);
    }
    next_ = size_t(position) * batch_;
    return absl::OkStatus();
  }
  absl::Status NextBatch(data::Batch& b) override {
    const int call = calls_++;
    if (call == stop_at_call_) StopRequested().store(true);
    b.n = int(std::min<size_t>(batch_, order_.size() - std::min(next_, order_.size())));
    b.input.clear();
    b.target.clear();
    for (int i = 0; i < b.n; ++i) {
      const int k = order_[next_ + i];
      b.input.insert(b.input.end(), inputs_[k].begin(), inputs_[k].end());
      b.target.insert(b.target.end(), targets_[k].begin(), targets_[k].end());
      if (call == nan_at_call_) b.target[0] = std::nanf("");
    }
    next_ += b.n;
    return absl::OkStatus();
  }
  absl::Status ForEachValidationBatch(const std::function<absl::Status(const data::Batch&)>& fn) override {
    data::Batch b;
    b.n = 2;
    for (int k = 0; k < 2; ++k) {
      b.input.insert(b.input.end(), inputs_[k].begin(), inputs_[k].end());
      b.target.insert(b.target.end(), targets_[k].begin(), targets_[k].end());
    }
    return fn(b);
  }
  // Simulates SIGINT when NextBatch is called for the n-th time from now (-1: never).
  void StopAtCall(int n) {
    stop_at_call_ = n;
    calls_ = 0;
  }
  int nan_at_call_ = -1;  // a NaN target in the batch of that call

 private:
  int batch_;
  uint64_t seed_;
  std::vector<std::vector<float>> inputs_, targets_;
  std::vector<int> order_;
  size_t next_ = 0;
  int calls_ = 0;
  int stop_at_call_ = -1;
};

std::map<std::string, double> MeanScorer(const float* pred, const float* gt, int h, int w) {
  double s = 0;
  for (int i = 0; i < h * w; ++i) s += pred[i] * gt[i];
  return {{"cc", s / (h * w)}};  // any deterministic number: exercises best tracking
}

TrainConfig SmallConfig(const std::string& name) {
  TrainConfig c;
  c.height = kH;
  c.width = kW;
  c.batch = 4;
  c.epochs = 2;
  c.device = "cpu";
  c.lr = 3e-3f;
  c.out = ::testing::TempDir() + "/" + name;
  std::filesystem::remove_all(c.out);  // a fresh run directory even when re-run by hand
  return c;
}

util::Safetensors ReadLast(const std::string& dir) {
  absl::StatusOr<util::Safetensors> st = util::ReadSafetensors(dir + "/last.safetensors");
  EXPECT_TRUE(st.ok()) << st.status();
  return st.ok() ? *st : util::Safetensors{};
}

// Every tensor (weights, BN statistics, optimiser state) equal byte for byte.
void ExpectSameState(const std::string& dir_a, const std::string& dir_b) {
  const util::Safetensors a = ReadLast(dir_a), b = ReadLast(dir_b);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  ASSERT_GT(a.tensors.size(), 60u);
  for (const auto& [name, t] : a.tensors) {
    ASSERT_TRUE(b.tensors.count(name)) << name;
    EXPECT_TRUE(t.bytes == b.tensors.at(name).bytes) << name << " differs";
  }
  EXPECT_EQ(a.metadata.at(nn::kMetaTrainRng), b.metadata.at(nn::kMetaTrainRng));
}

std::vector<int64_t> LoggedSteps(const std::string& dir) {
  absl::StatusOr<std::string> text = util::ReadFile(dir + "/steps.csv", 1 << 20);
  EXPECT_TRUE(text.ok());
  std::vector<int64_t> steps;
  std::stringstream ss(text.ok() ? *text : "");
  std::string line;
  std::getline(ss, line);  // header
  while (std::getline(ss, line)) {
    std::stringstream ls(line);
    std::string epoch, step;
    std::getline(ls, epoch, ',');
    std::getline(ls, step, ',');
    steps.push_back(std::atoll(step.c_str()));
  }
  return steps;
}

TEST(TrainResumeTest, ResumeAfterMaxStepsIsBitIdentical) {
  InMemoryData data(22, 4, 1);  // 6 batches per epoch, the last one of 2 samples
  const TrainConfig full = SmallConfig("full");
  absl::StatusOr<TrainResult> a = Train(full, false, data, MeanScorer, {}, false);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->steps, 12);
  EXPECT_EQ(a->epochs_done, 2);

  // Stop mid-epoch (step 4), then at the epoch boundary (6), then run to the end.
  TrainConfig part = SmallConfig("parts");
  part.max_steps = 4;
  absl::StatusOr<TrainResult> b = Train(part, false, data, MeanScorer, {}, false);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->steps, 4);
  for (int64_t stop : {6, 0}) {
    TrainConfig more = part;
    more.max_steps = stop;
    absl::StatusOr<TrainConfig> resumed = ResumeConfig(part.out, more, {"max_steps"});
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    EXPECT_EQ(resumed->max_steps, stop);
    absl::StatusOr<TrainResult> r = Train(*resumed, true, data, MeanScorer, {}, false);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  ExpectSameState(full.out, part.out);
  std::vector<int64_t> want(12);
  for (int i = 0; i < 12; ++i) want[i] = i + 1;
  EXPECT_EQ(LoggedSteps(part.out), want);
  struct stat st;
  EXPECT_EQ(::stat((full.out + "/best.safetensors").c_str(), &st), 0);
}

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(TrainResumeTest, ReportShowsEveryEpochOnceAfterAResume) {
  InMemoryData data(22, 4, 1);
  TrainConfig cfg = SmallConfig("report");
  cfg.epochs = 3;
  cfg.max_steps = 8;  // stops inside epoch 2
  const Baselines baselines = {{"equator", std::vector<float>(size_t(kH) * kW, 0.5f)}};
  ASSERT_TRUE(Train(cfg, false, data, MeanScorer, baselines, false).ok());
  absl::StatusOr<std::string> partial = util::ReadFile(cfg.out + "/report.html", 1 << 24);
  ASSERT_TRUE(partial.ok()) << partial.status();
  EXPECT_EQ(Count(*partial, "<tr class=\"best\">") + Count(*partial, "<tr><td>"), 1) << "one epoch done";
  TrainConfig more = cfg;
  more.max_steps = 0;
  absl::StatusOr<TrainConfig> resumed = ResumeConfig(cfg.out, more, {"max_steps"});
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_TRUE(Train(*resumed, true, data, MeanScorer, baselines, false).ok());
  absl::StatusOr<std::string> html = util::ReadFile(cfg.out + "/report.html", 1 << 24);
  ASSERT_TRUE(html.ok()) << html.status();
  EXPECT_EQ(Count(*html, "<tr class=\"best\">"), 1);
  EXPECT_EQ(Count(*html, "<tr class=\"best\">") + Count(*html, "<tr><td>"), 3) << "epoch rows";
  EXPECT_EQ(Count(*html, "<th>equator CC</th>"), 1);
  EXPECT_NE(html->find("3 of 3"), std::string::npos);
  EXPECT_NE(html->find(cfg.out + "/best.safetensors"), std::string::npos);
  EXPECT_EQ(Count(*html, "<svg"), 2);
}

TEST(TrainResumeTest, StopBySignalThenResumeIsBitIdenticalAndLogsAreCutBack) {
  InMemoryData data(22, 4, 1);
  TrainConfig full = SmallConfig("full_sig");
  full.roll_augment = true;
  ASSERT_TRUE(Train(full, false, data, MeanScorer, {}, false).ok());

  TrainConfig cfg = SmallConfig("sig");
  data.StopAtCall(8);  // the "Ctrl-C" arrives during the second epoch
  absl::StatusOr<TrainResult> b = Train(cfg, false, data, MeanScorer, {}, false);
  StopRequested().store(false);
  data.StopAtCall(-1);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->stopped_by_signal);
  EXPECT_LT(b->steps, 12);
  // A log line of a step the checkpoint does not hold (the process died after logging).
  FILE* f = std::fopen((cfg.out + "/steps.csv").c_str(), "a");
  ASSERT_NE(f, nullptr);
  std::fprintf(f, "2,%lld,0.5,1,1\n", static_cast<long long>(b->steps + 1));
  std::fclose(f);
  absl::StatusOr<TrainConfig> resumed = ResumeConfig(cfg.out, cfg, {});
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_TRUE(Train(*resumed, true, data, MeanScorer, {}, false).ok());
  ExpectSameState(full.out, cfg.out);
  const std::vector<int64_t> steps = LoggedSteps(cfg.out);
  EXPECT_EQ(steps.size(), 12u);
  EXPECT_EQ(std::set<int64_t>(steps.begin(), steps.end()).size(), 12u) << "no step logged twice";
}

TEST(TrainResumeTest, DivergenceStopsAndKeepsTheLastGoodCheckpoint) {
  InMemoryData data(22, 4, 1);
  data.nan_at_call_ = 3;  // the 4th step sees a NaN target
  TrainConfig cfg = SmallConfig("nan");
  cfg.checkpoint_every = 1;
  absl::StatusOr<TrainResult> r = Train(cfg, false, data, MeanScorer, {}, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("diverged"), absl::string_view::npos) << r.status();
  EXPECT_NE(r.status().message().find("last.safetensors keeps the last good state"), absl::string_view::npos)
      << r.status();
  // The checkpoint holds finite weights from the step before.
  const util::Safetensors st = ReadLast(cfg.out);
  EXPECT_NE(st.metadata.at(nn::kMetaTrainProgress).find("\"step\":3"), std::string::npos)
      << st.metadata.at(nn::kMetaTrainProgress);
  for (const auto& [name, t] : st.tensors) {
    if (t.dtype != util::DType::kFloat32) continue;
    const float* v = reinterpret_cast<const float*>(t.bytes.data());
    for (int64_t i = 0; i < t.numel(); ++i) ASSERT_TRUE(std::isfinite(v[i])) << name;
  }
}

TEST(TrainResumeTest, ResumedRunKeepsItsConfiguration) {
  InMemoryData data(8, 4, 1);
  TrainConfig cfg = SmallConfig("conf");
  cfg.max_steps = 1;
  ASSERT_TRUE(Train(cfg, false, data, MeanScorer, {}, false).ok());
  TrainConfig changed = cfg;
  changed.lr = 0.5f;
  absl::StatusOr<TrainConfig> r = ResumeConfig(cfg.out, changed, {"lr"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--lr=0.5 differs"), absl::string_view::npos) << r.status();
  // Starting a fresh run over an existing one is refused.
  absl::StatusOr<TrainResult> again = Train(cfg, false, data, MeanScorer, {}, false);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("--resume"), absl::string_view::npos);
  // Resuming where nothing was saved names the missing file.
  TrainConfig empty = SmallConfig("nothing_here");
  EXPECT_TRUE(absl::IsNotFound(ResumeConfig(empty.out, empty, {}).status()));
}

TEST(TrainResumeTest, RejectsBadConfigurations) {
  TrainConfig c = SmallConfig("bad");
  c.height = 20;
  EXPECT_NE(c.Validate().message().find("--height/--width"), absl::string_view::npos);
  c = SmallConfig("bad");
  c.optimizer = "rmsprop";
  EXPECT_NE(c.Validate().message().find("--optimizer"), absl::string_view::npos);
  c = SmallConfig("bad");
  c.loss = "l1";
  EXPECT_NE(c.Validate().message().find("--loss"), absl::string_view::npos);
  c = SmallConfig("bad");
  c.lr = -1;
  EXPECT_FALSE(c.Validate().ok());
  c = SmallConfig("bad");
  c.table_mode = "cubic";
  EXPECT_NE(c.Validate().message().find("--table_mode"), absl::string_view::npos);
}

}  // namespace
namespace {

// Issue #18: two trains into one --out interleaved their logs; the run directory is now
// locked, and the temporaries a killed run left are removed under the lock.
TEST(RunLock, OneTrainPerDirectoryAndStaleTemporariesRemoved) {
  const std::string dir = ::testing::TempDir() + "/locked_run";
  ASSERT_TRUE(util::MakeDirs(dir).ok());
  ASSERT_TRUE(util::WriteFileAtomically(dir + "/last.safetensors.tmp.Ab12Cd", "partial").ok());
  ASSERT_TRUE(util::WriteFileAtomically(dir + "/steps.csv", "epoch,step\n").ok());
  {
    absl::StatusOr<RunLock> first = RunLock::Acquire(dir);
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(first->removed_temporaries(), 1);
    EXPECT_FALSE(RunDir::Exists(dir + "/last.safetensors.tmp.Ab12Cd"));
    EXPECT_TRUE(RunDir::Exists(dir + "/steps.csv"));
    absl::StatusOr<RunLock> second = RunLock::Acquire(dir);
    ASSERT_FALSE(second.ok());
    EXPECT_NE(std::string(second.status().message()).find("is in use by another train (pid "), std::string::npos)
        << second.status();
  }
  EXPECT_TRUE(RunLock::Acquire(dir).ok());  // released with the first
}

}  // namespace
}  // namespace sal360::train


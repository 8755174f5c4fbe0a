// train: trains the spherical U-Net.
//
//   bazel run -c opt //tools:train                      # synthetic dataset, a few minutes on CPU
//   bazel run -c opt //tools:train -- --data=/data/vr --height=240 --width=480 --batch=2 --epochs=20
//   bazel run -c opt //tools:train -- --resume           # continue runs/train exactly
//
// With no --data, the synthetic dataset (data/synthetic.h, default options) is generated
// once into the cache directory and trained on. The run directory (--out) receives
// last.safetensors / best.safetensors, config.json, steps.csv, epochs.csv and log.jsonl
// (tools/train_lib.h). Ctrl-C finishes the current step, saves last.safetensors and exits;
// --resume continues bit-identically on the CPU. Exit status: 0 done, 1 error (a clear
// message on stderr), 2 bad flags, 130 stopped by a signal.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/loader.h"
#include "data/metrics.h"
#include "data/split.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "tools/model_lib.h"
#include "tools/train_lib.h"

ABSL_FLAG(std::string, data, "",
          "Dataset root (vinfo.pkl + one folder per video). Empty: generate the synthetic "
          "dataset into the cache ($SAL360_CACHE or ~/.cache/sal360) and train on it");
ABSL_FLAG(int, height, 64, "Network input height (multiple of 8, >= 16); 240 is the published size");
ABSL_FLAG(int, width, 128, "Network input width (multiple of 8, >= 16; normally 2 x height)");
ABSL_FLAG(int, batch, 8, "Batch size");
ABSL_FLAG(int, epochs, 6, "Epochs over the training videos");
ABSL_FLAG(int64_t, max_steps, 0, "Stop after this many optimiser steps in total (0: no limit)");
ABSL_FLAG(std::string, optimizer, "adam", "adam | adamw | sgd");
ABSL_FLAG(double, lr, 1e-3, "Learning rate");
ABSL_FLAG(double, momentum, 0.9, "SGD momentum (sgd only)");
ABSL_FLAG(double, weight_decay, 0.0, "Weight decay (L2 for adam/sgd, decoupled for adamw)");
ABSL_FLAG(std::string, loss, "smse", "smse (sphere-weighted MSE, published) | skld (sphere KL divergence)");
ABSL_FLAG(std::string, device, "auto", "auto | cpu | cuda");
ABSL_FLAG(std::string, table_mode, "nearest", "Spherical tables: nearest | bilinear");
ABSL_FLAG(std::string, convention, "pixel_centre", "Table convention: pixel_centre | seed");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the initial weights, the data order and the augmentation");
ABSL_FLAG(std::string, out, "runs/train", "Run directory (checkpoints and logs)");
ABSL_FLAG(bool, resume, false,
          "Continue the run in --out from last.safetensors (same data order, RNG and optimiser "
          "state); only --epochs, --max_steps, --device, --checkpoint_every, --validate, --data "
          "and --loader_threads may change");
ABSL_FLAG(int64_t, checkpoint_every, 0, "Also write last.safetensors every N steps (0: at epoch ends only)");
ABSL_FLAG(bool, validate, true, "Validate on the held-out videos after every epoch (CC/KLD, baselines)");
ABSL_FLAG(bool, roll_augment, true, "Rotate each batch by a random longitude (an exact symmetry)");
ABSL_FLAG(std::string, split, "",
          "seed: the published video selection; file: read --split_file. Default: file when "
          "--split_file is given, else seed");
ABSL_FLAG(std::string, split_file, "",
          "JSON {\"train\": [...], \"val\": [...], \"test\": [...]} (implies --split=file)");
ABSL_FLAG(int, val_videos, 1, "Training videos held out for validation (--split=seed)");
ABSL_FLAG(std::string, gt, "cache", "Ground truth: cache (NNNN_gt.npy when present) | generate (from gaze)");
ABSL_FLAG(int, prev_interval, 5, "The previous-map input of frame k is the ground truth of frame k - interval");
ABSL_FLAG(std::string, first_frames, "centre", "Previous map of a video's first frames: centre (prior) | zeros");
ABSL_FLAG(int, loader_threads, 2, "Background threads assembling batches");
ABSL_FLAG(std::string, tables_dir, "",
          "Directory of neighbour tables written by gen_coords (tables.json + one .npy per level) "
          "to load instead of generating them; must match the model's size, table mode and convention");

namespace sal360::tools {
namespace {

// TrainingData over data::Loader: shuffled training batches, validation in order.
class LoaderData : public TrainingData {
 public:
  static absl::StatusOr<std::unique_ptr<LoaderData>> Create(const OpenedData& d, const TrainConfig& c) {
    auto out = std::unique_ptr<LoaderData>(new LoaderData());
    absl::StatusOr<std::vector<data::FrameRef>> train = d.dataset->FramesOf(d.split.train);
    if (!train.ok()) return train.status();
    if (train->empty()) return absl::FailedPreconditionError("the training split has no frames");
    data::LoaderOptions lo;
    lo.sample = d.sample;
    lo.sample.fixations = false;
    lo.batch = c.batch;
    lo.shuffle = true;
    lo.seed = c.seed;
    lo.threads = c.loader_threads;
    lo.map_scale = kMapScale;
    absl::StatusOr<std::unique_ptr<data::Loader>> tl = data::Loader::Create(d.dataset, *train, lo);
    if (!tl.ok()) return tl.status();
    out->train_ = *std::move(tl);
    absl::StatusOr<std::vector<data::FrameRef>> val = d.dataset->FramesOf(d.split.val);
    if (!val.ok()) return val.status();
    if (!val->empty()) {
      lo.shuffle = false;
      absl::StatusOr<std::unique_ptr<data::Loader>> vl = data::Loader::Create(d.dataset, *val, lo);
      if (!vl.ok()) return vl.status();
      out->val_ = *std::move(vl);
    }
    return out;
  }
  int64_t batches_per_epoch() const override { return train_->batches_per_epoch(); }
  absl::Status StartEpoch(int64_t epoch, int64_t position) override { return train_->Start(epoch, position); }
  absl::Status NextBatch(HostBatch& b) override {
    // `b` holds the batch the trainer has finished with: its buffers go back to the
    // loader, which assembles a later batch in them instead of in fresh allocations
    // (data::Loader::Recycle; the contents of every batch are the same either way).
    Recycle(*train_, b);
    absl::StatusOr<std::optional<data::Batch>> next = train_->Next();
    if (!next.ok()) return next.status();
    b.n = next->has_value() ? (*next)->n : 0;
    if (b.n > 0) {
      b.input = std::move((*next)->input);
      b.target = std::move((*next)->target);
    }
    return absl::OkStatus();
  }
  absl::Status ForEachValidationBatch(const std::function<absl::Status(const HostBatch&)>& fn) override {
    if (val_ == nullptr) return absl::OkStatus();
    if (absl::Status s = val_->Start(0, 0); !s.ok()) return s;
    while (true) {
      absl::StatusOr<std::optional<data::Batch>> next = val_->Next();
      if (!next.ok()) return next.status();
      if (!next->has_value()) return absl::OkStatus();
      HostBatch b;
      b.n = (*next)->n;
      b.input = std::move((*next)->input);
      b.target = std::move((*next)->target);
      if (absl::Status s = fn(b); !s.ok()) return s;
      Recycle(*val_, b);
    }
  }

 private:
  LoaderData() = default;
  // Hands a used batch's buffers back to `loader` and leaves `b` empty.
  static void Recycle(data::Loader& loader, HostBatch& b) {
    if (b.input.capacity() == 0 && b.target.capacity() == 0) return;  // nothing to give back
    data::Batch used;
    used.input = std::move(b.input);
    used.target = std::move(b.target);
    loader.Recycle(std::move(used));
    b.input.clear();
    b.target.clear();
    b.n = 0;
  }
  std::unique_ptr<data::Loader> train_, val_;
};

std::map<std::string, double> Score(const float* pred, const float* gt, int h, int w) {
  const data::MetricSet m = data::ComputeMetrics(pred, gt, nullptr, h, w);
  return {{"cc", m.cc}, {"kld", m.kld}, {"cc_sphere", m.cc_sphere}, {"kld_sphere", m.kld_sphere}};
}

TrainConfig ConfigFromFlags() {
  TrainConfig c;
  c.data = absl::GetFlag(FLAGS_data);
  c.height = absl::GetFlag(FLAGS_height);
  c.width = absl::GetFlag(FLAGS_width);
  c.batch = absl::GetFlag(FLAGS_batch);
  c.epochs = absl::GetFlag(FLAGS_epochs);
  c.max_steps = absl::GetFlag(FLAGS_max_steps);
  c.optimizer = absl::GetFlag(FLAGS_optimizer);
  c.lr = static_cast<float>(absl::GetFlag(FLAGS_lr));
  c.momentum = static_cast<float>(absl::GetFlag(FLAGS_momentum));
  c.weight_decay = static_cast<float>(absl::GetFlag(FLAGS_weight_decay));
  c.loss = absl::GetFlag(FLAGS_loss);
  c.device = absl::GetFlag(FLAGS_device);
  c.table_mode = absl::GetFlag(FLAGS_table_mode);
  c.convention = absl::GetFlag(FLAGS_convention);
  c.seed = absl::GetFlag(FLAGS_seed);
  c.out = UserPath(absl::GetFlag(FLAGS_out));
  c.checkpoint_every = absl::GetFlag(FLAGS_checkpoint_every);
  c.validate = absl::GetFlag(FLAGS_validate);
  c.roll_augment = absl::GetFlag(FLAGS_roll_augment);
  c.split = absl::GetFlag(FLAGS_split);
  c.split_file = absl::GetFlag(FLAGS_split_file);
  c.val_videos = absl::GetFlag(FLAGS_val_videos);
  c.gt = absl::GetFlag(FLAGS_gt);
  c.prev_interval = absl::GetFlag(FLAGS_prev_interval);
  c.first_frames = absl::GetFlag(FLAGS_first_frames);
  c.loader_threads = absl::GetFlag(FLAGS_loader_threads);
  return c;
}

// Flags named on the command line ("--name", "--name=value", "--noname" for booleans),
// so that --resume can tell "--max_steps=0" from not passing --max_steps.
std::vector<std::string> SpecifiedFlags(int argc, char** argv) {
  std::vector<std::string> names;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    if (a.size() < 2 || a[0] != '-') continue;
    a = a.substr(a[1] == '-' ? 2 : 1);
    a = a.substr(0, a.find('='));
    if (absl::FindCommandLineFlag(a) == nullptr && a.rfind("no", 0) == 0) a = a.substr(2);
    names.push_back(a);
  }
  return names;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Trains the spherical U-Net. With no flags: generates the synthetic dataset and trains "
      "on the CPU (or GPU) in a few minutes into runs/train. See docs/model.md.");
  absl::ParseCommandLine(argc, argv);
  const std::vector<std::string> specified = SpecifiedFlags(argc, argv);
  TrainConfig config = ConfigFromFlags();
  // --split_file alone selects the file split; --split=seed with a file is a contradiction.
  if (absl::StatusOr<std::string> mode = data::ResolveSplitMode(config.split, config.split_file); mode.ok()) {
    config.split = *mode;
  } else {
    std::fprintf(stderr, "train: %s\n", std::string(mode.status().message()).c_str());
    return 2;
  }
  const bool resume = absl::GetFlag(FLAGS_resume);
  if (resume) {
    absl::StatusOr<TrainConfig> resumed = ResumeConfig(config.out, config, specified);
    if (!resumed.ok()) {
      std::fprintf(stderr, "train: %s\n", std::string(resumed.status().message()).c_str());
      return 2;
    }
    config = *resumed;
  }
  if (absl::Status s = config.Validate(); !s.ok()) {
    std::fprintf(stderr, "train: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  auto fail = [](const absl::Status& s) {
    std::fprintf(stderr, "train: %s\n", std::string(s.message()).c_str());
    return 1;
  };
  // The tables do not change results (they equal the generated ones) and are not part
  // of the run's configuration; a resumed run may use them or not.
  nn::ModelConfig model_config;
  model_config.table_mode = *nn::ParseTableMode(config.table_mode);
  model_config.convention = *nn::ParseConvention(config.convention);
  if (absl::Status s = LoadTablesDir(absl::GetFlag(FLAGS_tables_dir), config.height, config.width, model_config);
      !s.ok()) {
    return fail(s);
  }
  DataConfig dc;
  dc.data = config.data;
  dc.split = config.split;
  dc.split_file = config.split_file;
  dc.val_videos = config.val_videos;
  dc.gt = config.gt;
  dc.prev_interval = config.prev_interval;
  dc.first_frames = config.first_frames;
  absl::StatusOr<OpenedData> d = OpenData(dc, config.height, config.width);
  if (!d.ok()) return fail(d.status());
  std::fprintf(stderr, "train: dataset %s: %zu training, %zu validation, %zu test videos; %dx%d, batch %d\n",
               d->root.c_str(), d->split.train.size(), d->split.val.size(), d->split.test.size(), config.height,
               config.width, config.batch);
  if (d->split.train.empty()) return fail(absl::FailedPreconditionError("the split has no training videos"));
  if (config.validate && d->split.val.empty()) {
    std::fprintf(stderr, "train: no validation videos (--val_videos=0 or an empty \"val\" list): "
                         "no validation, best.safetensors = the last state\n");
  }
  absl::StatusOr<std::unique_ptr<LoaderData>> loader = LoaderData::Create(*d, config);
  if (!loader.ok()) return fail(loader.status());
  Baselines baselines;
  if (config.validate && !d->split.val.empty()) {
    absl::StatusOr<std::vector<float>> equator = EquatorPrior(*d);
    if (!equator.ok()) return fail(equator.status());
    baselines["equator"] = *std::move(equator);
  }
  InstallStopHandlers();
  absl::StatusOr<TrainResult> r = Train(config, resume, **loader, Score, baselines);
  if (!r.ok()) return fail(r.status());
  if (r->stopped_by_signal) return 130;
  std::string summary = absl::StrFormat("train: %lld steps in %.1f s; last loss %.4g", static_cast<long long>(r->steps),
                                        r->seconds, r->last_loss);
  if (const auto it = r->best_val.find("cc"); it != r->best_val.end()) {
    absl::StrAppendFormat(&summary, "; best validation CC %.4f", it->second);
  }
  for (const auto& [name, m] : r->baselines_val) {
    if (const auto it = m.find("cc"); it != m.end()) absl::StrAppendFormat(&summary, ", %s CC %.4f", name, it->second);
  }
  std::fprintf(stderr,
               "%s\ntrain: checkpoints in %s (best.safetensors, last.safetensors), report %s/report.html\n"
               "train: evaluate with: bazel run //tools:test -- --checkpoint=%s/best.safetensors\n",
               summary.c_str(), config.out.c_str(), config.out.c_str(), config.out.c_str());
  return 0;
}

}  // namespace
}  // namespace sal360::tools

int main(int argc, char** argv) { return sal360::tools::Main(argc, argv); }

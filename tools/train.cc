// train: trains the spherical U-Net.
//
//   bazel run -c opt //tools:train                      # synthetic dataset, a few minutes on CPU
//   bazel run -c opt //tools:train -- --data=/data/vr --height=240 --width=480 --batch=2 --epochs=20
//   bazel run -c opt //tools:train -- --resume           # continue runs/train exactly
//
// With no --data, the synthetic dataset (data/synthetic.h, default options) is generated
// once into the cache directory and trained on. The run directory (--out) receives
// last.safetensors / best.safetensors, config.json, steps.csv, epochs.csv, log.jsonl and
// report.html (train/run_dir.h). Ctrl-C finishes the current step, saves
// last.safetensors and exits; --resume continues bit-identically on the CPU. Exit
// status: 0 done, 1 error (a clear message on stderr), 2 bad flags, 130 stopped by a
// signal. The options are declared in train/config.h and data/source.h.
//
// Several processes (docs/distributed.md): `mpirun -np N bazel-bin/tools/train ...`; the
// ranks split every batch, rank 0 writes the run directory, and any rank's error ends
// every rank (non-zero exit, the failing rank named).
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
#include "data/source.h"
#include "infer/model.h"
#include "nn/checkpoint.h"
#include "tools/flags.h"
#include "train/config.h"
#include "train/loader_data.h"
#include "dist/world.h"
#include "train/trainer.h"
#include "util/file.h"

SAL360_TRAIN_OPTIONS(SAL360_OPTION_DEFINE_FLAG)
SAL360_TABLES_DIR_OPTION(SAL360_OPTION_DEFINE_FLAG)
ABSL_FLAG(std::string, dist, "auto",
          "Processes: auto (MPI when started by mpirun, else one process) | none | mpi");
ABSL_FLAG(double, dist_timeout_s, 600,
          "Several processes: a collective call that does not complete in this many seconds ends "
          "the job (a rank died or hangs)");
ABSL_FLAG(bool, resume, false,
          "Continue the run in --out from last.safetensors (same data order, RNG and optimiser "
          "state); only the options marked resumable in train/config.h (--epochs, --max_steps, "
          "--device, --gpu_engine, --precision, --checkpoint_every, --validate, --data, --loader_threads, "
          "--grad_bucket_mb) may change");

namespace sal360::tools {
namespace {

train::TrainConfig ConfigFromFlags() {
  train::TrainConfig config;
  static_cast<data::DataConfig&>(config) = DataConfigFromFlags();
  SAL360_TRAIN_OPTIONS(SAL360_OPTION_READ_FLAG)
  config.out = util::UserPath(config.out);
  return config;
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
  SetToolUsage(
      "Trains the spherical U-Net. With no flags: generates the synthetic dataset and trains "
      "on the CPU (or GPU) in a few minutes into runs/train. See docs/model.md.");
  ::sal360::tools::ParseCommandLine(argc, argv);
  dist::WorldOptions wo;
  wo.mode = absl::GetFlag(FLAGS_dist);
  wo.timeout_s = absl::GetFlag(FLAGS_dist_timeout_s);
  absl::StatusOr<std::unique_ptr<dist::World>> world = dist::World::Create(wo, &argc, &argv);
  if (!world.ok()) {
    std::fprintf(stderr, "train: %s\n", std::string(world.status().message()).c_str());
    return 2;
  }
  dist::World& w = **world;
  // With several processes an error on one rank ends them all (World::Fail: MPI_Abort).
  auto usage = [&w](const absl::Status& s) {
    if (w.distributed()) w.Fail(std::string(s.message()), 2);
    std::fprintf(stderr, "train: %s\n", std::string(s.message()).c_str());
    return 2;
  };
  auto fail = [&w](const absl::Status& s) {
    if (w.distributed()) w.Fail(std::string(s.message()), 1);
    std::fprintf(stderr, "train: %s\n", std::string(s.message()).c_str());
    return 1;
  };
  const bool lead = w.rank() == 0;
  train::TrainConfig config = ConfigFromFlags();
  // --split_file alone selects the file split; --split=seed with a file is a contradiction.
  absl::StatusOr<std::string> mode = data::ResolveSplitMode(config.split, config.split_file);
  if (!mode.ok()) return usage(mode.status());
  config.split = *mode;
  const bool resume = absl::GetFlag(FLAGS_resume);
  if (resume) {
    absl::StatusOr<train::TrainConfig> resumed = train::ResumeConfig(config.out, config, SpecifiedFlags(argc, argv));
    if (!resumed.ok()) return usage(resumed.status());
    config = *resumed;
  }
  if (absl::Status s = config.Validate(); !s.ok()) return usage(s);
  // Before the data is opened at that size (train::Train checks again for its callers).
  if (absl::StatusOr<nn::Device> dev = infer::ParseDevice(config.device); dev.ok()) {
    // --gpu_engine / --precision the device cannot honour: a usage error, before any data.
    if (absl::StatusOr<nn::Device> math = infer::ParseDeviceAndMath(config.device, config.gpu_engine, config.precision);
        !math.ok()) {
      return usage(math.status());
    }
    if (absl::Status s = infer::CheckMemory((config.batch + w.size() - 1) / w.size(), config.height, config.width,
                                            *nn::ParseTableMode(config.table_mode), *dev, "--height/--width or --batch");
        !s.ok()) {
      return fail(s);
    }
  }
  // The tables do not change results (they equal the generated ones) and are not part
  // of the run's configuration; a resumed run may use them or not.
  nn::ModelConfig model_config;
  model_config.table_mode = *nn::ParseTableMode(config.table_mode);
  model_config.convention = *nn::ParseConvention(config.convention);
  if (absl::Status s = infer::LoadTablesDir(absl::GetFlag(FLAGS_tables_dir), config.height, config.width, model_config);
      !s.ok()) {
    return fail(s);
  }
  // Rank 0 opens the data first, so a synthetic dataset is generated (or a cache
  // written) by one process only; the others open it after.
  if (!lead) w.Barrier();
  absl::StatusOr<data::OpenedData> d = data::OpenData(config, config.height, config.width);
  if (lead) w.Barrier();
  if (!d.ok()) return fail(d.status());
  if (lead) {
    std::fprintf(stderr, "train: dataset %s: %zu training, %zu validation, %zu test videos; %dx%d, batch %d%s\n",
                 d->root.c_str(), d->split.train.size(), d->split.val.size(), d->split.test.size(), config.height,
                 config.width, config.batch,
                 w.distributed() ? absl::StrFormat(" over %d processes", w.size()).c_str() : "");
  }
  if (d->split.train.empty()) return fail(absl::FailedPreconditionError("the split has no training videos"));
  if (lead && config.validate && d->split.val.empty()) {
    std::fprintf(stderr, "train: no validation videos (--val_videos=0 or an empty \"val\" list): "
                         "no validation, best.safetensors = the last state\n");
  }
  absl::StatusOr<std::unique_ptr<train::LoaderData>> loader = train::LoaderData::Create(*d, config, w.rank(), w.size());
  if (!loader.ok()) return fail(loader.status());
  train::Baselines baselines;
  if (config.validate && !d->split.val.empty()) {
    absl::StatusOr<std::vector<float>> equator = data::EquatorPrior(*d);
    if (!equator.ok()) return fail(equator.status());
    baselines["equator"] = *std::move(equator);
  }
  train::InstallStopHandlers();
  absl::StatusOr<train::TrainResult> r =
      train::Train(config, resume, **loader, train::ValidationScores, baselines, /*show_progress=*/true, &w);
  if (!r.ok()) return fail(r.status());
  if (r->stopped_by_signal) return 130;
  if (!lead) return 0;
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

int main(int argc, char** argv) { return sal360::tools::GuardedMain(sal360::tools::Main, argc, argv); }

#include "train/trainer.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "infer/model.h"
#include "nn/checkpoint.h"
#include "nn/init.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "train/run_dir.h"
#include "util/crash_point.h"
#include "util/progress.h"
#include "util/safetensors.h"

namespace sal360::train {
namespace {

using nlohmann::json;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void OnStopSignal(int) {
  StopRequested().store(true);
  // A second signal kills the process the default way.
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
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

absl::StatusOr<TrainConfig> ResumeConfig(const std::string& run_dir, const TrainConfig& requested,
                                         const std::vector<std::string>& changed) {
  const std::string path = RunDir(run_dir).last_path();
  if (!RunDir::Exists(path)) {
    return absl::NotFoundError(absl::StrCat("--resume: ", path, " does not exist (nothing to resume in --out=",
                                            run_dir, ")"));
  }
  absl::StatusOr<util::Safetensors> st = util::ReadSafetensors(path);
  if (!st.ok()) return st.status();
  absl::StatusOr<std::string> text = st->GetMetadata(path, nn::kMetaTrainConfig);
  if (!text.ok()) return text.status();
  const json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": training config is not JSON"));
  absl::StatusOr<TrainConfig> saved = TrainConfig::FromJson(j);
  if (!saved.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", saved.status().message()));
  const json want = requested.ToJson();
  json merged = saved->ToJson();
  const std::set<std::string> allowed = ResumableOptions();
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
                                  bool show_progress, dist::World* world) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  const double t_start = Now();
  absl::StatusOr<nn::Device> device = infer::ParseDeviceAndMath(config.device, config.gpu_engine, config.precision);
  if (!device.ok()) return device.status();
  // Data parallel: N ranks; rank 0 ("lead") alone writes the run directory.
  const int ranks = world != nullptr ? world->size() : 1;
  const bool lead = world == nullptr || world->rank() == 0;
  dist::World* const par = ranks > 1 ? world : nullptr;
  if (par != nullptr && config.sync_bn && *device != nn::Device::kCpu) {
    return absl::InvalidArgumentError("--sync_bn runs on the CPU only (--device=cpu); the CUDA path uses each rank's statistics");
  }
  if (config.sync_bn && par == nullptr) {
    std::fprintf(stderr, "train: note: --sync_bn has no effect in a single process\n");
  }
  if (config.batch < ranks) {
    return absl::InvalidArgumentError(absl::StrCat("--batch=", config.batch, " is smaller than the ", ranks,
                                                   " processes: every rank needs a sample of each batch"));
  }
  // Refuse a size the machine cannot hold, with the estimate, before allocating it.
  if (absl::Status s = infer::CheckMemory((config.batch + ranks - 1) / ranks, config.height, config.width,
                                          *nn::ParseTableMode(config.table_mode), *device, "--height/--width or --batch");
      !s.ok()) {
    return s;
  }
  const RunDir dir(config.out);
  std::optional<RunLock> lock;
  if (lead) {
    if (absl::Status s = dir.Prepare(resume); !s.ok()) return s;
    absl::StatusOr<RunLock> l = RunLock::Acquire(config.out);
    if (!l.ok()) return l.status();
    if (l->removed_temporaries() > 0) {
      std::fprintf(stderr, "train: removed %d temporary file(s) an interrupted run left in %s\n",
                   l->removed_temporaries(), config.out.c_str());
    }
    lock.emplace(*std::move(l));
  }
  if (par != nullptr) par->Barrier();  // the directory exists before any rank reads it
  const std::string last_path = dir.last_path(), best_path = dir.best_path();

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
  TrainProgress progress;

  if (resume) {
    absl::StatusOr<util::Safetensors> st = util::ReadSafetensors(last_path);
    if (!st.ok()) return st.status();
    if (absl::Status s = nn::ImportModel(*st, last_path, model); !s.ok()) return s;
    absl::StatusOr<nn::ModelConfig> stored = nn::ModelConfigFromCheckpoint(*st, last_path);
    if (!stored.ok()) return stored.status();
    if (stored->table_mode != model_config.table_mode || stored->convention != model_config.convention) {
      return absl::InvalidArgumentError(absl::StrCat(
          last_path, ": its tables are ", sphere::ModeName(stored->table_mode), "/",
          sphere::ConventionName(stored->convention), " but its training configuration says ", config.table_mode,
          "/", config.convention));
    }
    if (absl::Status s = nn::ImportOptimizer(*st, last_path, model, opt); !s.ok()) return s;
    absl::StatusOr<std::string> p = st->GetMetadata(last_path, nn::kMetaTrainProgress);
    if (!p.ok()) return p.status();
    absl::StatusOr<TrainProgress> loaded = TrainProgress::FromJson(*p, last_path);
    if (!loaded.ok()) return loaded.status();
    progress = *loaded;
    absl::StatusOr<std::string> r = st->GetMetadata(last_path, nn::kMetaTrainRng);
    if (!r.ok()) return r.status();
    if (!rng.Deserialize(*r)) return absl::InvalidArgumentError(absl::StrCat(last_path, ": unreadable RNG state"));
    if (opt.step_count() != progress.step) {
      return absl::InvalidArgumentError(absl::StrCat(last_path, ": optimiser step ", opt.step_count(),
                                                     " disagrees with the progress step ", progress.step));
    }
    if (progress.ranks != ranks) {
      return absl::InvalidArgumentError(absl::StrCat(
          last_path, ": the run was trained with ", progress.ranks, " process(es); resume it with the same number (",
          progress.ranks == 1 ? "without mpirun" : absl::StrCat("mpirun -np ", progress.ranks), "), not ", ranks));
    }
  } else {
    model.Initialize(rng);
    progress.ranks = ranks;
    if (lead) {
      if (absl::Status s = dir.WriteConfig(config.ToJson().dump(2) + "\n"); !s.ok()) return s;
    }
  }
  // Every rank starts from rank 0's state (the same seed gives the same one; this makes
  // it so whatever happened).
  auto broadcast_bn_stats = [&] {
    for (int i = 0; i < nn::kNumBatchNorms; ++i) {
      nn::BatchNormStats& bs = model.bn_stats(i);
      par->Broadcast(bs.running_mean.data(), bs.running_mean.numel(), *device, 0);
      par->Broadcast(bs.running_var.data(), bs.running_var.numel(), *device, 0);
    }
  };
  if (par != nullptr) {
    if (absl::Status s = par->PrepareDevice(*device); !s.ok()) return s;
    par->Broadcast(model.params().params_flat().data(), model.params().total(), *device, 0);
    broadcast_bn_stats();
    if (config.sync_bn) model.set_sync_batchnorm(par);
  }
  RunLogs logs;
  if (lead) {
    if (absl::Status s = logs.Open(dir, progress.step, progress.epoch, resume); !s.ok()) return s;
  }

  const int h = config.height, w = config.width, cap = config.batch;
  const int64_t per_epoch = data.batches_per_epoch();
  if (per_epoch < 1) return absl::FailedPreconditionError("the training set has no batches");
  const nn::Tensor row_weights = nn::LossRowWeights(h, w, *device);
  nn::Tensor x_dev(nn::Shape{cap, h, w, 4}, *device), t_dev(nn::Shape{cap, h, w, 1}, *device);
  const bool kld = config.loss == "skld";

  // Data parallel: the gradient all-reduce. On the CPU with grad_bucket_mb > 0, each
  // bucket (a run of layers whose gradients are final, from conv7 toward conv1: a
  // suffix of the slab) is started as soon as it reaches the size, overlapping the rest
  // of the backward; otherwise one all-reduce of the whole slab after it.
  float* const grads = model.params().grads_flat().data();
  const int64_t slab = model.params().total();
  const int64_t bucket_floats =
      static_cast<int64_t>(config.grad_bucket_mb * (1 << 20) / sizeof(float));
  const bool bucketed = par != nullptr && *device == nn::Device::kCpu && bucket_floats > 0;
  int64_t bucket_lo = slab, bucket_hi = slab;  // [lo, hi): final, not yet started
  if (bucketed) {
    model.set_grad_ready_hook([&](int64_t begin, int64_t end) {
      if (end != bucket_lo) world->Fail("gradient ranges out of order (a bug)");
      bucket_lo = begin;
      if ((bucket_hi - bucket_lo) >= bucket_floats) {
        par->StartAllReduceHostFloats(grads + bucket_lo, bucket_hi - bucket_lo);
        bucket_hi = bucket_lo;
      }
      par->Poll();
    });
  }
  auto reduce_gradients = [&] {
    if (bucketed) {
      if (bucket_lo != 0) world->Fail("the backward did not report every gradient (a bug)");
      if (bucket_hi > 0) par->StartAllReduceHostFloats(grads, bucket_hi);
      par->WaitAll();
      bucket_lo = bucket_hi = slab;
    } else {
      par->AllReduceDevice(grads, slab, *device);
    }
  };

  auto save = [&](const std::string& path) -> absl::Status {
    if (!lead) return absl::OkStatus();
    TrainProgress p = progress;
    p.elapsed_s += Now() - t_start;  // this invocation's time so far
    absl::Status s = nn::SaveCheckpoint(path, model, &opt,
                                        {{nn::kMetaTrainConfig, config.ToJson().dump()},
                                         {nn::kMetaTrainProgress, p.ToJson()},
                                         {nn::kMetaTrainRng, rng.Serialize()}});
    if (s.ok()) util::CrashPoint(path == last_path ? "saved_last" : "saved_best");
    return s;
  };

  TrainResult result;
  result.last_loss = progress.last_loss;
  result.best_val = progress.best_val;
  const int64_t total_steps =
      config.max_steps > 0 ? std::min<int64_t>(config.max_steps, config.epochs * per_epoch) : config.epochs * per_epoch;
  std::unique_ptr<util::ProgressLine> line;
  if (show_progress && lead) line = std::make_unique<util::ProgressLine>("train", total_steps, "step");
  data::Batch batch;
  std::vector<float> roll_row;
  double window_start = Now();
  int64_t window_samples = 0;
  double samples_per_s = 0;

  auto validate = [&]() -> absl::Status {
    std::map<std::string, double> sums;
    std::map<std::string, std::map<std::string, double>> base_sums;
    int64_t frames = 0;
    if (par != nullptr) broadcast_bn_stats();  // validate rank 0's model on every rank
    absl::Status s = data.ForEachValidationBatch([&](const data::Batch& vb) -> absl::Status {
      if (vb.n == 0 && par != nullptr) return absl::OkStatus();
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
    if (par != nullptr) {
      // Sum over the ranks: the key set is the scorer's (fixed), so every rank packs the
      // same vector even when it scored no frame.
      const std::vector<float> probe(size_t(h) * w, 1.0f);
      std::vector<std::string> keys;
      for (const auto& [k, v] : scorer(probe.data(), probe.data(), h, w)) keys.push_back(k);
      std::vector<std::string> names = {"prev_gt"};
      for (const auto& [name, map] : baselines) names.push_back(name);
      std::vector<double> packed = {static_cast<double>(frames)};
      for (const std::string& k : keys) packed.push_back(sums.count(k) ? sums[k] : 0.0);
      for (const std::string& b : names) {
        for (const std::string& k : keys) packed.push_back(base_sums[b].count(k) ? base_sums[b][k] : 0.0);
      }
      par->AllReduceHost(packed.data(), static_cast<int64_t>(packed.size()));
      frames = static_cast<int64_t>(packed[0]);
      size_t at = 1;
      sums.clear();
      base_sums.clear();
      if (frames > 0) {
        for (const std::string& k : keys) sums[k] = packed[at++];
        for (const std::string& b : names) {
          for (const std::string& k : keys) base_sums[b][k] = packed[at++];
        }
      }
    }
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
    // --max_steps reached; but an epoch whose batches are all done (a checkpoint at its
    // last step, then a kill before its validation) is completed first.
    if (config.max_steps > 0 && progress.step >= config.max_steps && progress.position < per_epoch) break;
    if (absl::Status s = data.StartEpoch(progress.epoch, progress.position); !s.ok()) return s;
    bool epoch_done = progress.position >= per_epoch;
    while (!epoch_done) {
      if (config.max_steps > 0 && progress.step >= config.max_steps) {
        stop_now = true;
        break;
      }
      bool stop = StopRequested().load();
      int global_n = 0;
      if (par != nullptr) {
        // Agree on stopping (a signal may reach the ranks at different steps) before the
        // batch is used, and learn the global batch size.
        if (absl::Status s = data.NextBatch(batch); !s.ok()) return s;
        double agree[2] = {stop ? 1.0 : 0.0, static_cast<double>(batch.n)};
        par->AllReduceHost(agree, 2);
        stop = agree[0] > 0;
        global_n = static_cast<int>(agree[1]);
      }
      if (stop) {
        if (absl::Status s = save(last_path); !s.ok()) return s;
        if (lead) dir.UpdateReport();
        if (line) line->Finish("stopped");
        if (lead) {
          std::fprintf(stderr, "train: stopped at step %lld; %s holds the state; continue with --resume\n",
                       static_cast<long long>(progress.step), last_path.c_str());
        }
        result.stopped_by_signal = true;
        result.steps = progress.step;
        result.seconds = Now() - t_start;
        return result;
      }
      if (par == nullptr) {
        if (absl::Status s = data.NextBatch(batch); !s.ok()) return s;
        if (batch.n == 0) break;
      } else if (global_n == 0) {
        break;  // the epoch is over on every rank
      } else if (batch.n == 0) {
        return absl::InternalError(absl::StrCat(world->Name(), ": no samples in a batch the other ranks have"));
      }
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
      // Data parallel: this rank's share of the global batch's loss (and gradient).
      float loss = kld ? nn::SphereKldLoss(out, t, row_weights, &model.output_grad(), nn::kKldEps, global_n)
                       : nn::SphereMseLoss(out, t, row_weights, &model.output_grad(), global_n);
      if (par != nullptr) {
        double l = loss;
        par->AllReduceHost(&l, 1);
        loss = static_cast<float>(l);
      }
      if (!std::isfinite(loss)) {
        if (line) line->Finish("diverged");
        return absl::InternalError(absl::StrCat(
            "training diverged: the loss is ", loss, " at step ", progress.step + 1, " (epoch ",
            progress.epoch + 1, "); stopping. ", RunDir::Exists(last_path) ? last_path : "No checkpoint",
            RunDir::Exists(last_path) ? " keeps the last good state" : " was written yet",
            " (try a smaller --lr)"));
      }
      model.Backward(model.output_grad());
      if (par != nullptr) reduce_gradients();
      opt.Step();
      ++progress.step;
      ++progress.position;
      progress.epoch_loss_sum += loss;
      ++progress.epoch_loss_steps;
      progress.last_loss = loss;
      result.last_loss = loss;
      window_samples += par != nullptr ? global_n : batch.n;
      const double now = Now();
      // Training throughput over windows of >= 5 s (one step can take a second);
      // the window restarts after validation and checkpoints, which it excludes.
      if (now - window_start > 5.0 || samples_per_s == 0) {
        samples_per_s = window_samples / std::max(now - window_start, 1e-9);
        window_start = now;
        window_samples = 0;
      }
      if (lead) logs.Step(progress.epoch + 1, progress.step, loss, samples_per_s, progress.elapsed_s + now - t_start);
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
    const double train_loss =
        progress.epoch_loss_steps > 0 ? progress.epoch_loss_sum / progress.epoch_loss_steps : 0.0;
    progress.epoch_loss_sum = 0;
    progress.epoch_loss_steps = 0;
    ++progress.epoch;
    progress.position = 0;
    ++result.epochs_done;
    if (config.validate) {
      if (absl::Status s = validate(); !s.ok()) return s;
    }
    if (lead) logs.Epoch(progress.epoch, progress.step, train_loss, result.last_val, result.baselines_val);
    bool improved = false;
    if (const auto it = result.last_val.find("cc"); it != result.last_val.end() && it->second > progress.best_val_cc) {
      progress.best_val_cc = it->second;
      progress.best_epoch = progress.epoch;
      progress.best_val = result.last_val;
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
    if (par != nullptr) broadcast_bn_stats();  // rank 0's statistics go into the checkpoint
    if (improved) {
      if (absl::Status s = save(best_path); !s.ok()) return s;
    }
    if (absl::Status s = save(last_path); !s.ok()) return s;
    if (lead) dir.UpdateReport();
    window_start = Now();
    window_samples = 0;
  }
  // Stopped by --max_steps mid-epoch, or done: the last state is always on disk.
  if (par != nullptr) broadcast_bn_stats();
  if (absl::Status s = save(last_path); !s.ok()) return s;
  if (lead && !dir.has_best()) {
    // No completed validation yet (e.g. --max_steps inside the first epoch): the last
    // state is the best known, so `test` has a checkpoint to use at once.
    if (absl::Status s = save(best_path); !s.ok()) return s;
  }
  if (lead) dir.UpdateReport();
  if (par != nullptr) par->Barrier();  // every rank has finished its work
  if (line) line->Finish(absl::StrFormat("loss %.4g", result.last_loss));
  result.steps = progress.step;
  result.seconds = Now() - t_start;
  return result;
}

}  // namespace sal360::train

#include "train/loader_data.h"

#include <optional>
#include <utility>
#include <vector>

#include "data/metrics.h"
#include "nn/model.h"

namespace sal360::train {

absl::StatusOr<std::unique_ptr<LoaderData>> LoaderData::Create(const data::OpenedData& d, const TrainConfig& c,
                                                               int rank, int ranks) {
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
  lo.map_scale = nn::kMapScale;
  lo.shard_rank = rank;
  lo.shard_count = ranks;
  absl::StatusOr<std::unique_ptr<data::Loader>> tl = data::Loader::Create(d.dataset, *train, lo);
  if (!tl.ok()) return tl.status();
  out->train_ = *std::move(tl);
  absl::StatusOr<std::vector<data::FrameRef>> val = d.dataset->FramesOf(d.split.val);
  if (!val.ok()) return val.status();
  if (ranks > 1) {
    const size_t v = val->size();
    *val = std::vector<data::FrameRef>(val->begin() + v * rank / ranks, val->begin() + v * (rank + 1) / ranks);
  }
  lo.shard_rank = 0;
  lo.shard_count = 1;
  if (!val->empty()) {
    lo.shuffle = false;
    absl::StatusOr<std::unique_ptr<data::Loader>> vl = data::Loader::Create(d.dataset, *val, lo);
    if (!vl.ok()) return vl.status();
    out->val_ = *std::move(vl);
  }
  return out;
}

absl::Status LoaderData::NextBatch(data::Batch& b) {
  // `b` holds the batch the trainer has finished with: its buffers go back to the
  // loader, which assembles a later batch in them instead of in fresh allocations
  // (data::Loader::Recycle; the contents of every batch are the same either way).
  if (b.input.capacity() > 0 || b.target.capacity() > 0) train_->Recycle(std::move(b));
  b = data::Batch();
  absl::StatusOr<std::optional<data::Batch>> next = train_->Next();
  if (!next.ok()) return next.status();
  if (next->has_value()) b = **std::move(next);
  return absl::OkStatus();
}

absl::Status LoaderData::ForEachValidationBatch(const std::function<absl::Status(const data::Batch&)>& fn) {
  if (val_ == nullptr) return absl::OkStatus();
  if (absl::Status s = val_->Start(0, 0); !s.ok()) return s;
  while (true) {
    absl::StatusOr<std::optional<data::Batch>> next = val_->Next();
    if (!next.ok()) return next.status();
    if (!next->has_value()) return absl::OkStatus();
    data::Batch b = **std::move(next);
    if (absl::Status s = fn(b); !s.ok()) return s;
    val_->Recycle(std::move(b));
  }
}

std::map<std::string, double> ValidationScores(const float* pred, const float* gt, int h, int w) {
  const data::MetricSet m = data::ComputeMetrics(pred, gt, nullptr, h, w);
  return {{"cc", m.cc}, {"kld", m.kld}, {"cc_sphere", m.cc_sphere}, {"kld_sphere", m.kld_sphere}};
}

}  // namespace sal360::train

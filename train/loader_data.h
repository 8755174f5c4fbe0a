// TrainingData over the dataset (data::Loader): shuffled training batches of the split's
// training videos, the validation videos in order, in the network's scale; and the
// validation scorer (CC, KLD and their sphere-weighted versions, data/metrics.h).
#ifndef SAL360_TRAIN_LOADER_DATA_H_
#define SAL360_TRAIN_LOADER_DATA_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "data/loader.h"
#include "data/source.h"
#include "train/config.h"
#include "train/trainer.h"

namespace sal360::train {

class LoaderData : public TrainingData {
 public:
  // Data-parallel training: rank `rank` of `ranks` takes its slice of every training
  // batch (data::LoaderOptions::shard_rank) and the contiguous slice
  // [V·rank/ranks, V·(rank+1)/ranks) of the V validation frames (nothing dropped).
  static absl::StatusOr<std::unique_ptr<LoaderData>> Create(const data::OpenedData& d, const TrainConfig& c,
                                                            int rank = 0, int ranks = 1);
  int64_t batches_per_epoch() const override { return train_->batches_per_epoch(); }
  absl::Status StartEpoch(int64_t epoch, int64_t position) override { return train_->Start(epoch, position); }
  absl::Status NextBatch(data::Batch& b) override;
  absl::Status ForEachValidationBatch(const std::function<absl::Status(const data::Batch&)>& fn) override;

 private:
  LoaderData() = default;
  std::unique_ptr<data::Loader> train_, val_;
};

// The validation metrics of a map against its ground truth.
std::map<std::string, double> ValidationScores(const float* pred, const float* gt, int h, int w);

}  // namespace sal360::train

#endif  // SAL360_TRAIN_LOADER_DATA_H_

#include "data/source.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "data/baselines.h"
#include "util/file.h"
#include "util/progress.h"

namespace sal360::data {

absl::Status ValidateTemporalConfig(const TemporalConfig& config) {
  SAL360_TEMPORAL_OPTIONS(SAL360_OPTION_CHECK)
  return absl::OkStatus();
}

absl::Status ValidateDataConfig(const DataConfig& config) {
  SAL360_DATASET_OPTIONS(SAL360_OPTION_CHECK)
  if (absl::StatusOr<std::string> mode = ResolveSplitMode(config.split, config.split_file); !mode.ok()) {
    return mode.status();
  }
  return ValidateTemporalConfig(config);
}

absl::StatusOr<SampleOptions> TemporalSampleOptions(const TemporalConfig& config, int height, int width) {
  if (absl::Status s = ValidateTemporalConfig(config); !s.ok()) return s;
  absl::StatusOr<FirstFramesPolicy> first = ParseFirstFramesPolicy(config.first_frames);
  if (!first.ok()) return first.status();
  SampleOptions o;
  o.height = height;
  o.width = width;
  o.first_frames = *first;
  o.prev_interval = config.prev_interval;
  return o;
}

SyntheticOptions DefaultSyntheticOptions() {
  return SyntheticOptions();  // the data library's defaults (issue #5)
}

absl::StatusOr<OpenedData> OpenData(const DataConfig& config, int height, int width) {
  if (absl::Status s = ValidateDataConfig(config); !s.ok()) return s;
  OpenedData out;
  if (config.data.empty()) {
    // The line starts its clock before generation (so the first rate is real) and
    // prints only when the callback runs, i.e. when the dataset is not cached yet.
    const SyntheticOptions options = DefaultSyntheticOptions();
    util::ProgressLine line("synthetic dataset", int64_t{options.videos} * options.frames, "frame");
    absl::StatusOr<std::string> root = EnsureSyntheticDataset(options, "", [&](int64_t done, int64_t total) {
      line.Update(done);
      if (done == total) line.Finish();
    });
    if (!root.ok()) return root.status();
    out.root = *root;
  } else {
    out.root = util::UserPath(config.data);
  }
  absl::StatusOr<Dataset> dataset = Dataset::Open(out.root);
  if (!dataset.ok()) return dataset.status();
  out.dataset = std::make_shared<const Dataset>(*std::move(dataset));
  absl::StatusOr<std::string> mode = ResolveSplitMode(config.split, config.split_file);
  if (!mode.ok()) return mode.status();
  if (*mode == "seed") {
    SeedSplitOptions so;
    so.seed = config.split_seed;
    so.train_videos = config.train_videos;
    so.val_videos = config.val_videos;
    so.val_seed = config.val_seed;
    absl::StatusOr<Split> split = SeedSplit(out.dataset->videos(), so);
    if (!split.ok()) return absl::InvalidArgumentError(absl::StrCat("--split=seed: ", split.status().message()));
    out.split = *std::move(split);
  } else {
    absl::StatusOr<Split> split = ReadSplitFile(util::UserPath(config.split_file), out.dataset->videos());
    if (!split.ok()) return split.status();
    out.split = *std::move(split);
  }
  absl::StatusOr<GtSource> gt = ParseGtSource(config.gt);
  if (!gt.ok()) return gt.status();
  absl::StatusOr<SampleOptions> sample = TemporalSampleOptions(config, height, width);
  if (!sample.ok()) return sample.status();
  out.sample = *std::move(sample);
  out.sample.gt = *gt;
  out.sample.gt_options.sigma = config.gaze_sigma;
  return out;
}

absl::StatusOr<std::vector<float>> EquatorPrior(const OpenedData& d, int max_frames) {
  absl::StatusOr<std::vector<FrameRef>> frames = d.dataset->FramesOf(d.split.train);
  if (!frames.ok()) return frames.status();
  const int h = d.sample.height, w = d.sample.width;
  MeanMapAccumulator mean(h, w);
  const int64_t n = static_cast<int64_t>(frames->size());
  const int64_t take = std::min<int64_t>(n, max_frames);
  for (int64_t i = 0; i < take; ++i) {
    const FrameRef& ref = (*frames)[static_cast<size_t>(i * n / take)];
    absl::StatusOr<std::vector<float>> gt = FrameGroundTruth(*d.dataset, ref, h, w, d.sample);
    if (!gt.ok()) return gt.status();
    mean.Add(gt->data());
  }
  return mean.Mean();
}

}  // namespace sal360::data

// Where a tool's frames come from: the dataset options every data-reading tool shares
// (train, test, check_data), declared once (util/options.h), and opening them: the
// dataset (or the embedded synthetic one, generated into the cache on first use), its
// split, and the sample options.
#ifndef SAL360_DATA_SOURCE_H_
#define SAL360_DATA_SOURCE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/dataset.h"
#include "data/ground_truth.h"
#include "data/loader.h"
#include "data/split.h"
#include "data/synthetic.h"
#include "util/options.h"

// Which frames, which split, which ground truth. "split" is "" by default: file when
// --split_file is given, else seed (ResolveSplitMode).
#define SAL360_DATASET_OPTIONS(X)                                                                      \
  X(std::string, data, "", opt::kMayChange, opt::Any(),                                                \
    "Dataset root (vinfo.pkl + one folder per video). Empty: the embedded synthetic dataset, "         \
    "generated once into the cache ($SAL360_CACHE or ~/.cache/sal360)")                               \
  X(std::string, split, "", opt::kFixed, opt::OneOf({"", "seed", "file"}),                             \
    "seed: the published video selection (random.Random(--split_seed).sample(sorted(videos), k)); "    \
    "file: read --split_file. Default: file when --split_file is given, else seed")                   \
  X(std::string, split_file, "", opt::kFixed, opt::Any(),                                              \
    "JSON {\"train\": [...], \"val\": [...], \"test\": [...]} (implies --split=file)")                 \
  X(int64_t, split_seed, ::sal360::data::kPublishedSplitSeed, opt::kFixed, opt::Any(),                 \
    "Seed of --split=seed (the published one)")                                                        \
  X(int, train_videos, 0, opt::kFixed, opt::AtLeast(0),                                                \
    "Training videos of --split=seed; 0 = round(80 * n / 104)")                                        \
  X(int, val_videos, 1, opt::kFixed, opt::AtLeast(0),                                                  \
    "Training videos held out for validation (--split=seed); also excluded from the equator "         \
    "baseline's mean")                                                                                 \
  X(int64_t, val_seed, 1, opt::kFixed, opt::Any(), "Seed choosing the validation videos")              \
  X(std::string, gt, "cache", opt::kFixed, opt::OneOf({"cache", "generate"}),                          \
    "Ground truth: cache (NNNN_gt.npy when present) | generate (from the gaze points)")                \
  X(double, gaze_sigma, ::sal360::data::kDefaultGazeSigma, opt::kFixed, opt::Positive(),               \
    "Sigma (radians) of the spherical Gaussian of generated ground truth and the centre prior")

// The temporal input: shared by the data (a sample's previous map) and by inference
// (infer/sequence.h), so predict takes the same flags as train and test.
#define SAL360_TEMPORAL_OPTIONS(X)                                                              \
  X(int, prev_interval, 5, opt::kFixed, opt::AtLeast(1),                                        \
    "The previous-map input of frame k comes from frame k - interval")                          \
  X(std::string, first_frames, "centre", opt::kFixed, opt::OneOf({"centre", "center", "zeros"}), \
    "Previous map of a video's first frames (no frame k - interval): centre (the centre prior, " \
    "as in training) | zeros")

namespace sal360::data {

struct TemporalConfig {
  SAL360_TEMPORAL_OPTIONS(SAL360_OPTION_FIELD)
};

struct DataConfig : TemporalConfig {
  SAL360_DATASET_OPTIONS(SAL360_OPTION_FIELD)
};

// Each option's rule, with messages naming the flag.
absl::Status ValidateTemporalConfig(const TemporalConfig& config);
absl::Status ValidateDataConfig(const DataConfig& config);

// The sample options of the temporal options at (height, width) (ground truth options
// default).
absl::StatusOr<SampleOptions> TemporalSampleOptions(const TemporalConfig& config, int height, int width);

// The embedded synthetic dataset used when no --data is given.
SyntheticOptions DefaultSyntheticOptions();

struct OpenedData {
  std::string root;  // the dataset directory actually used
  std::shared_ptr<const Dataset> dataset;
  Split split;
  SampleOptions sample;  // for (height, width) and the options above
};
// Generates the synthetic dataset into the cache when needed (with a progress line),
// opens the dataset, computes the split. Errors name the flag or the file. `data` and
// `split_file` are user paths (util::UserPath applies).
absl::StatusOr<OpenedData> OpenData(const DataConfig& config, int height, int width);

// The equator-bias baseline: the mean training ground truth at the sample size
// (MeanMapAccumulator), from at most `max_frames` training frames spread evenly over the
// set (the mean converges long before; the cap bounds the time on the real dataset).
absl::StatusOr<std::vector<float>> EquatorPrior(const OpenedData& data, int max_frames = 2000);

}  // namespace sal360::data

#endif  // SAL360_DATA_SOURCE_H_

// Validates a dataset before a long training run and prints one JSON object to stdout
// (format: data/check.h, docs/data.md).
//
//   bazel run //tools:check_data -- --data=ROOT [--split=seed | --split_file=F]
//
// Exit status: 0 when the dataset is usable, 1 when it is not (every problem is listed
// in the JSON), 2 on bad usage.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "data/check.h"
#include "util/progress.h"
#include "tools/flags.h"
#include "util/file.h"

// And the shared dataset flags (--data, --split, --split_file, --split_seed, --train_videos,
// --val_videos, --val_seed, --gaze_sigma, --prev_interval; //tools:data_flags).
ABSL_FLAG(int, threads, 2, "Decoding threads");
ABSL_FLAG(int, max_listed, 100, "Problems listed in full in the JSON");
ABSL_FLAG(bool, write_gt_cache, false,
          "Write the missing NNNN_gt.npy caches (generated from the gaze points, atomically)");
ABSL_FLAG(int, gt_cache_height, 128, "Height of written caches");
ABSL_FLAG(int, gt_cache_width, 256, "Width of written caches");

int main(int argc, char** argv) {
  sal360::tools::SetToolUsage(
      "Validates a dataset: --data=ROOT [--split=seed | --split_file=F]; JSON to stdout; "
      "exit 1 when unusable.");
  ::sal360::tools::ParseCommandLine(argc, argv);
  const sal360::data::DataConfig dc = sal360::tools::DataConfigFromFlags();
  sal360::data::CheckOptions o;
  o.root = sal360::util::UserPath(dc.data);
  o.split = dc.split;
  o.split_file = sal360::util::UserPath(dc.split_file);
  o.seed_split.seed = dc.split_seed;
  o.seed_split.train_videos = dc.train_videos;
  o.seed_split.val_videos = dc.val_videos;
  o.seed_split.val_seed = dc.val_seed;
  o.prev_interval = dc.prev_interval;
  o.threads = absl::GetFlag(FLAGS_threads);
  o.max_listed = absl::GetFlag(FLAGS_max_listed);
  o.write_gt_cache = absl::GetFlag(FLAGS_write_gt_cache);
  o.gt_cache_height = absl::GetFlag(FLAGS_gt_cache_height);
  o.gt_cache_width = absl::GetFlag(FLAGS_gt_cache_width);
  o.gt_options.sigma = dc.gaze_sigma;
  std::string usage_error;
  if (absl::Status s = sal360::data::ValidateDataConfig(dc); !s.ok()) usage_error = std::string(s.message());
  if (o.root.empty()) usage_error = "--data=ROOT is required";
  if (absl::StatusOr<std::string> mode = sal360::data::ResolveSplitMode(o.split, o.split_file);
      mode.ok()) {
    o.split = *mode;
  } else {
    usage_error = std::string(mode.status().message());
  }
  if (o.prev_interval < 1 || o.threads < 1 || o.max_listed < 0) {
    usage_error = "--prev_interval and --threads must be >= 1, --max_listed >= 0";
  }
  if (o.gt_cache_height < 1 || o.gt_cache_width < 1 || !(o.gt_options.sigma > 0)) {
    usage_error = "--gt_cache_height/width and --gaze_sigma must be > 0";
  }
  if (!usage_error.empty()) {
    std::fprintf(stderr, "check_data: %s (see --help)\n", usage_error.c_str());
    return 2;
  }
  std::unique_ptr<sal360::util::ProgressLine> bar;
  const nlohmann::ordered_json report =
      sal360::data::CheckDataset(o, [&](int64_t done, int64_t total) {
        if (!bar) bar = std::make_unique<sal360::util::ProgressLine>("check_data", total, "frames");
        bar->Update(done);
        if (done == total) bar->Finish();
      });
  std::printf("%s\n", report.dump(2).c_str());
  const bool usable = report.value("usable", false);
  if (!usable) {
    std::fprintf(stderr, "check_data: %s is NOT usable: %s\n", o.root.c_str(),
                 report.contains("fatal")
                     ? report["fatal"].get<std::string>().c_str()
                     : absl::StrCat(report["problems"]["errors"].get<int64_t>(),
                                    " error(s), see \"problems\"")
                           .c_str());
    return 1;
  }
  return 0;
}

#include "tools/model_lib.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "data/baselines.h"
#include "nlohmann/json.hpp"
#include "nn/checkpoint.h"
#include "sphere/tables.h"
#include "util/progress.h"

namespace sal360::tools {

std::string CacheDir() {
  if (const char* c = std::getenv("SAL360_CACHE"); c != nullptr && *c != '\0') return UserPath(c);
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x == '/') {
    return absl::StrCat(x, "/sal360");
  }
  if (const char* h = std::getenv("HOME"); h != nullptr && *h == '/') {
    return absl::StrCat(h, "/.cache/sal360");
  }
  return "/tmp/sal360-cache";
}

absl::StatusOr<nn::Device> DeviceFromFlag(const std::string& value) {
  if (value != "auto" && value != "cpu" && value != "cuda") {
    return absl::InvalidArgumentError(
        absl::StrCat("--device must be auto, cpu or cuda, not '", value, "'"));
  }
  absl::StatusOr<nn::Device> d = nn::ResolveDevice(value);
  if (!d.ok()) return absl::InvalidArgumentError(absl::StrCat("--device=", value, ": ", d.status().message()));
  return d;
}

absl::StatusOr<LoadedModel> LoadModelForInference(const std::string& path, nn::Device device,
                                                  const std::string& table_mode_override,
                                                  const std::string& convention_override) {
  LoadedModel out;
  absl::StatusOr<util::Safetensors> st = util::ReadSafetensors(path);
  if (!st.ok()) return st.status();
  out.file = *std::move(st);
  absl::StatusOr<nn::ModelConfig> config = nn::ModelConfigFromCheckpoint(out.file, path);
  if (!config.ok()) return config.status();
  if (!table_mode_override.empty()) {
    absl::StatusOr<sphere::TableMode> m = nn::ParseTableMode(table_mode_override);
    if (!m.ok()) return absl::InvalidArgumentError(absl::StrCat("--table_mode: ", m.status().message()));
    config->table_mode = *m;
  }
  if (!convention_override.empty()) {
    absl::StatusOr<sphere::Convention> c = nn::ParseConvention(convention_override);
    if (!c.ok()) return absl::InvalidArgumentError(absl::StrCat("--convention: ", c.status().message()));
    config->convention = *c;
  }
  out.model = std::make_unique<nn::SphericalUNet>(device, *config);
  if (absl::Status s = nn::ImportModel(out.file, path, *out.model); !s.ok()) return s;
  return out;
}

data::SyntheticOptions DefaultSyntheticOptions() {
  data::SyntheticOptions o;  // the data library's defaults (issue #5)
  return o;
}

absl::StatusOr<OpenedData> OpenData(const DataConfig& config, int height, int width) {
  OpenedData out;
  if (config.data.empty()) {
    // The line starts its clock before generation (so the first rate is real) and
    // prints only when the callback runs, i.e. when the dataset is not cached yet.
    const data::SyntheticOptions options = DefaultSyntheticOptions();
    util::ProgressLine line("synthetic dataset", int64_t{options.videos} * options.frames, "frame");
    absl::StatusOr<std::string> root =
        data::EnsureSyntheticDataset(options, "", [&](int64_t done, int64_t total) {
          line.Update(done);
          if (done == total) line.Finish();
        });
    if (!root.ok()) return root.status();
    out.root = *root;
  } else {
    out.root = UserPath(config.data);
  }
  absl::StatusOr<data::Dataset> dataset = data::Dataset::Open(out.root);
  if (!dataset.ok()) return dataset.status();
  out.dataset = std::make_shared<const data::Dataset>(*std::move(dataset));
  // "" (as from the flags' default) resolves like the tools do: file when a split file is given.
  absl::StatusOr<std::string> mode = data::ResolveSplitMode(config.split, config.split_file);
  if (!mode.ok()) return mode.status();
  if (*mode == "seed") {
    data::SeedSplitOptions so;
    so.val_videos = config.val_videos;
    absl::StatusOr<data::Split> split = data::SeedSplit(out.dataset->videos(), so);
    if (!split.ok()) return absl::InvalidArgumentError(absl::StrCat("--split=seed: ", split.status().message()));
    out.split = *std::move(split);
  } else {
    absl::StatusOr<data::Split> split = data::ReadSplitFile(UserPath(config.split_file), out.dataset->videos());
    if (!split.ok()) return split.status();
    out.split = *std::move(split);
  }
  absl::StatusOr<data::GtSource> gt = data::ParseGtSource(config.gt);
  if (!gt.ok()) return absl::InvalidArgumentError(absl::StrCat("--gt: ", gt.status().message()));
  absl::StatusOr<data::FirstFramesPolicy> first = data::ParseFirstFramesPolicy(config.first_frames);
  if (!first.ok()) return absl::InvalidArgumentError(absl::StrCat("--first_frames: ", first.status().message()));
  if (config.prev_interval < 1) return absl::InvalidArgumentError("--prev_interval must be at least 1");
  out.sample.height = height;
  out.sample.width = width;
  out.sample.gt = *gt;
  out.sample.first_frames = *first;
  out.sample.prev_interval = config.prev_interval;
  return out;
}

absl::StatusOr<std::vector<float>> EquatorPrior(const OpenedData& d, int max_frames) {
  absl::StatusOr<std::vector<data::FrameRef>> frames = d.dataset->FramesOf(d.split.train);
  if (!frames.ok()) return frames.status();
  const int h = d.sample.height, w = d.sample.width;
  data::MeanMapAccumulator mean(h, w);
  const int64_t n = static_cast<int64_t>(frames->size());
  const int64_t take = std::min<int64_t>(n, max_frames);
  for (int64_t i = 0; i < take; ++i) {
    const data::FrameRef& ref = (*frames)[static_cast<size_t>(i * n / take)];
    absl::StatusOr<std::vector<float>> gt = data::FrameGroundTruth(*d.dataset, ref, h, w, d.sample);
    if (!gt.ok()) return gt.status();
    mean.Add(gt->data());
  }
  return mean.Mean();
}

absl::Status LoadTablesDir(const std::string& dir, int height, int width, const nn::ModelConfig& config) {
  if (dir.empty()) return absl::OkStatus();
  sphere::TableSpec base;  // what SphericalUNet builds for level 0 (radius: one row step)
  base.height = height;
  base.width = width;
  base.mode = config.table_mode;
  base.convention = config.convention;
  if (absl::Status s = sphere::CacheTablesFromDir(UserPath(dir), base, nn::kNumLevels); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("--tables_dir: ", s.message()));
  }
  return absl::OkStatus();
}

std::optional<int> TrainingHeight(const util::Safetensors& checkpoint) {
  const auto it = checkpoint.metadata.find("sal360.train.config");
  if (it == checkpoint.metadata.end()) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(it->second, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("height") || !j["height"].is_number_integer()) {
    return std::nullopt;
  }
  return j["height"].get<int>();
}

void PackInput(const float* rgb_hwc, const float* prev_hw, int h, int w, float* dst) {
  const int64_t pixels = int64_t{h} * w;
  for (int64_t p = 0; p < pixels; ++p) {
    dst[4 * p + 0] = rgb_hwc[3 * p + 0];
    dst[4 * p + 1] = rgb_hwc[3 * p + 1];
    dst[4 * p + 2] = rgb_hwc[3 * p + 2];
    dst[4 * p + 3] = prev_hw != nullptr ? prev_hw[p] : 0.0f;
  }
}

}  // namespace sal360::tools

#include "infer/model.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "nn/checkpoint.h"
#include "sphere/tables.h"
#include "util/file.h"

namespace sal360::infer {

std::string TableModeViolation(const std::string& value) {
  if (value.empty()) return "";
  absl::StatusOr<sphere::TableMode> m = nn::ParseTableMode(value);
  return m.ok() ? "" : absl::StrCat("is invalid: ", m.status().message());
}

std::string ConventionViolation(const std::string& value) {
  if (value.empty()) return "";
  absl::StatusOr<sphere::Convention> c = nn::ParseConvention(value);
  return c.ok() ? "" : absl::StrCat("is invalid: ", c.status().message());
}

absl::Status ValidateInferConfig(const InferConfig& config) {
  SAL360_INFER_OPTIONS(SAL360_OPTION_CHECK)
  return absl::OkStatus();
}

absl::StatusOr<nn::Device> ParseDevice(const std::string& value) {
  if (value != "auto" && value != "cpu" && value != "cuda") {
    return absl::InvalidArgumentError(absl::StrCat("--device must be auto, cpu or cuda, not '", value, "'"));
  }
  absl::StatusOr<nn::Device> d = nn::ResolveDevice(value);
  if (!d.ok()) return absl::InvalidArgumentError(absl::StrCat("--device=", value, ": ", d.status().message()));
  return d;
}

absl::StatusOr<LoadedModel> LoadModel(const std::string& path, nn::Device device,
                                      const std::string& table_mode_override,
                                      const std::string& convention_override) {
  LoadedModel out;
  out.path = path;
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

std::optional<int> TrainingHeight(const util::Safetensors& checkpoint) {
  const auto it = checkpoint.metadata.find(nn::kMetaTrainConfig);
  if (it == checkpoint.metadata.end()) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(it->second, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("height") || !j["height"].is_number_integer()) {
    return std::nullopt;
  }
  return j["height"].get<int>();
}

absl::StatusOr<std::pair<int, int>> Resolution(const InferConfig& config, const LoadedModel& model) {
  const int h = config.height > 0 ? config.height : TrainingHeight(model.file).value_or(240);
  const int w = config.width > 0 ? config.width : 2 * h;
  if (const std::string bad = nn::SphericalUNet::CheckInputShape(nn::Shape{1, h, w, 4}); !bad.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--height/--width: ", bad));
  }
  return std::make_pair(h, w);
}

absl::Status LoadTablesDir(const std::string& dir, int height, int width, const nn::ModelConfig& config) {
  if (dir.empty()) return absl::OkStatus();
  sphere::TableSpec base;  // what SphericalUNet builds for level 0 (radius: one row step)
  base.height = height;
  base.width = width;
  base.mode = config.table_mode;
  base.convention = config.convention;
  if (absl::Status s = sphere::CacheTablesFromDir(util::UserPath(dir), base, nn::kNumLevels); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("--tables_dir: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace sal360::infer

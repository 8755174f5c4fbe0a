#include "tools/model_lib.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nn/checkpoint.h"

namespace sal360::tools {

std::string UserPath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const char* wd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (wd == nullptr || *wd == '\0') return path;
  return absl::StrCat(wd, "/", path);
}

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

#include "infer/model.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include <cstdlib>
#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/published_tables.h"
#include "data/torch_file.h"
#include "nlohmann/json.hpp"
#include "nn/checkpoint.h"
#include "nn/context.h"
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

absl::StatusOr<nn::Device> ParseDeviceAndMath(const std::string& device, const std::string& gpu_engine,
                                              const std::string& precision) {
  absl::StatusOr<nn::Device> d = ParseDevice(device);
  if (!d.ok()) return d;
  absl::StatusOr<nn::GpuEngine> engine = nn::ParseGpuEngine(gpu_engine);
  if (!engine.ok()) return absl::InvalidArgumentError(absl::StrCat("--gpu_engine: ", engine.status().message()));
  absl::StatusOr<nn::Precision> p = nn::ParsePrecision(precision);
  if (!p.ok()) return absl::InvalidArgumentError(absl::StrCat("--precision: ", p.status().message()));
  if (absl::Status s = nn::Context::Get(*d).SetMath(nn::GpuMath{*engine, *p}); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--device=", device, " (", nn::DeviceName(*d),
                                                   ") --gpu_engine=", gpu_engine, " --precision=", precision,
                                                   ": ", s.message()));
  }
  return d;
}

int64_t AvailableHostBytes() {
  absl::StatusOr<std::string> text = util::ReadFile("/proc/meminfo", 1 << 20);
  if (!text.ok()) return 0;
  const size_t at = text->find("MemAvailable:");
  if (at == std::string::npos) return 0;
  return std::strtoll(text->c_str() + at + 13, nullptr, 10) * 1024;  // "MemAvailable:  123 kB"
}

std::string FormatBytes(int64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) v /= 1024, ++u;
  return v >= 100 || u == 0 ? absl::StrFormat("%.0f %s", v, kUnits[u]) : absl::StrFormat("%.1f %s", v, kUnits[u]);
}

absl::Status CheckMemory(int64_t batch, int64_t height, int64_t width, sphere::TableMode mode, nn::Device device,
                         const std::string& flags) {
  if (device != nn::Device::kCpu) return absl::OkStatus();
  const nn::MemoryEstimate e = nn::EstimateMemory(batch, height, width, mode);
  const int64_t available = AvailableHostBytes();
  if (available <= 0 || e.total() <= available) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      height, "x", width, " at batch ", batch, " needs an estimated ", FormatBytes(e.total()), " of memory (activations ",
      FormatBytes(e.workspace), ", tables ", FormatBytes(e.tables), ", scratch ", FormatBytes(e.scratch),
      "), but ", FormatBytes(available), " are available; lower ", flags));
}

bool IsTorchFile(const std::string& path) {
  // Only the first bytes of a regular file (O_NONBLOCK: a FIFO must not block here; the
  // reader then refuses it with a message).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st;
  unsigned char head[4] = {0, 0, 0, 0};
  const ssize_t n = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? ::read(fd, head, 4) : 0;
  ::close(fd);
  // A zip archive, or the legacy stream's first pickle (protocol 2, then a LONG1).
  return n == 4 && ((std::memcmp(head, "PK\x03\x04", 4) == 0) || (head[0] == 0x80 && head[1] == 0x02 && head[2] == 0x8a));
}

absl::StatusOr<util::Safetensors> TorchCheckpointToSafetensors(const std::string& path) {
  absl::StatusOr<data::TorchFile> file = data::ReadTorchFile(path);
  if (!file.ok()) return file.status();
  absl::StatusOr<std::vector<std::pair<std::string, data::TorchTensor>>> sd = data::TorchStateDict(*file);
  if (!sd.ok()) return sd.status();
  util::Safetensors st;
  for (const auto& [name, t] : *sd) {
    // Floating tensors as F32 (float32 exact, others rounded), integer ones as I64;
    // ImportModel then names any tensor of the wrong name, shape or dtype.
    const bool floating = t.dtype == data::TorchDType::kFloat32 || t.dtype == data::TorchDType::kFloat64 ||
                          t.dtype == data::TorchDType::kFloat16 || t.dtype == data::TorchDType::kBFloat16;
    st.tensors[name] = floating ? util::SafetensorsTensor::FromFloat32(t.shape, t.ToFloats())
                                : util::SafetensorsTensor::FromInt64(t.shape, t.ToInt64s());
  }
  // PyTorch < 0.4.1 saved no batch counts; they do not affect inference.
  for (int i = 1; i <= nn::kNumBatchNorms; ++i) {
    const std::string bn = absl::StrCat("bn", i);
    if (st.tensors.count(bn + ".running_mean") != 0 && st.tensors.count(bn + ".num_batches_tracked") == 0) {
      st.tensors[bn + ".num_batches_tracked"] = util::SafetensorsTensor::FromInt64({}, {0});
    }
  }
  // The published method trained on seed-convention nearest tables.
  st.metadata[nn::kMetaTableMode] = "nearest";
  st.metadata[nn::kMetaConvention] = "seed";
  st.metadata["sal360.source"] = absl::StrCat("torch.save (", file->format, ") ", path);
  return st;
}

absl::StatusOr<util::Safetensors> ReadCheckpointFile(const std::string& path) {
  if (IsTorchFile(path)) return TorchCheckpointToSafetensors(path);
  return util::ReadSafetensors(path);
}

absl::StatusOr<LoadedModel> LoadModel(const std::string& path, nn::Device device,
                                      const std::string& table_mode_override,
                                      const std::string& convention_override) {
  LoadedModel out;
  out.path = path;
  absl::StatusOr<util::Safetensors> st = ReadCheckpointFile(path);
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
  const std::string path = util::UserPath(dir);
  // The published support/HxW.pt files, when there is no tables.json of ours.
  struct stat st;
  if (::stat((path + "/tables.json").c_str(), &st) != 0 && data::HasPublishedTables(path, height, width)) {
    if (absl::Status s = data::CachePublishedTables(path, base, nn::kNumLevels); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--tables_dir: ", s.message()));
    }
    return absl::OkStatus();
  }
  if (absl::Status s = sphere::CacheTablesFromDir(path, base, nn::kNumLevels); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("--tables_dir: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace sal360::infer

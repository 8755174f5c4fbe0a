// Saliency maps from .npy and .png files; see map_file.h.
#include "data/map_file.h"

#include <stb/stb_image.h>

#include <algorithm>
#include <cmath>
#include <cctype>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "data/salient360.h"
#include "util/file.h"
#include "util/npy.h"

namespace sal360::data {
namespace {

std::string LowerExtension(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

absl::Status CheckSize(const std::string& path, int64_t h, int64_t w) {
  if (h <= 0 || w <= 0 || h > kMaxMapSide || w > kMaxMapSide) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: map size %dx%d is out of range (1..%d per side)", path, h, w, kMaxMapSide));
  }
  return absl::OkStatus();
}

absl::StatusOr<SaliencyMap> FromNpy(const std::string& path, const std::string& bytes) {
  absl::StatusOr<util::NpyArray> a = util::ParseNpy(bytes, path);
  if (!a.ok()) return a.status();
  const std::vector<int64_t>& s = a->shape;
  int64_t h = 0, w = 0;
  if (s.size() == 2) {
    h = s[0], w = s[1];
  } else if (s.size() == 3 && s[0] == 1) {
    h = s[1], w = s[2];
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": array of shape (", absl::StrJoin(s, ", "),
        ") is not a single map; expected (H, W) or (1, H, W)"));
  }
  if (absl::Status st = CheckSize(path, h, w); !st.ok()) return st;
  SaliencyMap m{static_cast<int>(h), static_cast<int>(w), a->ToDoubles()};
  if (static_cast<int64_t>(m.values.size()) != h * w) {
    return absl::InternalError(absl::StrCat(path, ": npy reader returned ", m.values.size(),
                                            " values for ", h, "x", w));
  }
  return m;
}

absl::StatusOr<SaliencyMap> FromPng(const std::string& path, const std::string& bytes) {
  static const char kSignature[] = "\x89PNG\r\n\x1a\n";
  if (bytes.size() < 8 || bytes.compare(0, 8, kSignature, 8) != 0) {
    return absl::InvalidArgumentError(path + ": not a PNG file (bad signature)");
  }
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(std::min<size_t>(bytes.size(), INT32_MAX));
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &c)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read the PNG header (", stbi_failure_reason(), ")"));
  }
  if (absl::Status st = CheckSize(path, h, w); !st.ok()) return st;
  const bool sixteen = stbi_is_16_bit_from_memory(data, len);
  std::unique_ptr<void, void (*)(void*)> pixels(
      sixteen ? static_cast<void*>(stbi_load_16_from_memory(data, len, &w, &h, &c, 0))
              : static_cast<void*>(stbi_load_from_memory(data, len, &w, &h, &c, 0)),
      stbi_image_free);
  if (pixels == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": corrupt PNG (", stbi_failure_reason(), ")"));
  }
  auto at = [&](size_t k) -> double {
    return sixteen ? static_cast<const uint16_t*>(pixels.get())[k]
                   : static_cast<const uint8_t*>(pixels.get())[k];
  };
  SaliencyMap m{h, w, std::vector<double>(size_t(h) * w)};
  for (size_t k = 0; k < m.values.size(); ++k) {
    const size_t base = k * c;
    m.values[k] = at(base);
    if (c >= 3 && (at(base + 1) != at(base) || at(base + 2) != at(base))) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: colour PNG (channels differ at row %d, column %d); expected a greyscale map",
          path, k / w, k % w));
    }
  }
  return m;
}

}  // namespace

bool IsSaliencyMapFile(const std::string& path) {
  const std::string ext = LowerExtension(path);
  if (ext == ".bin") return ParseSalient360FileName(path).ok();
  return ext == ".npy" || ext == ".png";
}

absl::StatusOr<int64_t> SaliencyMapFrames(const std::string& path) {
  if (LowerExtension(path) != ".bin") return 1;
  absl::StatusOr<Salient360Name> name = ParseSalient360FileName(path);
  if (!name.ok()) return name.status();
  return std::max<int64_t>(name->frames, 1);
}

namespace {

// A NaN or ±Inf makes every metric meaningless: refused, naming the pixel (issue #18).
absl::StatusOr<SaliencyMap> Finite(const std::string& path, int64_t frame, absl::StatusOr<SaliencyMap> m) {
  if (!m.ok()) return m;
  for (size_t k = 0; k < m->values.size(); ++k) {
    if (!std::isfinite(m->values[k])) {
      return absl::InvalidArgumentError(absl::StrCat(path, frame > 0 ? absl::StrCat(" (map ", frame, ")") : "",
                                                     ": non-finite value ", m->values[k], " at pixel (",
                                                     k / m->width, ", ", k % m->width, ")"));
    }
  }
  return m;
}

absl::StatusOr<SaliencyMap> ReadAnyMap(const std::string& path, int64_t max_bytes, int64_t frame) {
  const std::string ext = LowerExtension(path);
  if (ext == ".bin") {
    Salient360Name name;
    absl::StatusOr<std::vector<float>> v = ReadSalient360Frame(path, frame, &name);
    if (!v.ok()) return v.status();
    if (name.height > kMaxMapSide || name.width > kMaxMapSide) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": larger than ", kMaxMapSide, " pixels per side"));
    }
    SaliencyMap m;
    m.height = name.height;
    m.width = name.width;
    m.values.assign(v->begin(), v->end());
    return m;
  }
  if (frame != 0) return absl::InvalidArgumentError(absl::StrCat(path, ": holds one map, not frame ", frame));
  if (ext != ".npy" && ext != ".png") {
    return absl::InvalidArgumentError(
        path + ": unsupported map file type (expected .npy, .png or Salient360! _32b.bin)");
  }
  absl::StatusOr<std::string> bytes = util::ReadFile(path, max_bytes);
  if (!bytes.ok()) return bytes.status();
  return ext == ".npy" ? FromNpy(path, *bytes) : FromPng(path, *bytes);
}

}  // namespace

absl::StatusOr<SaliencyMap> ReadSaliencyMap(const std::string& path, int64_t max_bytes, int64_t frame) {
  return Finite(path, frame, ReadAnyMap(path, max_bytes, frame));
}

}  // namespace sal360::data

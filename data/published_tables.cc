#include "data/published_tables.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "data/torch_file.h"

namespace sal360::data {

std::string PublishedTableFileName(int height, int width) { return absl::StrCat(height, "x", width, ".pt"); }

absl::StatusOr<std::vector<int32_t>> ReadPublishedTable(const std::string& path, int height, int width) {
  TorchLimits limits;
  limits.max_file_bytes = int64_t{height} * width * 16 * 8 + (int64_t{1} << 20);
  absl::StatusOr<TorchFile> f = ReadTorchFile(path, limits);
  if (!f.ok()) return f.status();
  if (!f->IsTensor(f->root)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": expected a saved tensor, found a ",
                                                   PyValue::KindName(f->root.kind())));
  }
  absl::StatusOr<TorchTensor> t = f->Tensor(f->root, "table");
  if (!t.ok()) return t.status();
  if (t->dtype == TorchDType::kFloat32 || t->dtype == TorchDType::kFloat64 || t->dtype == TorchDType::kFloat16 ||
      t->dtype == TorchDType::kBFloat16 || t->dtype == TorchDType::kBool) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": the table is ", TorchDTypeName(t->dtype),
                                                   ", expected an integer tensor"));
  }
  if (t->shape != std::vector<int64_t>{height, width, 2, 8}) {
    std::string s;
    for (int64_t d : t->shape) absl::StrAppend(&s, s.empty() ? "" : ", ", d);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": shape (", s, "), expected (", height, ", ", width, ", 2, 8)"));
  }
  const std::vector<int64_t> v = t->ToInt64s();
  const int64_t pixels = int64_t{height} * width;
  std::vector<int32_t> out(static_cast<size_t>(pixels * 16));
  for (int64_t p = 0; p < pixels; ++p) {
    for (int k = 0; k < 8; ++k) {
      const int64_t x = v[p * 16 + k], y = v[p * 16 + 8 + k];
      if (x < 0 || x >= width || y < 0 || y >= height) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": neighbour ", k, " of pixel (", p / width, ", ",
                                                       p % width, ") is (x=", x, ", y=", y, "), outside the ", height,
                                                       "x", width, " grid"));
      }
      out[(p * 8 + k) * 2] = static_cast<int32_t>(x);
      out[(p * 8 + k) * 2 + 1] = static_cast<int32_t>(y);
    }
  }
  return out;
}

bool HasPublishedTables(const std::string& dir, int height, int width) {
  struct stat st;
  return ::stat((dir + "/" + PublishedTableFileName(height, width)).c_str(), &st) == 0;
}

absl::Status CachePublishedTables(const std::string& dir, const sphere::TableSpec& base, int levels) {
  if (base.mode != sphere::TableMode::kNearest) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": the published .pt tables are nearest tables; the model uses ", sphere::ModeName(base.mode)));
  }
  for (int l = 0; l < levels; ++l) {
    sphere::TableSpec s = base;
    s.height = base.height >> l;
    s.width = base.width >> l;
    const std::string path = dir + "/" + PublishedTableFileName(s.height, s.width);
    absl::StatusOr<std::vector<int32_t>> t = ReadPublishedTable(path, s.height, s.width);
    if (!t.ok()) return t.status();
    absl::StatusOr<sphere::GatherTable> g =
        sphere::GatherTableFromFileCoords(s, std::vector<double>(t->begin(), t->end()), path);
    if (!g.ok()) return g.status();
    sphere::CacheGatherTable(s, *std::move(g));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TableComparison>> ComparePublishedTables(const std::string& dir,
                                                                    const sphere::TableSpec& base, int levels) {
  std::vector<TableComparison> out;
  for (int l = 0; l < levels; ++l) {
    sphere::TableSpec s = base;
    s.height = base.height >> l;
    s.width = base.width >> l;
    s.mode = sphere::TableMode::kNearest;
    if (absl::Status st = sphere::ValidateSpec(s); !st.ok()) return st;
    absl::StatusOr<std::vector<int32_t>> pub = ReadPublishedTable(dir + "/" + PublishedTableFileName(s.height, s.width),
                                                                  s.height, s.width);
    if (!pub.ok()) return pub.status();
    const std::vector<int32_t> ours = sphere::NearestTableCoords(s);
    TableComparison c;
    c.height = s.height;
    c.width = s.width;
    c.entries = int64_t{s.height} * s.width * 8;
    for (int64_t e = 0; e < c.entries; ++e) {
      const int32_t px = (*pub)[2 * e], py = (*pub)[2 * e + 1], ox = ours[2 * e], oy = ours[2 * e + 1];
      c.equal_column += px == ox;
      c.equal_row += py == oy;
      c.equal += px == ox && py == oy;
      const int32_t dx = ((px - ox) % s.width + s.width) % s.width;
      c.off_by_one_column += dx == 1 || dx == s.width - 1;
      if ((px != ox || py != oy) && c.first_difference.empty()) {
        const int64_t p = e / 8;
        c.first_difference = absl::StrCat("pixel (", p / s.width, ", ", p % s.width, ") neighbour ", e % 8,
                                          ": published (x=", px, ", y=", py, "), ours (x=", ox, ", y=", oy, ")");
      }
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace sal360::data

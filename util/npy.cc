#include "util/npy.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "util/file.h"

namespace sal360::util {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              ".npy data is read as little-endian by copying bytes");

namespace {

struct DTypeInfo {
  DType dtype;
  const char* descr;  // as the writer emits it
  char kind;          // 'f', 'i', 'u', 'b'
  int size;
};

constexpr DTypeInfo kInfos[] = {
    {DType::kFloat32, "<f4", 'f', 4}, {DType::kFloat64, "<f8", 'f', 8},
    {DType::kInt64, "<i8", 'i', 8},   {DType::kInt32, "<i4", 'i', 4},
    {DType::kUint8, "|u1", 'u', 1},   {DType::kInt8, "|i1", 'i', 1},
    {DType::kInt16, "<i2", 'i', 2},   {DType::kUint16, "<u2", 'u', 2},
    {DType::kUint32, "<u4", 'u', 4},  {DType::kUint64, "<u8", 'u', 8},
    {DType::kBool, "|b1", 'b', 1},
};

const DTypeInfo& Info(DType d) {
  for (const DTypeInfo& i : kInfos) {
    if (i.dtype == d) return i;
  }
  std::fprintf(stderr, "npy: unknown DType %d\n", static_cast<int>(d));
  std::abort();
}

constexpr int64_t kMaxHeaderBytes = 1 << 16;  // numpy itself refuses headers > 10 kB by default
constexpr int kMaxDims = 32;

// A tiny scanner over the header dict literal. Accepts exactly what numpy writes (and
// what a careful hand-written header would contain): string keys in single or double
// quotes, string/bool/tuple-of-int values, optional trailing commas, spaces.
class HeaderParser {
 public:
  explicit HeaderParser(const std::string& s) : s_(s) {}

  absl::Status Parse(std::string* descr, bool* fortran, std::vector<int64_t>* shape) {
    bool has_descr = false, has_fortran = false, has_shape = false;
    Skip();
    if (!Eat('{')) return Err("header does not start with '{'");
    while (true) {
      Skip();
      if (Eat('}')) break;
      std::string key;
      if (absl::Status st = String(&key); !st.ok()) return st;
      Skip();
      if (!Eat(':')) return Err("expected ':' after key '" + key + "'");
      Skip();
      if (key == "descr") {
        if (has_descr) return Err("duplicate key 'descr'");
        has_descr = true;
        if (absl::Status st = String(descr); !st.ok()) return st;
      } else if (key == "fortran_order") {
        if (has_fortran) return Err("duplicate key 'fortran_order'");
        has_fortran = true;
        if (s_.compare(pos_, 4, "True") == 0) {
          *fortran = true;
          pos_ += 4;
        } else if (s_.compare(pos_, 5, "False") == 0) {
          *fortran = false;
          pos_ += 5;
        } else {
          return Err("fortran_order is not True or False");
        }
      } else if (key == "shape") {
        if (has_shape) return Err("duplicate key 'shape'");
        has_shape = true;
        if (absl::Status st = Shape(shape); !st.ok()) return st;
      } else {
        return Err("unexpected key '" + key + "' (expected descr, fortran_order, shape)");
      }
      Skip();
      if (Eat(',')) continue;
      Skip();
      if (Eat('}')) break;
      return Err("expected ',' or '}'");
    }
    Skip();
    if (pos_ != s_.size()) return Err("trailing characters after the header dict");
    if (!has_descr || !has_fortran || !has_shape) {
      return Err("header lacks one of 'descr', 'fortran_order', 'shape'");
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Err(const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat("bad header at character ", pos_, ": ", what));
  }
  void Skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t')) ++pos_;
  }
  bool Eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  absl::Status String(std::string* out) {
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) return Err("expected a string");
    const char q = s_[pos_++];
    out->clear();
    while (pos_ < s_.size() && s_[pos_] != q) {
      const char c = s_[pos_++];
      if (c == '\\' || static_cast<unsigned char>(c) < 0x20) return Err("escape or control character in a string");
      out->push_back(c);
      if (out->size() > 64) return Err("string too long");
    }
    if (!Eat(q)) return Err("unterminated string");
    return absl::OkStatus();
  }
  absl::Status Shape(std::vector<int64_t>* shape) {
    shape->clear();
    if (!Eat('(')) return Err("shape is not a tuple");
    while (true) {
      Skip();
      if (Eat(')')) break;
      if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') return Err("shape entry is not a non-negative integer");
      int64_t v = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) return Err("shape entry too large");
        v = v * 10 + (s_[pos_++] - '0');
      }
      if (pos_ < s_.size() && s_[pos_] == 'L') ++pos_;  // Python 2 longs
      shape->push_back(v);
      if (shape->size() > kMaxDims) return Err("more than 32 dimensions");
      Skip();
      if (Eat(',')) continue;
      Skip();
      if (Eat(')')) break;
      return Err("expected ',' or ')' in shape");
    }
    return absl::OkStatus();
  }

  const std::string& s_;
  size_t pos_ = 0;
};

absl::StatusOr<DType> DTypeFromDescr(const std::string& descr) {
  if (descr.size() >= 2) {
    const char order = descr[0];
    const std::string rest = descr.substr(1);
    for (const DTypeInfo& i : kInfos) {
      if (rest != std::string(i.descr + 1)) continue;
      if (order == '<' || order == '|' || order == '=') return i.dtype;
      if (order == '>' && i.size == 1) return i.dtype;
      if (order == '>') {
        return absl::InvalidArgumentError("big-endian dtype '" + descr + "' is not supported (save it little-endian)");
      }
    }
  }
  return absl::InvalidArgumentError(
      "dtype '" + descr + "' is not supported (numeric little-endian only: f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)");
}

template <typename T>
void Convert(const std::string& bytes, int64_t n, double* out) {
  for (int64_t k = 0; k < n; ++k) {
    T v;
    std::memcpy(&v, bytes.data() + k * sizeof(T), sizeof(T));
    out[k] = static_cast<double>(v);
  }
}

}  // namespace

const char* NpyDescr(DType dtype) { return Info(dtype).descr; }
int NpyItemSize(DType dtype) { return Info(dtype).size; }

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<double> NpyArray::ToDoubles() const {
  const int64_t n = static_cast<int64_t>(bytes.size()) / NpyItemSize(dtype);
  std::vector<double> out(static_cast<size_t>(n));
  switch (dtype) {
    case DType::kFloat32: Convert<float>(bytes, n, out.data()); break;
    case DType::kFloat64: Convert<double>(bytes, n, out.data()); break;
    case DType::kInt64: Convert<int64_t>(bytes, n, out.data()); break;
    case DType::kInt32: Convert<int32_t>(bytes, n, out.data()); break;
    case DType::kUint8: Convert<uint8_t>(bytes, n, out.data()); break;
    case DType::kInt8: Convert<int8_t>(bytes, n, out.data()); break;
    case DType::kInt16: Convert<int16_t>(bytes, n, out.data()); break;
    case DType::kUint16: Convert<uint16_t>(bytes, n, out.data()); break;
    case DType::kUint32: Convert<uint32_t>(bytes, n, out.data()); break;
    case DType::kUint64: Convert<uint64_t>(bytes, n, out.data()); break;
    case DType::kBool:
      for (int64_t k = 0; k < n; ++k) out[k] = bytes[k] != 0 ? 1.0 : 0.0;
      break;
  }
  return out;
}

std::vector<float> NpyArray::ToFloats() const {
  if (dtype == DType::kFloat32) {
    std::vector<float> out(bytes.size() / 4);
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * 4);
    return out;
  }
  const std::vector<double> d = ToDoubles();
  return std::vector<float>(d.begin(), d.end());
}

namespace {
template <typename T>
NpyArray Make(DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  NpyArray a;
  a.dtype = dtype;
  a.shape = std::move(shape);
  if (a.numel() != static_cast<int64_t>(values.size())) {
    std::fprintf(stderr, "NpyArray: %zu values for a shape of %lld elements\n", values.size(),
                 static_cast<long long>(a.numel()));
    std::abort();
  }
  a.bytes.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
  return a;
}
}  // namespace

NpyArray NpyArray::FromFloat32(std::vector<int64_t> shape, const std::vector<float>& values) {
  return Make(DType::kFloat32, std::move(shape), values);
}
NpyArray NpyArray::FromFloat64(std::vector<int64_t> shape, const std::vector<double>& values) {
  return Make(DType::kFloat64, std::move(shape), values);
}
NpyArray NpyArray::FromInt32(std::vector<int64_t> shape, const std::vector<int32_t>& values) {
  return Make(DType::kInt32, std::move(shape), values);
}

absl::StatusOr<NpyArray> ParseNpy(const std::string& bytes, const std::string& name) {
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": not a valid .npy file: ", what));
  };
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY", 6) != 0) {
    return bad("missing the \\x93NUMPY magic");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0) {
    return bad(absl::StrCat("unsupported format version ", major, ".", minor));
  }
  uint64_t header_len = 0;
  size_t prefix = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    prefix = 10;
  } else {
    if (bytes.size() < 12) return bad("truncated header length");
    for (int k = 3; k >= 0; --k) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + k]);
    prefix = 12;
  }
  if (static_cast<int64_t>(header_len) > kMaxHeaderBytes) {
    return bad(absl::StrCat("header of ", header_len, " bytes is larger than the limit ", kMaxHeaderBytes));
  }
  if (prefix + header_len > bytes.size()) {
    return bad(absl::StrCat("truncated: header needs ", prefix + header_len, " bytes, file has ", bytes.size()));
  }
  std::string header = bytes.substr(prefix, header_len);
  std::string descr;
  bool fortran = false;
  NpyArray a;
  if (absl::Status st = HeaderParser(header).Parse(&descr, &fortran, &a.shape); !st.ok()) {
    return bad(std::string(st.message()));
  }
  if (fortran) return bad("Fortran-order arrays are not supported (save with C order)");
  absl::StatusOr<DType> dt = DTypeFromDescr(descr);
  if (!dt.ok()) return bad(std::string(dt.status().message()));
  a.dtype = *dt;
  const int64_t item = NpyItemSize(a.dtype);
  const uint64_t available = bytes.size() - prefix - header_len;
  uint64_t need = static_cast<uint64_t>(item);
  bool zero = false;
  for (int64_t d : a.shape) zero |= d == 0;
  if (!zero) {
    for (int64_t d : a.shape) {
      if (need > available / static_cast<uint64_t>(d)) {
        return bad(absl::StrCat("truncated: the shape needs more data than the file holds (", available, " bytes)"));
      }
      need *= static_cast<uint64_t>(d);
    }
  } else {
    need = 0;
  }
  if (need != available) {
    return bad(absl::StrCat(need > available ? "truncated: " : "trailing bytes: ", "shape needs ", need,
                            " data bytes, file has ", available));
  }
  a.bytes = bytes.substr(prefix + header_len);
  return a;
}

absl::StatusOr<NpyArray> ReadNpy(const std::string& path, int64_t max_bytes) {
  absl::StatusOr<std::string> bytes = ReadFile(path, max_bytes);
  if (!bytes.ok()) return bytes.status();
  return ParseNpy(*bytes, path);
}

std::string SerializeNpy(const NpyArray& array) {
  if (static_cast<int64_t>(array.bytes.size()) != array.numel() * NpyItemSize(array.dtype)) {
    std::fprintf(stderr, "SerializeNpy: %zu bytes for %lld elements of size %d\n", array.bytes.size(),
                 static_cast<long long>(array.numel()), NpyItemSize(array.dtype));
    std::abort();
  }
  std::string shape = "(";
  for (size_t k = 0; k < array.shape.size(); ++k) {
    absl::StrAppend(&shape, k ? ", " : "", array.shape[k]);
  }
  if (array.shape.size() == 1) shape += ",";
  shape += ")";
  std::string dict = absl::StrCat("{'descr': '", NpyDescr(array.dtype),
                                  "', 'fortran_order': False, 'shape': ", shape, ", }");
  const bool v2 = dict.size() + 1 + 10 > 65535;
  const size_t prefix = v2 ? 12 : 10;
  const size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict.push_back('\n');
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(v2 ? 2 : 1));
  out.push_back(0);
  const uint32_t len = static_cast<uint32_t>(dict.size());
  out.push_back(static_cast<char>(len & 0xff));
  out.push_back(static_cast<char>((len >> 8) & 0xff));
  if (v2) {
    out.push_back(static_cast<char>((len >> 16) & 0xff));
    out.push_back(static_cast<char>((len >> 24) & 0xff));
  }
  out += dict;
  out += array.bytes;
  return out;
}

absl::Status WriteNpy(const std::string& path, const NpyArray& array) {
  return WriteFileAtomically(path, SerializeNpy(array));
}

}  // namespace sal360::util

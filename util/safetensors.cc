#include "util/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "util/file.h"

namespace sal360::util {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; this reader copies bytes as they are");

namespace {

using Json = nlohmann::json;

// Deepest legal nesting: the top object (1) > an entry object (2) > its shape array (3).
constexpr int kMaxJsonDepth = 3;

struct DTypeInfo {
  DType dtype;
  const char* name;
  int64_t itemsize;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kFloat32, "F32", 4}, {DType::kFloat64, "F64", 8}, {DType::kInt64, "I64", 8},
    {DType::kInt32, "I32", 4},   {DType::kUint8, "U8", 1},
};

// The other dtypes the format defines: named in the error so the user knows why.
constexpr const char* kKnownUnsupported[] = {"F16", "BF16", "I16", "I8", "U16", "U32", "U64",
                                             "BOOL", "F8_E4M3", "F8_E5M2"};

const DTypeInfo* FindDType(const std::string& name) {
  for (const DTypeInfo& d : kDTypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const DTypeInfo& Info(DType dtype) {
  for (const DTypeInfo& d : kDTypes) {
    if (d.dtype == dtype) return d;
  }
  std::fprintf(stderr, "safetensors: unknown DType %d\n", static_cast<int>(dtype));
  std::abort();
}

uint64_t ReadU64Le(const std::string& bytes) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

void AppendU64Le(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Maximum nesting depth of the JSON text (brackets outside strings). Checked before
// parsing so that hostile input cannot make any parser recurse deeply.
int JsonDepth(const std::string& text) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char ch : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (ch == '\\') {
        escaped = true;
      } else if (ch == '"') {
        in_string = false;
      }
      continue;
    }
    if (ch == '"') {
      in_string = true;
    } else if (ch == '{' || ch == '[') {
      max_depth = std::max(max_depth, ++depth);
    } else if (ch == '}' || ch == ']') {
      --depth;
    }
  }
  return max_depth;
}

// A JSON value as a non-negative integer (nlohmann stores those as unsigned).
bool AsIndex(const Json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

struct Entry {
  std::string name;
  const DTypeInfo* dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

absl::StatusOr<Entry> ParseEntry(const std::string& file, const std::string& name, const Json& v,
                                 uint64_t data_bytes) {
  const std::string where = absl::StrCat(file, ": tensor '", name, "': ");
  if (!v.is_object()) return absl::InvalidArgumentError(where + "header entry is not a JSON object");
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets") {
      return absl::InvalidArgumentError(absl::StrCat(where, "unknown header field '", it.key(),
                                                     "' (expected dtype, shape, data_offsets)"));
    }
  }
  Entry e;
  e.name = name;
  const auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) {
    return absl::InvalidArgumentError(where + "missing or non-string \"dtype\"");
  }
  const std::string dtype_name = dt->get<std::string>();
  e.dtype = FindDType(dtype_name);
  if (e.dtype == nullptr) {
    for (const char* known : kKnownUnsupported) {
      if (dtype_name == known) {
        return absl::UnimplementedError(absl::StrCat(
            where, "dtype ", dtype_name, " is not supported (supported: F32, F64, I64, I32, U8)"));
      }
    }
    return absl::InvalidArgumentError(absl::StrCat(where, "unknown dtype \"", dtype_name, "\""));
  }
  const auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) {
    return absl::InvalidArgumentError(where + "missing or non-array \"shape\"");
  }
  // numel of a tensor that fits in the data area is at most data_bytes; larger products
  // are rejected before they can overflow.
  uint64_t numel = 1;
  bool numel_too_large = false;
  for (const Json& d : *sh) {
    uint64_t dim = 0;
    if (!AsIndex(d, &dim) || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "shape ", sh->dump(), " has an entry that is not a non-negative integer"));
    }
    e.shape.push_back(static_cast<int64_t>(dim));
    if (dim == 0) {
      numel = 0;
    } else if (!numel_too_large && numel != 0) {
      if (numel > data_bytes / dim) {
        numel_too_large = true;
      } else {
        numel *= dim;
      }
    }
  }
  const auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !AsIndex((*off)[0], &e.begin) ||
      !AsIndex((*off)[1], &e.end)) {
    return absl::InvalidArgumentError(
        where + "\"data_offsets\" must be an array of two non-negative integers [begin, end]");
  }
  if (e.begin > e.end) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "data_offsets [", e.begin, ", ", e.end, "] has begin > end"));
  }
  if (e.end > data_bytes) {
    return absl::OutOfRangeError(absl::StrCat(where, "data_offsets [", e.begin, ", ", e.end,
                                              "] run past the data area of ", data_bytes,
                                              " bytes (truncated file?)"));
  }
  const bool has_zero = numel == 0;
  if (!has_zero && (numel_too_large || numel > data_bytes / static_cast<uint64_t>(e.dtype->itemsize))) {
    return absl::InvalidArgumentError(absl::StrCat(where, "shape ", ShapeString(e.shape),
                                                   " is larger than the file's data area"));
  }
  const uint64_t expected = numel * static_cast<uint64_t>(e.dtype->itemsize);
  if (e.end - e.begin != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin, " bytes but ",
        e.dtype->name, " ", ShapeString(e.shape), " needs ", expected));
  }
  return e;
}

}  // namespace

const char* SafetensorsDTypeName(DType dtype) { return Info(dtype).name; }
int64_t DTypeItemSize(DType dtype) { return Info(dtype).itemsize; }

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

int64_t SafetensorsTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsTensor SafetensorsTensor::FromFloat32(std::vector<int64_t> shape, const float* values) {
  SafetensorsTensor t;
  t.dtype = DType::kFloat32;
  t.shape = std::move(shape);
  t.bytes.assign(reinterpret_cast<const char*>(values), static_cast<size_t>(t.numel()) * 4);
  return t;
}

SafetensorsTensor SafetensorsTensor::FromFloat32(std::vector<int64_t> shape,
                                                 const std::vector<float>& values) {
  SafetensorsTensor t = FromFloat32(std::move(shape), values.data());
  if (t.numel() != static_cast<int64_t>(values.size())) {
    std::fprintf(stderr, "SafetensorsTensor::FromFloat32: shape %s but %zu values\n",
                 ShapeString(t.shape).c_str(), values.size());
    std::abort();
  }
  return t;
}

SafetensorsTensor SafetensorsTensor::FromInt64(std::vector<int64_t> shape,
                                               const std::vector<int64_t>& values) {
  SafetensorsTensor t;
  t.dtype = DType::kInt64;
  t.shape = std::move(shape);
  if (t.numel() != static_cast<int64_t>(values.size())) {
    std::fprintf(stderr, "SafetensorsTensor::FromInt64: shape %s but %zu values\n",
                 ShapeString(t.shape).c_str(), values.size());
    std::abort();
  }
  t.bytes.assign(reinterpret_cast<const char*>(values.data()), values.size() * 8);
  return t;
}

namespace {

absl::Status CheckTensor(const Safetensors& st, const std::string& file, const std::string& name,
                         DType dtype, const std::vector<int64_t>& shape,
                         const SafetensorsTensor** out) {
  const auto it = st.tensors.find(name);
  if (it == st.tensors.end()) {
    return absl::NotFoundError(absl::StrCat(file, ": missing tensor '", name, "' (expected ",
                                            SafetensorsDTypeName(dtype), " ", ShapeString(shape),
                                            ")"));
  }
  if (it->second.dtype != dtype) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ": tensor '", name, "' has dtype ", SafetensorsDTypeName(it->second.dtype),
        ", expected ", SafetensorsDTypeName(dtype)));
  }
  if (it->second.shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": tensor '", name, "' has shape ",
                                                   ShapeString(it->second.shape), ", expected ",
                                                   ShapeString(shape)));
  }
  *out = &it->second;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<float>> Safetensors::GetFloat32(const std::string& file,
                                                           const std::string& name,
                                                           const std::vector<int64_t>& shape) const {
  const SafetensorsTensor* t = nullptr;
  if (absl::Status s = CheckTensor(*this, file, name, DType::kFloat32, shape, &t); !s.ok()) return s;
  std::vector<float> out(static_cast<size_t>(t->numel()));
  if (!out.empty()) std::memcpy(out.data(), t->bytes.data(), out.size() * 4);
  return out;
}

absl::StatusOr<std::vector<int64_t>> Safetensors::GetInt64(const std::string& file,
                                                           const std::string& name,
                                                           const std::vector<int64_t>& shape) const {
  const SafetensorsTensor* t = nullptr;
  if (absl::Status s = CheckTensor(*this, file, name, DType::kInt64, shape, &t); !s.ok()) return s;
  std::vector<int64_t> out(static_cast<size_t>(t->numel()));
  if (!out.empty()) std::memcpy(out.data(), t->bytes.data(), out.size() * 8);
  return out;
}

absl::StatusOr<std::string> Safetensors::GetMetadata(const std::string& file,
                                                     const std::string& key) const {
  const auto it = metadata.find(key);
  if (it == metadata.end()) {
    return absl::NotFoundError(absl::StrCat(file, ": __metadata__ has no key '", key, "'"));
  }
  return it->second;
}

absl::StatusOr<Safetensors> ParseSafetensors(const std::string& bytes,
                                             const std::string& name_for_errors) {
  const std::string& file = name_for_errors;
  if (bytes.size() < 8) {
    return absl::DataLossError(absl::StrCat(file, ": file is ", bytes.size(),
                                            " bytes, too short for a safetensors header length"));
  }
  const uint64_t header_len = ReadU64Le(bytes);
  if (header_len > static_cast<uint64_t>(kMaxSafetensorsHeaderBytes)) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": header length ", header_len,
                                                   " exceeds the limit of ",
                                                   kMaxSafetensorsHeaderBytes, " bytes"));
  }
  if (header_len > bytes.size() - 8) {
    return absl::DataLossError(absl::StrCat(file, ": header length ", header_len,
                                            " runs past the end of the file (", bytes.size(),
                                            " bytes; truncated?)"));
  }
  const std::string header = bytes.substr(8, header_len);
  if (header.empty() || header[0] != '{') {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": header does not start with '{' (not a safetensors file?)"));
  }
  if (JsonDepth(header) > kMaxJsonDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": header JSON is nested deeper than ", kMaxJsonDepth, " levels"));
  }
  Json root;
  try {
    root = Json::parse(header);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": header is not valid JSON: ", e.what()));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": header is not a JSON object"));
  }

  const uint64_t data_begin = 8 + header_len;
  const uint64_t data_bytes = bytes.size() - data_begin;
  Safetensors out;
  std::vector<Entry> entries;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat(file, ": __metadata__ is not a JSON object of strings"));
      }
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) {
          return absl::InvalidArgumentError(absl::StrCat(
              file, ": __metadata__ value for '", m.key(), "' is not a string"));
        }
        out.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    absl::StatusOr<Entry> e = ParseEntry(file, it.key(), *it, data_bytes);
    if (!e.ok()) return e.status();
    entries.push_back(*std::move(e));
  }

  // The tensors must tile the data area exactly (the reference's validation).
  std::vector<const Entry*> order;
  for (const Entry& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t expected = 0;
  for (const Entry* e : order) {
    if (e->begin != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": tensor '", e->name, "' starts at byte ", e->begin, " of the data area but the ",
          e->begin > expected ? "previous tensor ends at " : "bytes before it overlap up to ",
          expected, " (tensors must tile the data area without gaps or overlaps)"));
    }
    expected = e->end;
  }
  if (expected != data_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ": tensors cover ", expected, " bytes but the data area has ", data_bytes,
        " (trailing bytes or a truncated header)"));
  }
  for (const Entry& e : entries) {
    SafetensorsTensor t;
    t.dtype = e.dtype->dtype;
    t.shape = e.shape;
    t.bytes = bytes.substr(data_begin + e.begin, e.end - e.begin);
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

absl::StatusOr<Safetensors> ReadSafetensors(const std::string& path, int64_t max_bytes) {
  absl::StatusOr<std::string> bytes = ReadFile(path, max_bytes);
  if (!bytes.ok()) return bytes.status();
  return ParseSafetensors(*bytes, path);
}

std::string SerializeSafetensors(const Safetensors& st) {
  std::vector<std::pair<const std::string*, const SafetensorsTensor*>> order;
  for (const auto& [name, t] : st.tensors) {
    if (name == "__metadata__") {
      std::fprintf(stderr, "SerializeSafetensors: '__metadata__' is not a valid tensor name\n");
      std::abort();
    }
    const int64_t want = t.numel() * DTypeItemSize(t.dtype);
    for (int64_t d : t.shape) {
      if (d < 0) {
        std::fprintf(stderr, "SerializeSafetensors: tensor '%s' has a negative dimension\n",
                     name.c_str());
        std::abort();
      }
    }
    if (static_cast<int64_t>(t.bytes.size()) != want) {
      std::fprintf(stderr, "SerializeSafetensors: tensor '%s' %s %s has %zu bytes, expected %lld\n",
                   name.c_str(), SafetensorsDTypeName(t.dtype), ShapeString(t.shape).c_str(),
                   t.bytes.size(), static_cast<long long>(want));
      std::abort();
    }
    order.emplace_back(&name, &t);
  }
  // Largest items first keeps every tensor aligned to its item size.
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return DTypeItemSize(a.second->dtype) > DTypeItemSize(b.second->dtype);
  });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!st.metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : st.metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : order) {
    nlohmann::ordered_json e = nlohmann::ordered_json::object();
    e["dtype"] = SafetensorsDTypeName(t->dtype);
    e["shape"] = t->shape;
    e["data_offsets"] = {offset, offset + t->bytes.size()};
    offset += t->bytes.size();
    header[*name] = std::move(e);
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  std::string out;
  out.reserve(8 + text.size() + offset);
  AppendU64Le(out, text.size());
  out += text;
  for (const auto& [name, t] : order) out += t->bytes;
  return out;
}

absl::Status WriteSafetensors(const std::string& path, const Safetensors& st) {
  return WriteFileAtomically(path, SerializeSafetensors(st));
}

}  // namespace sal360::util

#include "data/torch_file.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "util/file.h"

extern "C" {
#include <zip.h>
}

namespace sal360::data {
namespace {

struct StorageType {
  const char* global;
  TorchDType dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"torch.FloatStorage", TorchDType::kFloat32}, {"torch.DoubleStorage", TorchDType::kFloat64},
    {"torch.HalfStorage", TorchDType::kFloat16},  {"torch.BFloat16Storage", TorchDType::kBFloat16},
    {"torch.LongStorage", TorchDType::kInt64},    {"torch.IntStorage", TorchDType::kInt32},
    {"torch.ShortStorage", TorchDType::kInt16},   {"torch.CharStorage", TorchDType::kInt8},
    {"torch.ByteStorage", TorchDType::kUInt8},    {"torch.BoolStorage", TorchDType::kBool},
};
constexpr char kRebuildV2[] = "torch._utils._rebuild_tensor_v2";
constexpr char kRebuild[] = "torch._utils._rebuild_tensor";
constexpr char kRebuildParameter[] = "torch._utils._rebuild_parameter";

PickleLimits TorchPickleLimits() {
  PickleLimits l;
  l.allowed_globals = {"collections.OrderedDict", kRebuildV2, kRebuild, kRebuildParameter};
  for (const StorageType& t : kStorageTypes) l.allowed_globals.push_back(t.global);
  return l;
}

// The legacy stream's first pickle: protocol 2, LONG1 of 10 bytes = 0x1950a86a20f9469cfc6c, STOP.
constexpr unsigned char kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                          0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

// ('storage', <StorageType global>, key, location, numel[, view_metadata])
struct StorageRef {
  TorchDType dtype;
  std::string key;
  int64_t numel = 0;
};

absl::StatusOr<StorageRef> ParseStorageRef(const PyValue& pid, const std::string& name) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": bad storage reference ", pid.DebugString(120), ": ", why));
  };
  if (!pid.is_tuple() || pid.items().size() < 5) return bad("expected ('storage', type, key, location, size)");
  const std::vector<PyValue>& it = pid.items();
  if (!it[0].is_str() || it[0].as_str() != "storage") return bad("not a storage");
  if (!it[1].is_global()) return bad("the storage type is not a global");
  StorageRef r;
  bool found = false;
  for (const StorageType& t : kStorageTypes) {
    if (it[1].global_name() == t.global) {
      r.dtype = t.dtype;
      found = true;
    }
  }
  if (!found) return bad(absl::StrCat("unsupported storage type ", it[1].global_name()));
  if (!it[2].is_str() || it[2].as_str().empty() || it[2].as_str().size() > 64) return bad("bad key");
  r.key = it[2].as_str();
  if (!it[4].is_int() || it[4].as_int() < 0) return bad("bad size");
  r.numel = it[4].as_int();
  return r;
}

// Collects every storage reference under `v` (tensors of the object).
absl::Status CollectStorages(const PyValue& v, const std::string& name, std::map<std::string, StorageRef>* out,
                             int depth = 0) {
  if (depth > 64) return absl::InvalidArgumentError(absl::StrCat(name, ": object nested too deeply"));
  switch (v.kind()) {
    case PyValue::Kind::kPersistentId: {
      absl::StatusOr<StorageRef> r = ParseStorageRef(v.persistent_id(), name);
      if (!r.ok()) return r.status();
      auto [it, inserted] = out->emplace(r->key, *r);
      if (!inserted && (it->second.dtype != r->dtype || it->second.numel != r->numel)) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": storage '", r->key, "' is described with two different types or sizes"));
      }
      return absl::OkStatus();
    }
    case PyValue::Kind::kList:
    case PyValue::Kind::kTuple:
      for (const PyValue& x : v.items()) {
        if (absl::Status s = CollectStorages(x, name, out, depth + 1); !s.ok()) return s;
      }
      return absl::OkStatus();
    case PyValue::Kind::kDict:
      for (const auto& [k, x] : v.dict_items()) {
        if (absl::Status s = CollectStorages(x, name, out, depth + 1); !s.ok()) return s;
      }
      return absl::OkStatus();
    case PyValue::Kind::kCall:
      for (const PyValue& x : v.call().args) {
        if (absl::Status s = CollectStorages(x, name, out, depth + 1); !s.ok()) return s;
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::Status CheckStorageBytes(const StorageRef& r, uint64_t bytes, const std::string& name) {
  const uint64_t want = static_cast<uint64_t>(r.numel) * TorchDTypeSize(r.dtype);
  if (bytes != want) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": storage '", r.key, "' holds ", bytes, " bytes, but ",
                                                   r.numel, " ", TorchDTypeName(r.dtype), " elements need ", want));
  }
  return absl::OkStatus();
}

absl::StatusOr<TorchFile> ParseLegacy(const std::string& bytes, const std::string& name, const TorchLimits& limits) {
  const PickleLimits plain;
  size_t pos = sizeof kLegacyMagic;
  size_t end = 0;
  absl::StatusOr<PyValue> version = ParsePickleAt(bytes, pos, name, plain, &end);
  if (!version.ok()) return version.status();
  if (!version->is_int() || version->as_int() != 1001) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": unsupported legacy protocol version ", version->DebugString(40), " (want 1001)"));
  }
  pos = end;
  absl::StatusOr<PyValue> sys_info = ParsePickleAt(bytes, pos, name, plain, &end);
  if (!sys_info.ok()) return sys_info.status();
  if (sys_info->is_dict()) {
    for (const auto& [k, v] : sys_info->dict_items()) {
      if (k.is_str() && k.as_str() == "little_endian" && !(v.is_bool() && v.as_bool())) {
        return absl::UnimplementedError(absl::StrCat(name, ": written on a big-endian machine (unsupported)"));
      }
    }
  }
  pos = end;
  TorchFile f;
  f.path = name;
  f.format = "legacy";
  f.max_tensor_elements = limits.max_tensor_elements;
  absl::StatusOr<PyValue> root = ParsePickleAt(bytes, pos, name, TorchPickleLimits(), &end);
  if (!root.ok()) return root.status();
  f.root = *std::move(root);
  pos = end;
  absl::StatusOr<PyValue> keys = ParsePickleAt(bytes, pos, name, plain, &end);
  if (!keys.ok()) return keys.status();
  if (!keys->is_list()) return absl::InvalidArgumentError(absl::StrCat(name, ": the storage key list is not a list"));
  pos = end;
  std::map<std::string, StorageRef> refs;
  if (absl::Status s = CollectStorages(f.root, name, &refs); !s.ok()) return s;
  for (const PyValue& k : keys->items()) {
    if (!k.is_str()) return absl::InvalidArgumentError(absl::StrCat(name, ": a storage key is not a str"));
    const auto it = refs.find(k.as_str());
    if (it == refs.end()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": storage '", k.as_str(), "' is listed but never used"));
    }
    const StorageRef& r = it->second;
    if (bytes.size() - pos < 8) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": truncated: the size of storage '", r.key, "' at byte ", pos, " is missing"));
    }
    int64_t count = 0;
    std::memcpy(&count, bytes.data() + pos, 8);
    if (count != r.numel) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": storage '", r.key, "' at byte ", pos, " says ", count,
                                                     " elements, its tensors say ", r.numel));
    }
    pos += 8;
    const uint64_t nbytes = static_cast<uint64_t>(r.numel) * TorchDTypeSize(r.dtype);
    if (r.numel > limits.max_tensor_elements || nbytes > bytes.size() - pos) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": truncated: storage '", r.key, "' at byte ", pos,
                                                     " needs ", nbytes, " bytes, ", bytes.size() - pos, " remain"));
    }
    if (f.storages.count(r.key) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": storage '", r.key, "' is listed twice"));
    }
    f.storages[r.key] = TorchStorage{r.dtype, bytes.substr(pos, nbytes)};
    pos += nbytes;
  }
  if (f.storages.size() != refs.size()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", refs.size() - f.storages.size(),
                                                   " storage(s) used by tensors are not in the file"));
  }
  if (pos != bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", bytes.size() - pos, " unexpected bytes after the storages"));
  }
  return f;
}

struct ZipDeleter {
  void operator()(zip_t* z) const { zip_discard(z); }
};

absl::StatusOr<TorchFile> ParseZip(const std::string& bytes, const std::string& name, const TorchLimits& limits) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
  if (src == nullptr) return absl::ResourceExhaustedError(absl::StrCat(name, ": ", zip_error_strerror(&err)));
  std::unique_ptr<zip_t, ZipDeleter> z(zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err));
  if (!z) {
    const std::string why = zip_error_strerror(&err);
    zip_source_free(src);
    zip_error_fini(&err);
    return absl::InvalidArgumentError(absl::StrCat(name, ": not a readable zip archive: ", why));
  }
  zip_error_fini(&err);
  const zip_int64_t n = zip_get_num_entries(z.get(), 0);
  std::string prefix;
  std::map<std::string, zip_uint64_t> entries;
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* e = zip_get_name(z.get(), static_cast<zip_uint64_t>(i), 0);
    if (e == nullptr) continue;
    const std::string en = e;
    entries[en] = static_cast<zip_uint64_t>(i);
    const size_t slash = en.find('/');
    if (slash != std::string::npos && en.substr(slash) == "/data.pkl") prefix = en.substr(0, slash);
  }
  if (prefix.empty() && entries.count("data.pkl") == 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": a zip archive without data.pkl (not a torch.save file)"));
  }
  const std::string base = prefix.empty() ? "" : prefix + "/";
  auto read_entry = [&](const std::string& entry, uint64_t expect, std::string* out) -> absl::Status {
    const auto it = entries.find(entry);
    if (it == entries.end()) return absl::InvalidArgumentError(absl::StrCat(name, ": missing entry ", entry));
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z.get(), it->second, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": cannot stat entry ", entry));
    }
    if (expect != UINT64_MAX && st.size != expect) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": entry ", entry, " holds ", st.size, " bytes, expected ",
                                                     expect));
    }
    if (st.size > static_cast<uint64_t>(limits.max_file_bytes)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": entry ", entry, " is too large"));
    }
    // The declared size is the archive's claim: it may not exceed what its compressed
    // bytes can hold (deflate expands at most ~1032:1; torch.save stores entries
    // uncompressed), and the buffer grows with the bytes actually read, so a 1 KB
    // archive claiming a 2 GB entry cannot make us allocate 2 GB (found by fuzzing).
    if (!(st.valid & ZIP_STAT_COMP_SIZE) || st.comp_size > bytes.size() ||
        st.size > st.comp_size * 1032 + 1024) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": entry ", entry, " claims ", st.size,
                                                     " bytes, more than its compressed data can hold"));
    }
    zip_file_t* zf = zip_fopen_index(z.get(), it->second, 0);
    if (zf == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": cannot open entry ", entry, ": ", zip_strerror(z.get())));
    }
    out->clear();
    zip_uint64_t got = 0;
    while (got < st.size) {
      const zip_uint64_t chunk = std::min<zip_uint64_t>(st.size - got, zip_uint64_t{1} << 24);
      out->resize(static_cast<size_t>(got + chunk));
      const zip_int64_t r = zip_fread(zf, out->data() + got, chunk);
      if (r <= 0) break;
      got += static_cast<zip_uint64_t>(r);
    }
    out->resize(static_cast<size_t>(got));
    // One more read must report the end (libzip checks the CRC there).
    char extra;
    const zip_int64_t tail = got == st.size ? zip_fread(zf, &extra, 1) : -1;
    const std::string why = zip_file_strerror(zf);
    zip_fclose(zf);
    if (got != st.size || tail != 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": entry ", entry, " is truncated or corrupt (read ", got,
                                                     " of ", st.size, " bytes", tail < 0 ? ": " + why : "", ")"));
    }
    return absl::OkStatus();
  };
  std::string pkl;
  if (absl::Status s = read_entry(base + "data.pkl", UINT64_MAX, &pkl); !s.ok()) return s;
  TorchFile f;
  f.path = name;
  f.format = "zip";
  f.max_tensor_elements = limits.max_tensor_elements;
  absl::StatusOr<PyValue> root = ParsePickle(pkl, name + ":" + base + "data.pkl", TorchPickleLimits());
  if (!root.ok()) return root.status();
  f.root = *std::move(root);
  std::map<std::string, StorageRef> refs;
  if (absl::Status s = CollectStorages(f.root, name, &refs); !s.ok()) return s;
  for (const auto& [key, r] : refs) {
    if (r.numel > limits.max_tensor_elements) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": storage '", key, "' is too large"));
    }
    std::string data;
    const uint64_t want = static_cast<uint64_t>(r.numel) * TorchDTypeSize(r.dtype);
    if (absl::Status s = read_entry(base + "data/" + key, want, &data); !s.ok()) return s;
    if (absl::Status s = CheckStorageBytes(r, data.size(), name); !s.ok()) return s;
    f.storages[key] = TorchStorage{r.dtype, std::move(data)};
  }
  return f;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float v;
  if (exp == 0) {
    v = std::ldexp(static_cast<float>(mant), -24);
  } else if (exp == 31) {
    v = mant ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    v = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  }
  return sign ? -v : v;
}

}  // namespace

const char* TorchDTypeName(TorchDType t) {
  switch (t) {
    case TorchDType::kFloat32: return "float32";
    case TorchDType::kFloat64: return "float64";
    case TorchDType::kFloat16: return "float16";
    case TorchDType::kBFloat16: return "bfloat16";
    case TorchDType::kInt64: return "int64";
    case TorchDType::kInt32: return "int32";
    case TorchDType::kInt16: return "int16";
    case TorchDType::kInt8: return "int8";
    case TorchDType::kUInt8: return "uint8";
    case TorchDType::kBool: return "bool";
  }
  return "?";
}

int TorchDTypeSize(TorchDType t) {
  switch (t) {
    case TorchDType::kFloat64:
    case TorchDType::kInt64:
      return 8;
    case TorchDType::kFloat32:
    case TorchDType::kInt32:
      return 4;
    case TorchDType::kFloat16:
    case TorchDType::kBFloat16:
    case TorchDType::kInt16:
      return 2;
    default:
      return 1;
  }
}

int64_t TorchTensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

std::vector<float> TorchTensor::ToFloats() const {
  const int64_t n = numel();
  std::vector<float> out(static_cast<size_t>(n));
  const char* p = data.data();
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case TorchDType::kFloat32: std::memcpy(&out[i], p + 4 * i, 4); break;
      case TorchDType::kFloat64: { double d; std::memcpy(&d, p + 8 * i, 8); out[i] = static_cast<float>(d); break; }
      case TorchDType::kFloat16: { uint16_t h; std::memcpy(&h, p + 2 * i, 2); out[i] = HalfToFloat(h); break; }
      case TorchDType::kBFloat16: {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        const uint32_t bits = uint32_t{h} << 16;
        std::memcpy(&out[i], &bits, 4);
        break;
      }
      case TorchDType::kInt64: { int64_t v; std::memcpy(&v, p + 8 * i, 8); out[i] = static_cast<float>(v); break; }
      case TorchDType::kInt32: { int32_t v; std::memcpy(&v, p + 4 * i, 4); out[i] = static_cast<float>(v); break; }
      case TorchDType::kInt16: { int16_t v; std::memcpy(&v, p + 2 * i, 2); out[i] = static_cast<float>(v); break; }
      case TorchDType::kInt8: out[i] = static_cast<float>(static_cast<int8_t>(p[i])); break;
      case TorchDType::kUInt8:
      case TorchDType::kBool: out[i] = static_cast<float>(static_cast<uint8_t>(p[i])); break;
    }
  }
  return out;
}

std::vector<int64_t> TorchTensor::ToInt64s() const {
  const int64_t n = numel();
  std::vector<int64_t> out(static_cast<size_t>(n));
  const char* p = data.data();
  if (dtype == TorchDType::kFloat32 || dtype == TorchDType::kFloat64 || dtype == TorchDType::kFloat16 ||
      dtype == TorchDType::kBFloat16) {
    const std::vector<float> f = ToFloats();
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int64_t>(f[i]);
    return out;
  }
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case TorchDType::kInt64: std::memcpy(&out[i], p + 8 * i, 8); break;
      case TorchDType::kInt32: { int32_t v; std::memcpy(&v, p + 4 * i, 4); out[i] = v; break; }
      case TorchDType::kInt16: { int16_t v; std::memcpy(&v, p + 2 * i, 2); out[i] = v; break; }
      case TorchDType::kInt8: out[i] = static_cast<int8_t>(p[i]); break;
      default: out[i] = static_cast<uint8_t>(p[i]); break;
    }
  }
  return out;
}

bool TorchFile::IsTensor(const PyValue& v) const {
  return v.is_call() && (v.call().callable == kRebuildV2 || v.call().callable == kRebuild ||
                         v.call().callable == kRebuildParameter);
}

absl::StatusOr<TorchTensor> TorchFile::Tensor(const PyValue& v, const std::string& what) const {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", what, "': ", why));
  };
  if (!IsTensor(v)) return bad(absl::StrCat("not a tensor but ", v.DebugString(80)));
  if (v.call().callable == kRebuildParameter) {
    // _rebuild_parameter(data, requires_grad, backward_hooks)
    if (v.call().args.empty()) return bad("a parameter without data");
    return Tensor(v.call().args[0], what);
  }
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata])
  // _rebuild_tensor(storage, storage_offset, size, stride)
  const std::vector<PyValue>& a = v.call().args;
  if (a.size() < 4) return bad("too few arguments to rebuild it");
  if (!a[0].is_persistent_id()) return bad("its storage is not a storage reference");
  absl::StatusOr<StorageRef> ref = ParseStorageRef(a[0].persistent_id(), path);
  if (!ref.ok()) return ref.status();
  const auto it = storages.find(ref->key);
  if (it == storages.end()) return bad(absl::StrCat("storage '", ref->key, "' is missing"));
  const TorchStorage& storage = it->second;
  const int es = TorchDTypeSize(storage.dtype);
  const int64_t storage_numel = static_cast<int64_t>(storage.data.size()) / es;
  if (!a[1].is_int() || a[1].as_int() < 0) return bad("bad storage offset");
  const int64_t offset = a[1].as_int();
  if (!a[2].is_tuple() || !a[3].is_tuple() || a[2].items().size() != a[3].items().size()) {
    return bad("size and stride must be tuples of one length");
  }
  if (a[2].items().size() > 8) return bad("more than 8 dimensions");
  TorchTensor t;
  t.dtype = storage.dtype;
  std::vector<int64_t> stride;
  int64_t numel = 1;
  int64_t last = offset;  // highest element index read
  for (size_t d = 0; d < a[2].items().size(); ++d) {
    const PyValue& s = a[2].items()[d];
    const PyValue& st = a[3].items()[d];
    if (!s.is_int() || !st.is_int() || s.as_int() < 0 || st.as_int() < 0) return bad("bad size or stride");
    if (s.as_int() > 0 && numel > max_tensor_elements / s.as_int()) {
      return bad(absl::StrCat("more than ", max_tensor_elements, " elements"));
    }
    t.shape.push_back(s.as_int());
    stride.push_back(st.as_int());
    numel *= s.as_int();
  }
  if (numel > 0) {
    for (size_t d = 0; d < t.shape.size(); ++d) {
      const int64_t span = t.shape[d] - 1;
      if (stride[d] > 0 && span > (std::numeric_limits<int64_t>::max() - last) / stride[d]) return bad("strides overflow");
      last += span * stride[d];
    }
    if (last >= storage_numel) {
      return bad(absl::StrCat("reaches element ", last, " of a storage of ", storage_numel, " elements (offset ", offset,
                              ")"));
    }
  }
  t.data.resize(static_cast<size_t>(numel) * es);
  // Contiguous copy in row-major order.
  std::vector<int64_t> idx(t.shape.size(), 0);
  for (int64_t k = 0; k < numel; ++k) {
    int64_t src = offset;
    for (size_t d = 0; d < idx.size(); ++d) src += idx[d] * stride[d];
    std::memcpy(t.data.data() + k * es, storage.data.data() + src * es, es);
    for (int d = static_cast<int>(idx.size()) - 1; d >= 0; --d) {
      if (++idx[d] < t.shape[d]) break;
      idx[d] = 0;
    }
  }
  return t;
}

absl::StatusOr<TorchFile> ParseTorchFile(const std::string& bytes, const std::string& name, const TorchLimits& limits) {
  if (bytes.size() >= 4 && bytes.compare(0, 4, "PK\x03\x04") == 0) return ParseZip(bytes, name, limits);
  if (bytes.size() >= sizeof kLegacyMagic && std::memcmp(bytes.data(), kLegacyMagic, sizeof kLegacyMagic) == 0) {
    return ParseLegacy(bytes, name, limits);
  }
  if (bytes.size() < sizeof kLegacyMagic && bytes.size() > 0 &&
      std::memcmp(bytes.data(), kLegacyMagic, bytes.size()) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": truncated: the file ends inside the magic number"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": not a torch.save file (neither a zip archive nor the legacy pickle stream)"));
}

absl::StatusOr<TorchFile> ReadTorchFile(const std::string& path, const TorchLimits& limits) {
  absl::StatusOr<std::string> bytes = util::ReadFile(path, limits.max_file_bytes);
  if (!bytes.ok()) return bytes.status();
  return ParseTorchFile(*bytes, path, limits);
}

absl::StatusOr<std::vector<std::pair<std::string, TorchTensor>>> TorchStateDict(const TorchFile& file) {
  const PyValue* dict = &file.root;
  if (!dict->is_dict()) {
    return absl::InvalidArgumentError(absl::StrCat(file.path, ": the saved object is a ",
                                                   PyValue::KindName(dict->kind()), ", not a checkpoint dict"));
  }
  bool tensors = !dict->dict_items().empty();
  for (const auto& [k, v] : dict->dict_items()) tensors = tensors && file.IsTensor(v);
  if (!tensors) {
    const PyValue* inner = nullptr;
    for (const char* key : {"state_dict", "model"}) {
      for (const auto& [k, v] : dict->dict_items()) {
        if (inner == nullptr && k.is_str() && k.as_str() == key && v.is_dict()) inner = &v;
      }
    }
    if (inner == nullptr) {
      std::vector<std::string> keys;
      for (const auto& [k, v] : dict->dict_items()) keys.push_back(k.DebugString(40));
      return absl::InvalidArgumentError(absl::StrCat(file.path, ": no state dict (keys: ", absl::StrJoin(keys, ", "),
                                                     "; want a dict of tensors or a 'state_dict' entry)"));
    }
    dict = inner;
  }
  bool all_module = !dict->dict_items().empty();
  for (const auto& [k, v] : dict->dict_items()) {
    all_module = all_module && k.is_str() && absl::StartsWith(k.as_str(), "module.");
  }
  std::vector<std::pair<std::string, TorchTensor>> out;
  for (const auto& [k, v] : dict->dict_items()) {
    if (!k.is_str()) return absl::InvalidArgumentError(absl::StrCat(file.path, ": a state dict key is not a str"));
    const std::string name = all_module ? k.as_str().substr(7) : k.as_str();
    absl::StatusOr<TorchTensor> t = file.Tensor(v, k.as_str());
    if (!t.ok()) return t.status();
    out.emplace_back(name, *std::move(t));
  }
  return out;
}

}  // namespace sal360::data

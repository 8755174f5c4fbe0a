// safetensors: the tensor container format of Hugging Face's `safetensors` library, read
// and written strictly. Used for model checkpoints (nn/checkpoint.h), so that any
// safetensors or NumPy tooling can read them.
//
// File layout (all integers little-endian):
//   bytes [0, 8)        N = header length, uint64
//   bytes [8, 8+N)      header: a UTF-8 JSON object
//                         { "<name>": {"dtype": "F32", "shape": [d0, d1, ...],
//                                      "data_offsets": [begin, end]}, ...,
//                           "__metadata__": {"<key>": "<string value>", ...} }   (optional)
//                       possibly padded at the end with spaces (0x20)
//   bytes [8+N, EOF)    the data area: each tensor's raw C-order little-endian bytes at
//                       [begin, end) relative to the start of the data area.
//
// Strictness (the reference implementation's checks, plus a few more; every error names
// the file and the problem):
//   - N <= kMaxHeaderBytes, 8 + N <= file size, the header is a JSON object, nested at
//     most a few levels deep;
//   - every entry has exactly dtype/shape/data_offsets with the right JSON types (unknown
//     keys are rejected, the reference ignores them); shape
//     entries are non-negative integers; end - begin == numel * itemsize (no overflow);
//   - sorted by begin, the tensors tile the data area exactly: the first begins at 0,
//     each begins where the previous ended, the last ends at the end of the file (no
//     gaps, no overlaps, no trailing bytes);
//   - "__metadata__" is an object of string values;
//   - dtypes F32, F64, I64, I32, U8 (others, e.g. F16/BF16, are rejected by name).
// The writer lays tensors out by descending item size, then name (every tensor stays
// aligned to its item size because the header is padded to a multiple of 8 bytes).
#ifndef SAL360_UTIL_SAFETENSORS_H_
#define SAL360_UTIL_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "util/npy.h"

namespace sal360::util {

inline constexpr int64_t kMaxSafetensorsHeaderBytes = 100'000'000;  // the reference's limit
inline constexpr int64_t kDefaultMaxSafetensorsFileBytes = int64_t{16} << 30;

// "F32", "F64", "I64", "I32", "U8".
const char* SafetensorsDTypeName(DType dtype);
int64_t DTypeItemSize(DType dtype);

struct SafetensorsTensor {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;  // [] is a scalar (numel 1)
  std::string bytes;           // C order, little-endian, numel * itemsize bytes
  int64_t numel() const;

  static SafetensorsTensor FromFloat32(std::vector<int64_t> shape, const float* values);
  static SafetensorsTensor FromFloat32(std::vector<int64_t> shape, const std::vector<float>& values);
  static SafetensorsTensor FromInt64(std::vector<int64_t> shape, const std::vector<int64_t>& values);
};

struct Safetensors {
  std::map<std::string, SafetensorsTensor> tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__"

  // Typed access for loaders. Each error names `file` (for messages), the tensor, and
  // the expected vs found dtype or shape.
  [[nodiscard]] absl::StatusOr<std::vector<float>> GetFloat32(
      const std::string& file, const std::string& name, const std::vector<int64_t>& shape) const;
  [[nodiscard]] absl::StatusOr<std::vector<int64_t>> GetInt64(
      const std::string& file, const std::string& name, const std::vector<int64_t>& shape) const;
  [[nodiscard]] absl::StatusOr<std::string> GetMetadata(const std::string& file,
                                                         const std::string& key) const;
};

// "(64, 4, 3, 3)"; "()" for a scalar.
std::string ShapeString(const std::vector<int64_t>& shape);

// Parses a whole file's bytes. `name_for_errors` (usually the path) starts every message.
[[nodiscard]] absl::StatusOr<Safetensors> ParseSafetensors(const std::string& bytes,
                                                           const std::string& name_for_errors);
[[nodiscard]] absl::StatusOr<Safetensors> ReadSafetensors(
    const std::string& path, int64_t max_bytes = kDefaultMaxSafetensorsFileBytes);

// Aborts if a tensor's byte count disagrees with its shape and dtype (a programming error).
std::string SerializeSafetensors(const Safetensors& st);
// Atomic (util/file.h WriteFileAtomically): readers see the old file or the new one.
[[nodiscard]] absl::Status WriteSafetensors(const std::string& path, const Safetensors& st);

}  // namespace sal360::util

#endif  // SAL360_UTIL_SAFETENSORS_H_

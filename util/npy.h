// NumPy .npy files, read and written strictly: the interchange format of neighbour
// tables (sphere/), cached ground truth (data/) and predicted maps (tools/).
//
// Format (numpy.lib.format, versions 1.0, 2.0 and 3.0):
//   bytes [0, 6)   magic "\x93NUMPY"
//   bytes 6, 7     major, minor version
//   then           header length: uint16 LE (v1.0) or uint32 LE (v2.0, v3.0)
//   then           header: a Python dict literal
//                    {'descr': '<f4', 'fortran_order': False, 'shape': (H, W), }
//                  padded with spaces and ending in '\n' so that the data starts at a
//                  multiple of 64 bytes (16 in old files; not required on read)
//   then           the raw C-order data, exactly prod(shape) * itemsize bytes.
//
// Strictness: the reader parses the header dict itself (three keys, nothing else, no
// code evaluated), accepts little-endian or byte-order-free numeric dtypes only
// (f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1), rejects Fortran order, checks that the data size
// is exactly what the shape needs (no overflow, no trailing bytes) and that the file
// is no larger than a caller-given limit. Every error names the file.
// The writer emits version 1.0 (2.0 when the header would not fit), 64-byte aligned.
#ifndef SAL360_UTIL_NPY_H_
#define SAL360_UTIL_NPY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sal360::util {

// Element types shared by the .npy and safetensors readers.
enum class DType {
  kFloat32,
  kFloat64,
  kInt64,
  kInt32,
  kUint8,
  kInt8,
  kInt16,
  kUint16,
  kUint32,
  kUint64,
  kBool,
};

// The NumPy descr ('<f4', '|u1', ...) and the item size in bytes.
const char* NpyDescr(DType dtype);
int NpyItemSize(DType dtype);

inline constexpr int64_t kDefaultMaxNpyBytes = int64_t{4} << 30;

struct NpyArray {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;  // C order; {} is a scalar
  std::string bytes;           // numel * itemsize bytes, little-endian

  int64_t numel() const;
  // The values converted (exactly for every dtype but 64-bit integers beyond 2^53).
  std::vector<double> ToDoubles() const;
  std::vector<float> ToFloats() const;

  static NpyArray FromFloat32(std::vector<int64_t> shape, const std::vector<float>& values);
  static NpyArray FromFloat64(std::vector<int64_t> shape, const std::vector<double>& values);
  static NpyArray FromInt32(std::vector<int64_t> shape, const std::vector<int32_t>& values);
};

// Parses a whole file's bytes; `name_for_errors` (usually the path) starts each message.
[[nodiscard]] absl::StatusOr<NpyArray> ParseNpy(const std::string& bytes,
                                                const std::string& name_for_errors);
[[nodiscard]] absl::StatusOr<NpyArray> ReadNpy(const std::string& path,
                                               int64_t max_bytes = kDefaultMaxNpyBytes);

// The file's bytes. Aborts if bytes.size() does not match the shape (a programming error).
std::string SerializeNpy(const NpyArray& array);
// Atomic (util::WriteFileAtomically).
[[nodiscard]] absl::Status WriteNpy(const std::string& path, const NpyArray& array);

}  // namespace sal360::util

#endif  // SAL360_UTIL_NPY_H_

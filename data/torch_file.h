// A safe reader of files written by torch.save, without PyTorch or Python:
//   legacy (PyTorch <= 1.5, and _use_new_zipfile_serialization=False): a stream of
//     pickles — the magic number, the protocol version (1001), the sys-info dict, the
//     object, the list of storage keys — then each storage in that order as an int64
//     element count and the raw little-endian elements;
//   zip (PyTorch >= 1.6): an archive (read with libzip) holding PREFIX/data.pkl, the
//     object, and PREFIX/data/<key>, each storage's raw little-endian bytes.
// The object pickle is read by data/pickle.h through an allow-list, as PyTorch's own
// weights_only loading does: collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// _rebuild_tensor and _rebuild_parameter, the typed storages (torch.FloatStorage, ...),
// and plain values. Any other global is refused with its name and byte offset; nothing
// is imported or executed. Every tensor's storage offset, sizes and strides are checked
// against the elements its storage holds, every storage's size against its entry or the
// bytes left in the file, and sizes are limited.
#ifndef SAL360_DATA_TORCH_FILE_H_
#define SAL360_DATA_TORCH_FILE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/pickle.h"

namespace sal360::data {

enum class TorchDType { kFloat32, kFloat64, kFloat16, kBFloat16, kInt64, kInt32, kInt16, kInt8, kUInt8, kBool };
const char* TorchDTypeName(TorchDType t);  // "float32", ...
int TorchDTypeSize(TorchDType t);

// A tensor, contiguous (row-major) whatever its strides were in the file.
struct TorchTensor {
  TorchDType dtype = TorchDType::kFloat32;
  std::vector<int64_t> shape;
  std::string data;  // little-endian elements, numel * TorchDTypeSize
  int64_t numel() const;
  std::vector<float> ToFloats() const;     // float32 exact; float64/16/bf16 converted; ints cast
  std::vector<int64_t> ToInt64s() const;   // integer and bool dtypes; floats must be integral
};

struct TorchStorage {
  TorchDType dtype = TorchDType::kFloat32;
  std::string data;
};

struct TorchFile {
  std::string path;
  std::string format;  // "legacy" | "zip"
  PyValue root;        // the saved object; tensors are PyValue calls of _rebuild_tensor_v2 etc.
  std::map<std::string, TorchStorage> storages;
  int64_t max_tensor_elements = int64_t{1} << 31;  // TorchLimits's
  // The tensor a rebuild call describes; `what` names it in errors.
  absl::StatusOr<TorchTensor> Tensor(const PyValue& value, const std::string& what) const;
  bool IsTensor(const PyValue& value) const;
};

struct TorchLimits {
  int64_t max_file_bytes = int64_t{4} << 30;
  int64_t max_tensor_elements = int64_t{1} << 31;
};

// Reads either format (told apart by the first bytes). Errors name the file and what is
// wrong: not a torch file, truncated (with the offset), refused global, a storage whose
// size lies, a tensor that reaches past its storage.
absl::StatusOr<TorchFile> ReadTorchFile(const std::string& path, const TorchLimits& limits = {});
// From bytes already in memory (`name` starts the messages).
absl::StatusOr<TorchFile> ParseTorchFile(const std::string& bytes, const std::string& name,
                                         const TorchLimits& limits = {});

// The state dict of a checkpoint: the root itself when it is a dict of tensors, else its
// "state_dict" (or "model") entry. Names keep their order; a leading "module." on every
// name (nn.DataParallel) is removed. Non-tensor entries are an error naming them.
absl::StatusOr<std::vector<std::pair<std::string, TorchTensor>>> TorchStateDict(const TorchFile& file);

}  // namespace sal360::data

#endif  // SAL360_DATA_TORCH_FILE_H_

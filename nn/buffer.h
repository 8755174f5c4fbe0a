// Move-only RAII memory on one device. Host memory is 256-byte aligned (like cudaMalloc); device memory
// comes from cudaMalloc. A Buffer either owns its memory or is a non-owning view
// (e.g. a slice of an Arena); views never free.
#ifndef SAL360_NN_BUFFER_H_
#define SAL360_NN_BUFFER_H_

#include <cstddef>
#include <cstdint>

#include "nn/device.h"

namespace sal360::nn {

class Buffer {
 public:
  Buffer() = default;
  Buffer(Device device, size_t bytes);  // uninitialised memory
  static Buffer View(Device device, void* data, size_t bytes);
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool owning() const { return owning_; }

  // Process-wide count of device (cudaMalloc) allocations, for "no allocation inside
  // the training step" checks in benchmarks.
  static int64_t device_allocations();

 private:
  void Release();
  Device device_ = Device::kCpu;
  void* data_ = nullptr;
  size_t bytes_ = 0;
  bool owning_ = false;
};

// Copies between any two devices (host<->device, device<->device, host<->host).
void CopyBytes(Device dst_device, void* dst, Device src_device, const void* src, size_t bytes);
void ZeroBytes(Device device, void* dst, size_t bytes);

}  // namespace sal360::nn

#endif  // SAL360_NN_BUFFER_H_

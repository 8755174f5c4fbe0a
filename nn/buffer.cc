#include "nn/buffer.h"

#include <atomic>
#include <cstdio>
#include <new>
#include <cstdlib>
#include <cstring>
#include <utility>

#ifdef SAL360_WITH_CUDA
#include "nn/cuda/runtime.h"
#endif

namespace sal360::nn {
namespace {
std::atomic<int64_t> g_device_allocations{0};

[[maybe_unused, noreturn]] void NoCuda(const char* what) {
  std::fprintf(stderr, "sal360: %s needs CUDA, but this binary was built without it\n", what);
  std::abort();
}
}  // namespace

int64_t Buffer::device_allocations() { return g_device_allocations.load(); }

Buffer::Buffer(Device device, size_t bytes) : device_(device), bytes_(bytes), owning_(true) {
  if (bytes == 0) return;
  if (device == Device::kCpu) {
    const size_t rounded = (bytes + 255) / 256 * 256;
    data_ = std::aligned_alloc(256, rounded);
    // Like operator new: the tools catch it and exit 1 with a message (tools/flags.h
    // GuardedMain), instead of the abort this used to be.
    if (data_ == nullptr) throw std::bad_alloc();
  } else {
#ifdef SAL360_WITH_CUDA
    data_ = cuda::Malloc(bytes);
    ++g_device_allocations;
#else
    NoCuda("a device buffer");
#endif
  }
}

Buffer Buffer::View(Device device, void* data, size_t bytes) {
  Buffer b;
  b.device_ = device;
  b.data_ = data;
  b.bytes_ = bytes;
  b.owning_ = false;
  return b;
}

void Buffer::Release() {
  if (owning_ && data_ != nullptr) {
    if (device_ == Device::kCpu) {
      std::free(data_);
    } else {
#ifdef SAL360_WITH_CUDA
      cuda::Free(data_);
#endif
    }
  }
  data_ = nullptr;
  bytes_ = 0;
  owning_ = false;
}

Buffer::~Buffer() { Release(); }

Buffer::Buffer(Buffer&& o) noexcept
    : device_(o.device_), data_(o.data_), bytes_(o.bytes_), owning_(o.owning_) {
  o.data_ = nullptr;
  o.bytes_ = 0;
  o.owning_ = false;
}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    Release();
    device_ = o.device_;
    data_ = std::exchange(o.data_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
    owning_ = std::exchange(o.owning_, false);
  }
  return *this;
}

void CopyBytes(Device dst_device, void* dst, Device src_device, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device == Device::kCpu && src_device == Device::kCpu) {
    std::memmove(dst, src, bytes);
    return;
  }
#ifdef SAL360_WITH_CUDA
  if (dst_device == Device::kCuda && src_device == Device::kCpu) {
    cuda::MemcpyHostToDevice(dst, src, bytes);
  } else if (dst_device == Device::kCpu && src_device == Device::kCuda) {
    cuda::MemcpyDeviceToHost(dst, src, bytes);
  } else {
    cuda::MemcpyDeviceToDevice(dst, src, bytes);
  }
#else
  NoCuda("a device copy");
#endif
}

void ZeroBytes(Device device, void* dst, size_t bytes) {
  if (bytes == 0) return;
  if (device == Device::kCpu) {
    std::memset(dst, 0, bytes);
    return;
  }
#ifdef SAL360_WITH_CUDA
  cuda::Memset0(dst, bytes);
#else
  NoCuda("a device memset");
#endif
}

}  // namespace sal360::nn

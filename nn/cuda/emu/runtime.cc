// The emulated CUDA runtime (see include/cuda_runtime.h): one device, host memory.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <set>

#include "cuda_runtime.h"
#include "nn/cuda/emu/state.h"

struct CUstream_st {
  unsigned int flags;
};
struct CUevent_st {
  bool recorded = false;
  std::chrono::steady_clock::time_point when;
};

namespace sal360::emu {
namespace {

constexpr size_t kAlignment = 256;  // cudaMalloc's guarantee

size_t DeviceMemoryLimit() {
  static const size_t limit = [] {
    const char* s = std::getenv("SAL360_EMU_DEVICE_MEMORY_MB");
    const unsigned long long mb = (s != nullptr && *s != '\0') ? std::strtoull(s, nullptr, 0) : 0;
    return static_cast<size_t>(mb != 0 ? mb : 8192) << 20;
  }();
  return limit;
}

struct State {
  std::map<uintptr_t, size_t> device;  // base -> bytes
  size_t device_bytes = 0;
  std::set<uintptr_t> pinned;
  std::set<cudaStream_t> streams;
  std::set<cudaEvent_t> events;
  cudaError_t last = cudaSuccess;
  cudaError_t sticky = cudaSuccess;
  int current_device = 0;
};

State& S() {
  static State* s = new State();
  return *s;
}

// Records and returns `e` (the runtime's convention: every failing call is also the
// next cudaGetLastError).
cudaError_t Fail(cudaError_t e) {
  RecordError(e);
  return e;
}

using Lock = std::lock_guard<std::recursive_mutex>;

// The allocation containing address p, or end().
std::map<uintptr_t, size_t>::const_iterator Containing(uintptr_t p) {
  const auto& m = S().device;
  auto it = m.upper_bound(p);
  if (it == m.begin()) return m.end();
  --it;
  return p < it->first + it->second ? it : m.end();
}

bool IsKnownDeviceOrNull(int device) { return device == 0; }

}  // namespace

std::recursive_mutex& DeviceMutex() {
  static std::recursive_mutex* m = new std::recursive_mutex();
  return *m;
}

void RecordError(cudaError_t error) {
  Lock lock(DeviceMutex());
  if (error != cudaSuccess) S().last = error;
}

void RecordStickyError(cudaError_t error) {
  Lock lock(DeviceMutex());
  S().sticky = error;
  S().last = error;
}

cudaError_t StickyError() {
  Lock lock(DeviceMutex());
  return S().sticky;
}

bool IsValidStream(cudaStream_t stream) {
  Lock lock(DeviceMutex());
  return stream == nullptr || stream == cudaStreamLegacy || stream == cudaStreamPerThread ||
         S().streams.count(stream) != 0;
}

bool InDeviceAllocation(const void* p, size_t bytes) {
  Lock lock(DeviceMutex());
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const auto it = Containing(a);
  return it != S().device.end() && bytes <= it->first + it->second - a;
}

bool OverlapsDeviceAllocation(const void* p, size_t bytes) {
  Lock lock(DeviceMutex());
  if (bytes == 0) return false;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (Containing(a) != S().device.end()) return true;
  const auto next = S().device.upper_bound(a);  // first allocation starting above a
  return next != S().device.end() && next->first - a < bytes;
}

}  // namespace sal360::emu

using sal360::emu::DeviceMutex;
using sal360::emu::Fail;
using sal360::emu::InDeviceAllocation;
using sal360::emu::IsValidStream;
using sal360::emu::OverlapsDeviceAllocation;
using sal360::emu::S;
using sal360::emu::StickyError;
using Lock = std::lock_guard<std::recursive_mutex>;

// ---- Device and errors ----

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return Fail(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  Lock lock(DeviceMutex());
  if (device == nullptr) return Fail(cudaErrorInvalidValue);
  *device = S().current_device;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  Lock lock(DeviceMutex());
  if (!sal360::emu::IsKnownDeviceOrNull(device)) return Fail(cudaErrorInvalidDevice);
  S().current_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (prop == nullptr) return Fail(cudaErrorInvalidValue);
  if (device != 0) return Fail(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof(*prop));
  std::snprintf(prop->name, sizeof(prop->name), "sal360 CUDA emulation (host CPU)");
  prop->totalGlobalMem = sal360::emu::DeviceMemoryLimit();
  prop->sharedMemPerBlock = 48 << 10;
  prop->regsPerBlock = 65536;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  prop->major = 0;  // no real architecture
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
  if (version == nullptr) return Fail(cudaErrorInvalidValue);
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) { return cudaDriverGetVersion(version); }

cudaError_t cudaDeviceSynchronize() {
  Lock lock(DeviceMutex());
  return StickyError() != cudaSuccess ? Fail(StickyError()) : cudaSuccess;
}

cudaError_t cudaDeviceReset() {
  Lock lock(DeviceMutex());
  auto& s = S();
  for (const auto& [base, bytes] : s.device) std::free(reinterpret_cast<void*>(base));
  s.device.clear();
  s.device_bytes = 0;
  for (cudaStream_t st : s.streams) delete st;
  s.streams.clear();
  for (cudaEvent_t e : s.events) delete e;
  s.events.clear();
  s.last = cudaSuccess;
  s.sticky = cudaSuccess;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  Lock lock(DeviceMutex());
  if (free_bytes == nullptr || total_bytes == nullptr) return Fail(cudaErrorInvalidValue);
  *total_bytes = sal360::emu::DeviceMemoryLimit();
  *free_bytes = *total_bytes - S().device_bytes;
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  Lock lock(DeviceMutex());
  const cudaError_t e = S().last;
  S().last = S().sticky;
  return e;
}

cudaError_t cudaPeekAtLastError() {
  Lock lock(DeviceMutex());
  return S().last;
}

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorUnknown: return "cudaErrorUnknown";
  }
  return "unrecognized error code";
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver:
      return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure (emulation: see the message above)";
    case cudaErrorNotSupported: return "operation not supported (by the CUDA emulation)";
    case cudaErrorUnknown: return "unknown error";
  }
  return "unrecognized error code";
}

// ---- Memory ----

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  Lock lock(DeviceMutex());
  if (ptr == nullptr) return Fail(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (StickyError() != cudaSuccess) return Fail(StickyError());
  if (bytes == 0) return cudaSuccess;
  auto& s = S();
  if (bytes > sal360::emu::DeviceMemoryLimit() - s.device_bytes) {
    return Fail(cudaErrorMemoryAllocation);
  }
  // Exactly `bytes` are allocated (posix_memalign has no size rule), so AddressSanitizer
  // reports a kernel that reads even one element past the end.
  void* p = nullptr;
  if (posix_memalign(&p, sal360::emu::kAlignment, bytes) != 0) {
    return Fail(cudaErrorMemoryAllocation);
  }
  s.device[reinterpret_cast<uintptr_t>(p)] = bytes;
  s.device_bytes += bytes;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  Lock lock(DeviceMutex());
  if (ptr == nullptr) return cudaSuccess;
  auto& s = S();
  const auto it = s.device.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == s.device.end()) return Fail(cudaErrorInvalidValue);
  s.device_bytes -= it->second;
  s.device.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  Lock lock(DeviceMutex());
  if (ptr == nullptr) return Fail(cudaErrorInvalidValue);
  *ptr = bytes == 0 ? nullptr : std::malloc(bytes);
  if (bytes != 0 && *ptr == nullptr) return Fail(cudaErrorMemoryAllocation);
  if (*ptr != nullptr) S().pinned.insert(reinterpret_cast<uintptr_t>(*ptr));
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  Lock lock(DeviceMutex());
  if (ptr == nullptr) return cudaSuccess;
  if (S().pinned.erase(reinterpret_cast<uintptr_t>(ptr)) == 0) return Fail(cudaErrorInvalidValue);
  std::free(ptr);
  return cudaSuccess;
}

namespace {

// A side of a copy: device memory must lie inside one allocation, host memory must not
// touch any.
bool SideOk(const void* p, size_t bytes, bool device) {
  return device ? InDeviceAllocation(p, bytes) : !OverlapsDeviceAllocation(p, bytes);
}

cudaError_t Copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                 cudaStream_t stream) {
  Lock lock(DeviceMutex());
  if (StickyError() != cudaSuccess) return Fail(StickyError());
  if (!IsValidStream(stream)) return Fail(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  if (dst == nullptr || src == nullptr) return Fail(cudaErrorInvalidValue);
  bool dst_dev, src_dev;
  switch (kind) {
    case cudaMemcpyHostToHost: dst_dev = false; src_dev = false; break;
    case cudaMemcpyHostToDevice: dst_dev = true; src_dev = false; break;
    case cudaMemcpyDeviceToHost: dst_dev = false; src_dev = true; break;
    case cudaMemcpyDeviceToDevice: dst_dev = true; src_dev = true; break;
    case cudaMemcpyDefault:
      dst_dev = InDeviceAllocation(dst, 1);
      src_dev = InDeviceAllocation(src, 1);
      break;
    default: return Fail(cudaErrorInvalidMemcpyDirection);
  }
  if (!SideOk(dst, bytes, dst_dev) || !SideOk(src, bytes, src_dev)) {
    return Fail(cudaErrorInvalidValue);
  }
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t Set(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  Lock lock(DeviceMutex());
  if (StickyError() != cudaSuccess) return Fail(StickyError());
  if (!IsValidStream(stream)) return Fail(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  if (!InDeviceAllocation(ptr, bytes)) return Fail(cudaErrorInvalidValue);
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}

}  // namespace

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return Copy(dst, src, bytes, kind, nullptr);
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  return Copy(dst, src, bytes, kind, stream);
}
cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  return Set(ptr, value, bytes, nullptr);
}
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  return Set(ptr, value, bytes, stream);
}

// ---- Streams and events ----

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  Lock lock(DeviceMutex());
  if (stream == nullptr || flags > cudaStreamNonBlocking) return Fail(cudaErrorInvalidValue);
  if (StickyError() != cudaSuccess) return Fail(StickyError());
  *stream = new CUstream_st{flags};
  S().streams.insert(*stream);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  Lock lock(DeviceMutex());
  if (S().streams.erase(stream) == 0) return Fail(cudaErrorInvalidResourceHandle);
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  Lock lock(DeviceMutex());
  if (!IsValidStream(stream)) return Fail(cudaErrorInvalidResourceHandle);
  return StickyError() != cudaSuccess ? Fail(StickyError()) : cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t stream) { return cudaStreamSynchronize(stream); }

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  Lock lock(DeviceMutex());
  if (event == nullptr) return Fail(cudaErrorInvalidValue);
  *event = new CUevent_st();
  S().events.insert(*event);
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  Lock lock(DeviceMutex());
  if (S().events.erase(event) == 0) return Fail(cudaErrorInvalidResourceHandle);
  delete event;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  Lock lock(DeviceMutex());
  if (S().events.count(event) == 0 || !IsValidStream(stream)) {
    return Fail(cudaErrorInvalidResourceHandle);
  }
  event->recorded = true;
  event->when = std::chrono::steady_clock::now();
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  Lock lock(DeviceMutex());
  if (S().events.count(event) == 0) return Fail(cudaErrorInvalidResourceHandle);
  return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  Lock lock(DeviceMutex());
  if (ms == nullptr) return Fail(cudaErrorInvalidValue);
  if (S().events.count(start) == 0 || S().events.count(end) == 0) {
    return Fail(cudaErrorInvalidResourceHandle);
  }
  if (!start->recorded || !end->recorded) return Fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return cudaSuccess;
}

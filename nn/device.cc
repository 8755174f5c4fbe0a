#include "nn/device.h"

#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"

#ifdef SAL360_WITH_CUDA
#include "nn/cuda/runtime.h"
#endif

namespace sal360::nn {

const char* DeviceName(Device d) { return d == Device::kCuda ? "cuda" : "cpu"; }

bool CudaCompiledIn() {
#ifdef SAL360_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int CudaDeviceCount(std::string* why) {
  static std::once_flag once;
  static int count = 0;
  static std::string reason;
  std::call_once(once, [] {
#ifdef SAL360_WITH_CUDA
    count = cuda::ProbeDeviceCount(&reason);
#else
    count = 0;
    reason = "built without CUDA (use --config=cuda)";
#endif
  });
  if (why != nullptr) *why = reason;
  return count;
}

std::string CudaDeviceDescription() {
  if (CudaDeviceCount() == 0) return "";
#ifdef SAL360_WITH_CUDA
  return cuda::DeviceDescription();
#else
  return "";
#endif
}

absl::StatusOr<Device> ResolveDevice(std::string_view request) {
  if (request == "cpu") return Device::kCpu;
  std::string why;
  const int n = CudaDeviceCount(&why);
  if (request == "cuda") {
    if (n > 0) return Device::kCuda;
    return absl::FailedPreconditionError(
        absl::StrCat("--device=cuda requested but no CUDA device is usable: ", why));
  }
  if (request == "auto") {
    if (n > 0) return Device::kCuda;
    static std::once_flag notice;
    if (CudaCompiledIn()) {
      std::call_once(notice, [&] {
        std::fprintf(stderr, "sal360: no usable CUDA device (%s); running on the CPU.\n",
                     why.c_str());
      });
    }
    return Device::kCpu;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown device '", std::string(request), "' (expected auto, cpu or cuda)"));
}

}  // namespace sal360::nn

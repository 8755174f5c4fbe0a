// Devices: the CPU (always) and a CUDA GPU (when built with --config=cuda and a
// device is present at run time).
#ifndef SAL360_NN_DEVICE_H_
#define SAL360_NN_DEVICE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sal360::nn {

enum class Device { kCpu, kCuda };

const char* DeviceName(Device d);

// True when this binary was built with --config=cuda.
bool CudaCompiledIn();

// Number of usable CUDA devices. 0 when built without CUDA, when there is no driver
// (cudaErrorInsufficientDriver), or no device; `why` then says which. Any sticky CUDA
// error from the probe is cleared. The probe runs once; later calls are cached.
int CudaDeviceCount(std::string* why = nullptr);

// The CUDA device's name as the runtime reports it ("NVIDIA H200", or "sal360 CUDA
// emulation (host CPU)" under --config=cuda_emu); empty when there is none. Benchmarks
// record it so that no emulated number passes for a GPU's.
std::string CudaDeviceDescription();

// Resolves a --device flag value: "cpu", "cuda" or "auto". "auto" picks CUDA when a
// device is usable and otherwise falls back to the CPU, printing one notice to stderr
// (once per process). "cuda" without a usable device is an error.
absl::StatusOr<Device> ResolveDevice(std::string_view request);

}  // namespace sal360::nn

#endif  // SAL360_NN_DEVICE_H_

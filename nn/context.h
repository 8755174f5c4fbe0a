// Per-device context, created once per process and device: the CUDA stream, cuBLAS
// and cuDNN handles (opaque here; the .cu files cast them) and a workspace Arena.
#ifndef SAL360_NN_CONTEXT_H_
#define SAL360_NN_CONTEXT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "nn/buffer.h"
#include "nn/device.h"
#include "nn/math_mode.h"

namespace sal360::nn {

// Bump allocator for scratch memory (gather columns, temporaries). Alloc() hands out
// 256-byte-aligned slices; Reset() makes all of them free again. When a pass needs
// more than the current capacity, the arena grows by a new chunk, and the next
// Reset() merges all chunks into one of the high-water size — so after the first
// step of a fixed shape, no allocation happens at all.
class Arena {
 public:
  explicit Arena(Device device) : device_(device) {}
  void* Alloc(size_t bytes);
  float* AllocFloats(int64_t n) { return static_cast<float*>(Alloc(static_cast<size_t>(n) * 4)); }
  void Reset();
  size_t capacity() const;

  // Stack-like release: everything allocated after a Scope was opened is freed when
  // it closes (scratch of one op, e.g. a conv's gather columns).
  class Scope {
   public:
    explicit Scope(Arena& arena);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Arena& arena_;
    std::vector<size_t> used_;
    size_t in_use_;
  };
  size_t high_water() const { return high_water_; }
  Device device() const { return device_; }

 private:
  struct Chunk {
    Buffer buffer;
    size_t used = 0;
  };
  Device device_;
  std::vector<Chunk> chunks_;
  size_t in_use_ = 0;
  size_t high_water_ = 0;
};

class Context {
 public:
  static Context& Get(Device device);  // created on first use, lives until exit
  Device device() const { return device_; }
  Arena& arena() { return arena_; }
  // CUDA only (nullptr on the CPU): cudaStream_t, cublasHandle_t, cudnnHandle_t.
  void* stream() const { return stream_; }
  void* cublas() const { return cublas_; }
  void* cudnn() const { return cudnn_; }
  void Synchronize() const;

  // The engine and precision of this device's layers (nn/math_mode.h). The CPU's is
  // always native/fp32. SetMath refuses, with the reason, anything else on the CPU and
  // the cudnn engine where cuDNN's graph API is not usable (no cuDNN 9, or the CUDA
  // emulation); the setting is then unchanged. Set it before a model runs, not inside
  // a step.
  const GpuMath& math() const { return math_; }
  absl::Status SetMath(const GpuMath& math);

 private:
  explicit Context(Device device);
  Device device_;
  Arena arena_;
  void* stream_ = nullptr;
  void* cublas_ = nullptr;
  void* cudnn_ = nullptr;
  GpuMath math_;
};

}  // namespace sal360::nn

#endif  // SAL360_NN_CONTEXT_H_

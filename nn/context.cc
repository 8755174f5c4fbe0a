#include "nn/context.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <string>

#include "absl/strings/str_cat.h"

#ifdef SAL360_WITH_CUDA
#include "nn/cuda/cudnn_graph.h"
#include "nn/cuda/handles.h"
#endif

namespace sal360::nn {

namespace {
constexpr size_t kAlign = 256;
size_t RoundUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
}  // namespace

void* Arena::Alloc(size_t bytes) {
  bytes = RoundUp(std::max<size_t>(bytes, 1));
  in_use_ += bytes;
  high_water_ = std::max(high_water_, in_use_);
  for (Chunk& c : chunks_) {
    if (c.buffer.bytes() - c.used >= bytes) {
      void* p = static_cast<char*>(c.buffer.data()) + c.used;
      c.used += bytes;
      return p;
    }
  }
  // Grow: a new chunk at least as large as everything so far.
  const size_t size = std::max(bytes, capacity());
  chunks_.push_back(Chunk{Buffer(device_, size), bytes});
  return chunks_.back().buffer.data();
}

void Arena::Reset() {
  if (chunks_.size() > 1) {
    chunks_.clear();
    chunks_.push_back(Chunk{Buffer(device_, high_water_), 0});
  }
  for (Chunk& c : chunks_) c.used = 0;
  in_use_ = 0;
}

Arena::Scope::Scope(Arena& arena) : arena_(arena), in_use_(arena.in_use_) {
  for (const Chunk& c : arena.chunks_) used_.push_back(c.used);
}

Arena::Scope::~Scope() {
  for (size_t i = 0; i < arena_.chunks_.size(); ++i) {
    arena_.chunks_[i].used = i < used_.size() ? used_[i] : 0;
  }
  arena_.in_use_ = in_use_;
}

size_t Arena::capacity() const {
  size_t total = 0;
  for (const Chunk& c : chunks_) total += c.buffer.bytes();
  return total;
}

Context::Context(Device device) : device_(device), arena_(device) {
  if (device == Device::kCuda) {
#ifdef SAL360_WITH_CUDA
    cuda::CreateHandles(&stream_, &cublas_, &cudnn_);
#else
    std::fprintf(stderr, "sal360: CUDA context requested in a CPU-only build\n");
    std::abort();
#endif
  }
}

Context& Context::Get(Device device) {
  static std::once_flag once[2];
  static Context* contexts[2] = {nullptr, nullptr};
  const int i = device == Device::kCuda ? 1 : 0;
  std::call_once(once[i], [&] { contexts[i] = new Context(device); });
  return *contexts[i];
}

absl::Status Context::SetMath(const GpuMath& math) {
  if (device_ == Device::kCpu) {
    if (math != GpuMath{}) {
      return absl::InvalidArgumentError(absl::StrCat(
          "engine ", GpuEngineName(math.engine), " and precision ", PrecisionName(math.precision),
          " are CUDA settings; the CPU device computes with its own loops in fp32 (use "
          "--device=cuda, or --gpu_engine=native --precision=fp32)"));
    }
    return absl::OkStatus();
  }
  if (math.engine == GpuEngine::kCudnn) {
#ifdef SAL360_WITH_CUDA
    std::string why;
    if (!cuda::CudnnGraphAvailable(cudnn_, &why)) {
      return absl::FailedPreconditionError(
          absl::StrCat("the cudnn engine is not available here: ", why));
    }
#endif
  }
  math_ = math;
  return absl::OkStatus();
}

void Context::Synchronize() const {
#ifdef SAL360_WITH_CUDA
  if (device_ == Device::kCuda) cuda::SynchronizeStream(stream_);
#endif
}

}  // namespace sal360::nn

// Kernel launches under --config=cuda_emu: what SAL_LAUNCH (nn/cuda/launch.h) expands
// to when the .cu sources are compiled by the host compiler.
//
//   SAL_LAUNCH(kernel, grid, block, smem, stream)(args...)
//     = Launcher("kernel", grid, block, smem, stream)
//           .Bind([](const auto&... a) { kernel(a...); })(args...)
//
// The arguments are copied once, at the launch (CUDA copies them into the launch's
// parameter buffer), then every thread of the grid calls the kernel with its own copy
// of them. RunGrid (scheduler.cc) validates the configuration, records launch errors
// for cudaGetLastError, and runs the blocks.
#ifndef SAL360_NN_CUDA_EMU_LAUNCH_H_
#define SAL360_NN_CUDA_EMU_LAUNCH_H_

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cuda_runtime.h"

namespace sal360::emu {

struct LaunchConfig {
  const char* kernel;  // the kernel as written at the launch site
  dim3 grid;
  dim3 block;
  size_t dynamic_shared_bytes;
  cudaStream_t stream;
};

// Runs thread(ctx) once per thread of the launch (see scheduler.cc).
void RunGrid(const LaunchConfig& config, void (*thread)(void*), void* ctx);

template <class Body>
class BoundLaunch {
 public:
  BoundLaunch(const LaunchConfig& config, Body body) : config_(config), body_(body) {}

  template <class... Args>
  void operator()(Args&&... args) const {
    const auto params = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...);
    auto thread = [&] { std::apply(body_, params); };
    RunGrid(config_, &Invoke<decltype(thread)>, &thread);
  }

 private:
  template <class F>
  static void Invoke(void* f) {
    (*static_cast<F*>(f))();
  }
  LaunchConfig config_;
  Body body_;
};

class Launcher {
 public:
  Launcher(const char* kernel, dim3 grid, dim3 block, size_t dynamic_shared_bytes,
           cudaStream_t stream)
      : config_{kernel, grid, block, dynamic_shared_bytes, stream} {}
  template <class Body>
  BoundLaunch<Body> Bind(Body body) const {
    return BoundLaunch<Body>(config_, body);
  }

 private:
  LaunchConfig config_;
};

// Scheduling knobs and counters for the emulator's own tests.
struct SchedulerStats {
  long long launches = 0;         // grids run (valid launches)
  long long fiber_switches = 0;   // context switches into thread fibers
  long long barrier_phases = 0;   // block phases separated by __syncthreads
  long long fibers_created = 0;   // fiber stacks allocated so far (pooled, reused)
};
SchedulerStats GetSchedulerStats();
// Seed of the thread and block orders: the i-th launch after SetSchedulerSeed(s) draws
// its orders from (s, i), so a sequence of launches replays exactly. Default 1, or
// SAL360_EMU_SEED from the environment.
void SetSchedulerSeed(unsigned long long seed);
unsigned long long SchedulerSeed();

}  // namespace sal360::emu

#endif  // SAL360_NN_CUDA_EMU_LAUNCH_H_

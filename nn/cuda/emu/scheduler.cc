// The emulator's block scheduler: runs a grid's blocks one after another, and the
// threads of a block as cooperative fibers (ucontext) on one OS thread.
//
// A block runs in phases separated by __syncthreads(). In each phase every thread of the
// block runs from where it stopped to its next barrier (or to its end) before any thread
// passes that barrier, so shared memory written before a barrier is seen after it by
// every thread. Within a phase the threads run one at a time in an order drawn afresh
// for every phase of every block from a seeded generator, and the blocks of a grid in a
// seeded order too: a race (a missing barrier, two threads or blocks writing one place)
// makes the result depend on the seed instead of passing by luck. A block in which some
// threads wait at a barrier that others have left the kernel without reaching is an
// error: the launch fails with cudaErrorLaunchFailure (sticky, as a device fault is) and
// a message naming the kernel, the block and the counts.
//
// Fibers are pooled. A fiber runs one not-yet-started thread after another until a
// thread stops at a barrier; only then does the scheduler need another fiber for the
// rest, so a kernel without barriers runs a whole block on one fiber with two context
// switches, and one with barriers holds one fiber per thread.
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <numeric>
#include <vector>

#include "util/splitmix.h"

#include "nn/cuda/emu/launch.h"
#include "nn/cuda/emu/state.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define SAL_EMU_ASAN 1
#endif

uint3 threadIdx = {0, 0, 0};
uint3 blockIdx = {0, 0, 0};
dim3 blockDim = dim3(1, 1, 1);
dim3 gridDim = dim3(1, 1, 1);

namespace sal360::emu {
namespace {

constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlockDimXY = 1024, kMaxBlockDimZ = 64;
constexpr unsigned kMaxGridX = 2147483647u, kMaxGridYZ = 65535;
// Fiber stacks: kernels are shallow, but sanitizers enlarge frames. Reserved, not
// committed: pages are touched only as deep as a kernel goes. A guard page below each
// stack turns an overflow into a fault.
#if defined(SAL_EMU_ASAN)
constexpr size_t kStackBytes = size_t{1} << 20;
#else
constexpr size_t kStackBytes = size_t{256} << 10;
#endif

using util::SplitMix64;

// Uniform in [0, n) (n > 0); the tiny modulo bias is irrelevant for orders.
uint64_t Below(uint64_t& state, uint64_t n) { return SplitMix64(state) % n; }

template <class T>
void Shuffle(std::vector<T>& v, uint64_t& state) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[Below(state, i)]);
}

uint64_t Gcd(uint64_t a, uint64_t b) {
  while (b != 0) {
    const uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

unsigned long long InitialSeed() {
  const char* s = std::getenv("SAL360_EMU_SEED");
  if (s == nullptr || *s == '\0') return 1;
  return std::strtoull(s, nullptr, 0);
}

struct Fiber {
  ucontext_t context;
  char* mapping = nullptr;  // guard page + stack
  char* stack = nullptr;
  int thread = -1;  // linear thread id it is running, -1 when idle
  void* asan_fake_stack = nullptr;
};

class Scheduler {
 public:
  static Scheduler& Get() {
    static Scheduler* s = new Scheduler();  // never destroyed: fibers may outlive main
    return *s;
  }

  void Run(const LaunchConfig& c, void (*thread)(void*), void* ctx);
  void Barrier();

  SchedulerStats stats;
  unsigned long long seed = InitialSeed();
  uint64_t launches_since_seed = 0;

 private:
  static void FiberMain();
  Fiber* AcquireIdleFiber();
  void ResetFiber(Fiber* f);
  void Resume(Fiber* f);
  void YieldToScheduler();
  void SetThread(int linear);
  // Returns false (after reporting) when the block's barriers diverged.
  bool RunBlock(const LaunchConfig& c, uint64_t block_linear, uint64_t& rng);

  ucontext_t scheduler_context_;
  void* scheduler_fake_stack_ = nullptr;
  const void* scheduler_stack_bottom_ = nullptr;
  size_t scheduler_stack_size_ = 0;

  std::vector<std::unique_ptr<Fiber>> fibers_;
  std::vector<Fiber*> idle_;
  Fiber* running_ = nullptr;
  bool in_kernel_ = false;

  // The block being run.
  void (*thread_)(void*) = nullptr;
  void* thread_ctx_ = nullptr;
  std::vector<int> fresh_;  // threads not started yet, in start order
  size_t next_fresh_ = 0;
  int finished_ = 0;
  std::vector<Fiber*> waiting_;  // fibers stopped at the current barrier
};

void Scheduler::SetThread(int linear) {
  const unsigned bx = blockDim.x, by = blockDim.y;
  const unsigned t = static_cast<unsigned>(linear);
  threadIdx = uint3{t % bx, (t / bx) % by, t / (bx * by)};
}

void Scheduler::FiberMain() {
  Scheduler& s = Get();
#if defined(SAL_EMU_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &s.scheduler_stack_bottom_, &s.scheduler_stack_size_);
#endif
  for (;;) {
    Fiber* self = s.running_;
    while (s.next_fresh_ < s.fresh_.size()) {
      const int t = s.fresh_[s.next_fresh_++];
      self->thread = t;
      s.SetThread(t);
      s.thread_(s.thread_ctx_);
      ++s.finished_;
    }
    self->thread = -1;
    s.idle_.push_back(self);
    s.YieldToScheduler();
  }
}

void Scheduler::ResetFiber(Fiber* f) {
#if defined(SAL_EMU_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(f->stack, kStackBytes);
#endif
  getcontext(&f->context);
  f->context.uc_stack.ss_sp = f->stack;
  f->context.uc_stack.ss_size = kStackBytes;
  f->context.uc_link = nullptr;
  makecontext(&f->context, &Scheduler::FiberMain, 0);
  f->thread = -1;
  f->asan_fake_stack = nullptr;
}

Fiber* Scheduler::AcquireIdleFiber() {
  if (!idle_.empty()) {
    Fiber* f = idle_.back();
    idle_.pop_back();
    return f;
  }
  auto f = std::make_unique<Fiber>();
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* m = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) {
    std::fprintf(stderr, "sal360 CUDA emulation: cannot map a %zu-byte fiber stack\n",
                 kStackBytes);
    std::abort();
  }
  f->mapping = static_cast<char*>(m);
  mprotect(f->mapping, page, PROT_NONE);
  f->stack = f->mapping + page;
  ResetFiber(f.get());
  fibers_.push_back(std::move(f));
  ++stats.fibers_created;
  return fibers_.back().get();
}

void Scheduler::Resume(Fiber* f) {
  running_ = f;
  if (f->thread >= 0) SetThread(f->thread);
  ++stats.fiber_switches;
#if defined(SAL_EMU_ASAN)
  __sanitizer_start_switch_fiber(&scheduler_fake_stack_, f->stack, kStackBytes);
#endif
  swapcontext(&scheduler_context_, &f->context);
#if defined(SAL_EMU_ASAN)
  __sanitizer_finish_switch_fiber(scheduler_fake_stack_, nullptr, nullptr);
#endif
  running_ = nullptr;
}

void Scheduler::YieldToScheduler() {
  Fiber* self = running_;
#if defined(SAL_EMU_ASAN)
  __sanitizer_start_switch_fiber(&self->asan_fake_stack, scheduler_stack_bottom_,
                                 scheduler_stack_size_);
#endif
  swapcontext(&self->context, &scheduler_context_);
#if defined(SAL_EMU_ASAN)
  __sanitizer_finish_switch_fiber(self->asan_fake_stack, &scheduler_stack_bottom_,
                                  &scheduler_stack_size_);
#endif
}

void Scheduler::Barrier() {
  if (!in_kernel_ || running_ == nullptr) {
    std::fprintf(stderr, "sal360 CUDA emulation: __syncthreads() called outside a kernel\n");
    std::abort();
  }
  waiting_.push_back(running_);
  YieldToScheduler();
}

bool Scheduler::RunBlock(const LaunchConfig& c, uint64_t block_linear, uint64_t& rng) {
  const unsigned gx = gridDim.x, gy = gridDim.y;
  blockIdx = uint3{static_cast<unsigned>(block_linear % gx),
                   static_cast<unsigned>((block_linear / gx) % gy),
                   static_cast<unsigned>(block_linear / (uint64_t{gx} * gy))};
  const int n = static_cast<int>(blockDim.x * blockDim.y * blockDim.z);
  fresh_.resize(n);
  std::iota(fresh_.begin(), fresh_.end(), 0);
  Shuffle(fresh_, rng);
  next_fresh_ = 0;
  finished_ = 0;
  waiting_.clear();

  // Phase 0: start every thread; each runs to its first barrier or its end.
  while (next_fresh_ < fresh_.size()) Resume(AcquireIdleFiber());
  ++stats.barrier_phases;
  std::vector<Fiber*> phase;
  while (!waiting_.empty()) {
    if (finished_ > 0) {
      std::fprintf(stderr,
                   "sal360 CUDA emulation: kernel %s, block (%u,%u,%u) of grid (%u,%u,%u), "
                   "blockDim (%u,%u,%u): __syncthreads() reached by %zu of %d threads; %d "
                   "left the kernel without it (divergent barrier; scheduler seed %llu)\n",
                   c.kernel, blockIdx.x, blockIdx.y, blockIdx.z, gridDim.x, gridDim.y,
                   gridDim.z, blockDim.x, blockDim.y, blockDim.z, waiting_.size(), n, finished_,
                   seed);
      for (Fiber* f : waiting_) {  // abandon the stopped threads
        ResetFiber(f);
        idle_.push_back(f);
      }
      waiting_.clear();
      return false;
    }
    // Every thread is at a barrier: release them all, in a fresh order.
    phase.swap(waiting_);
    waiting_.clear();
    Shuffle(phase, rng);
    for (Fiber* f : phase) Resume(f);
    phase.clear();
    ++stats.barrier_phases;
  }
  return true;
}

void Scheduler::Run(const LaunchConfig& c, void (*thread)(void*), void* ctx) {
  const uint64_t threads = uint64_t{c.block.x} * c.block.y * c.block.z;
  if (c.block.x == 0 || c.block.y == 0 || c.block.z == 0 || c.grid.x == 0 || c.grid.y == 0 ||
      c.grid.z == 0 || c.block.x > kMaxBlockDimXY || c.block.y > kMaxBlockDimXY ||
      c.block.z > kMaxBlockDimZ || threads > kMaxThreadsPerBlock || c.grid.x > kMaxGridX ||
      c.grid.y > kMaxGridYZ || c.grid.z > kMaxGridYZ) {
    RecordError(cudaErrorInvalidConfiguration);
    return;
  }
  if (c.dynamic_shared_bytes != 0) {  // extern __shared__ is not emulated
    std::fprintf(stderr,
                 "sal360 CUDA emulation: kernel %s asks for %zu bytes of dynamic shared "
                 "memory, which the emulation does not provide\n",
                 c.kernel, c.dynamic_shared_bytes);
    RecordError(cudaErrorNotSupported);
    return;
  }
  if (!IsValidStream(c.stream)) {
    RecordError(cudaErrorInvalidResourceHandle);
    return;
  }
  if (StickyError() != cudaSuccess) {
    RecordError(StickyError());
    return;
  }

  // The launch's own generator: (seed, index of the launch since the seed was set).
  uint64_t rng = seed ^ (0xd1b54a32d192ed03ull * (launches_since_seed + 1));
  SplitMix64(rng);
  ++launches_since_seed;
  ++stats.launches;

  gridDim = c.grid;
  blockDim = c.block;
  thread_ = thread;
  thread_ctx_ = ctx;
  in_kernel_ = true;
  // Blocks in the order b -> (a·b + o) mod B, a coprime to B: a permutation, drawn per
  // launch, with no table of B entries.
  const uint64_t blocks = uint64_t{c.grid.x} * c.grid.y * c.grid.z;
  uint64_t a = 1;
  if (blocks > 2) {
    do {
      a = 1 + Below(rng, blocks - 1);
    } while (Gcd(a, blocks) != 1);
  }
  const uint64_t o = Below(rng, blocks);
  for (uint64_t b = 0; b < blocks; ++b) {
    const uint64_t block =
        static_cast<uint64_t>((static_cast<unsigned __int128>(a) * b + o) % blocks);
    if (!RunBlock(c, block, rng)) {
      RecordStickyError(cudaErrorLaunchFailure);
      break;
    }
  }
  in_kernel_ = false;
  thread_ = nullptr;
  thread_ctx_ = nullptr;
}

}  // namespace

void RunGrid(const LaunchConfig& config, void (*thread)(void*), void* ctx) {
  std::lock_guard<std::recursive_mutex> lock(DeviceMutex());
  Scheduler::Get().Run(config, thread, ctx);
}

SchedulerStats GetSchedulerStats() {
  std::lock_guard<std::recursive_mutex> lock(DeviceMutex());
  return Scheduler::Get().stats;
}

void SetSchedulerSeed(unsigned long long seed) {
  std::lock_guard<std::recursive_mutex> lock(DeviceMutex());
  Scheduler::Get().seed = seed;
  Scheduler::Get().launches_since_seed = 0;
}

unsigned long long SchedulerSeed() {
  std::lock_guard<std::recursive_mutex> lock(DeviceMutex());
  return Scheduler::Get().seed;
}

}  // namespace sal360::emu

void __syncthreads() { sal360::emu::Scheduler::Get().Barrier(); }

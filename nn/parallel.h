// ParallelFor: the CPU path's one parallel loop (OpenMP threads, CpuThreads() of them).
//
// [begin, end) is cut into chunks of `grain` indices (the last may be shorter) and
// fn(chunk_begin, chunk_end) runs once per chunk, on some thread. The cut depends only on
// the arguments, never on the thread count, so a body that writes only its own indices,
// or that reduces its own chunk into a slot of that chunk, gives the same bits with 1 or
// N threads and from run to run. Builds without OpenMP (--config=fuzz) run the chunks in
// order on the calling thread.
#ifndef SAL360_NN_PARALLEL_H_
#define SAL360_NN_PARALLEL_H_

#include <cstdint>
#include <functional>

namespace sal360::nn {

void ParallelFor(int64_t begin, int64_t end, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& fn);

// A grain of about `target_work` units for loops whose index costs `work_per_index`
// (elements, floats moved): small loops stay on one thread, large ones split into
// chunks big enough that the fork costs nothing.
int64_t GrainFor(int64_t work_per_index, int64_t target_work = int64_t{1} << 15);

}  // namespace sal360::nn

#endif  // SAL360_NN_PARALLEL_H_

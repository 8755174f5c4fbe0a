#include "nn/parallel.h"

#include <algorithm>

namespace sal360::nn {

void ParallelFor(int64_t begin, int64_t end, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (end - begin + grain - 1) / grain;
  if (chunks == 1) {
    fn(begin, end);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t c0 = begin + c * grain;
    fn(c0, std::min(end, c0 + grain));
  }
}

int64_t GrainFor(int64_t work_per_index, int64_t target_work) {
  return std::max<int64_t>(1, target_work / std::max<int64_t>(work_per_index, 1));
}

}  // namespace sal360::nn

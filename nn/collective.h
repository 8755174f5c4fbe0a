// Collective: the cross-process reductions data-parallel training needs, as seen from
// nn/ (which knows no transport). dist/ implements it over MPI (CPU) and NCCL (GPU);
// the batch-norm layers take one for --sync_bn. Every rank must make the same calls in
// the same order. An implementation that cannot complete a call (a rank died, a
// timeout) ends the whole job with a message naming the rank: the calls do not return
// errors, exactly as a failed device call does not.
#ifndef SAL360_NN_COLLECTIVE_H_
#define SAL360_NN_COLLECTIVE_H_

#include <cstdint>

#include "nn/device.h"

namespace sal360::nn {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Sums `n` doubles of host memory over the ranks, in place; every rank receives the
  // same bits.
  virtual void AllReduceHost(double* data, int64_t n) = 0;
  // Sums `n` floats of `device` memory over the ranks, in place (every rank the same
  // bits). On the CUDA device the call is ordered on the device's stream.
  virtual void AllReduceDevice(float* data, int64_t n, Device device) = 0;
  // Copies `n` floats of `device` memory from rank `root` to every rank.
  virtual void Broadcast(float* data, int64_t n, Device device, int root) = 0;
};

}  // namespace sal360::nn

#endif  // SAL360_NN_COLLECTIVE_H_

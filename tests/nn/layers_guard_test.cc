// No op of //nn:layers writes outside its outputs (CPU; the CUDA run is in
// layers_cuda_test).
#include "gtest/gtest.h"
#include "tests/nn/guarded_ops.h"

namespace sal360::nn {
namespace {

TEST(LayersGuard, CpuOpsWriteOnlyTheirOutputs) { CheckOpsWriteOnlyTheirOutputs(Device::kCpu); }

}  // namespace
}  // namespace sal360::nn

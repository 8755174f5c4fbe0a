// Data-parallel training on the CUDA device (issue #16): 2 ranks under mpirun with
// --device=cuda give the losses of 2 ranks with --device=cpu (to the tolerance of the
// single-process CPU-vs-CUDA test, tests/tools/train_cuda_test.cc: 2e-4 relative), and
// --sync_bn is refused on the device. Under --config=cuda_emu the device memory is host
// memory and the gradients are all-reduced by MPI (dist/world.h); under --config=cuda
// they go through NCCL, which needs a GPU per rank: with fewer than 2 GPUs (the GPU
// kit's one H200) or without mpirun the test skips and says so.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "nn/device.h"
#include "tests/dist/mpi_runner.h"
#include "tests/testing/gpu.h"

namespace sal360 {
namespace {

using namespace ::sal360::testing;  // NOLINT: the runner's helpers

TEST(MpiCudaTrain, TwoRanksOnTheDeviceMatchTwoRanksOnTheCpu) {
  SAL_SKIP_WITHOUT_CUDA();
  if (!HaveMpirun()) {
    if (GpuRequired()) FAIL() << "SAL360_REQUIRE_GPU=1 but mpirun is not on PATH (tools/bootstrap.sh installs it)";
    GTEST_SKIP() << "mpirun is not on PATH (OpenMPI: tools/bootstrap.sh)";
  }
  const bool emulated = nn::CudaDeviceDescription().find("emulation") != std::string::npos;
  if (!emulated && nn::CudaDeviceCount() < 2) {
    GTEST_SKIP() << "NCCL needs a GPU per rank; this machine has " << nn::CudaDeviceCount();
  }
  const std::string cpu = TempPath("cpu2"), gpu = TempPath("cuda2");
  const RunResult rc = Train(2, {"--device=cpu", "--out=" + cpu, "--max_steps=8", "--validate=false"});
  ASSERT_EQ(rc.exit_code, 0) << rc.output;
  const RunResult rg = Train(2, {"--device=cuda", "--out=" + gpu, "--max_steps=8", "--validate=false"});
  ASSERT_EQ(rg.exit_code, 0) << rg.output;
  const std::vector<double> lc = Losses(cpu), lg = Losses(gpu);
  ASSERT_EQ(lc.size(), 8u);
  ASSERT_EQ(lg.size(), 8u);
  for (size_t i = 0; i < lc.size(); ++i) {
    EXPECT_LE(std::fabs(lc[i] - lg[i]), 2e-4 * std::fabs(lc[i])) << "step " << i + 1;
  }
  const RunResult sync = Train(2, {"--device=cuda", "--out=" + TempPath("sync"), "--max_steps=2", "--sync_bn"});
  EXPECT_NE(sync.exit_code, 0);
  EXPECT_NE(sync.output.find("--sync_bn runs on the CPU only"), std::string::npos) << sync.output;
}

}  // namespace
}  // namespace sal360

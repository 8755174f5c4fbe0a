// World: the processes of a data-parallel run (issue #16), over OpenMPI.
//
// Launch: `mpirun -np N bazel-bin/tools/train ...` (README, "Training on several
// processes"). Under mpirun (OMPI_COMM_WORLD_SIZE in the environment) World::Create
// initialises MPI; otherwise — or with mode "none" — it is a world of one process that
// never touches MPI, so a single-process run needs neither mpirun nor its daemons.
//
// Collectives (nn::Collective):
//   - host memory: MPI_Iallreduce / MPI_Ibcast, polled until done;
//   - CUDA memory: NCCL (ncclAllReduce / ncclBroadcast on the model's stream), its
//     communicator bootstrapped by broadcasting ncclGetUniqueId over MPI, as large C++
//     trainers do; each process takes GPU (local rank mod device count). libnccl.so.2 is
//     loaded (dlopen) only then, so other runs do not need it. Only under
//     --config=cuda; under the emulation (--config=cuda_emu) device memory is host
//     memory, so the stream is synchronised and MPI reduces it directly.
// Every call has a deadline (`timeout_s`): a call that does not complete in time — a rank
// died, hangs, or takes another path — ends the job: "rank R of N: <call> did not
// complete in T s ...", then MPI_Abort, which makes mpirun terminate every rank with a
// non-zero status. Fail() does the same for an error on one rank (a bad file, a full
// disk), so no rank waits forever for another. A rank killed outright (SIGKILL) is
// detected by mpirun itself, which terminates the others.
//
// Reduction order: MPI_SUM over 2 ranks is a single commutative addition, so every rank
// receives the same bits and the result does not depend on which rank contributes
// which half; for N > 2 OpenMPI's algorithm fixes the order for a given N and message
// size (every rank still receives the same bits).
#ifndef SAL360_DIST_WORLD_H_
#define SAL360_DIST_WORLD_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nn/collective.h"
#include "nn/device.h"

namespace sal360::dist {

struct WorldOptions {
  std::string mode = "auto";  // auto (MPI when launched by mpirun) | none | mpi
  double timeout_s = 600;     // deadline of every collective call
  std::string program = "train";  // prefix of messages
};

// True when this process was started by mpirun/mpiexec (OpenMPI's environment).
bool LaunchedByMpirun();

class World : public nn::Collective {
 public:
  static absl::StatusOr<std::unique_ptr<World>> Create(const WorldOptions& options, int* argc, char*** argv);
  ~World() override;  // MPI_Finalize when MPI was initialised

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const { return local_rank_; }
  bool distributed() const { return size_ > 1; }
  const WorldOptions& options() const { return options_; }

  void AllReduceHost(double* data, int64_t n) override;
  void AllReduceDevice(float* data, int64_t n, nn::Device device) override;
  void Broadcast(float* data, int64_t n, nn::Device device, int root) override;
  // Sums floats of host memory (the CPU gradient slab), in place.
  void AllReduceHostFloats(float* data, int64_t n);
  void Barrier();

  // Nonblocking sum of host floats, for gradient buckets: Start returns a handle; Poll
  // lets MPI progress every started reduction; WaitAll completes them (deadline as above).
  int StartAllReduceHostFloats(float* data, int64_t n);
  void Poll();
  void WaitAll();

  // Ends the job: prints "PROGRAM: rank R of N: error: MESSAGE" and aborts every rank
  // (MPI_Abort) with status `code`; in a world of one, prints and exits.
  [[noreturn]] void Fail(const std::string& message, int code = 1);
  // Selects the device of this rank (CUDA: local rank mod the GPU count) and, for N > 1
  // on the CUDA device, creates the NCCL communicator. Call once, before any device work.
  absl::Status PrepareDevice(nn::Device device);

  // "rank R of N" for messages.
  std::string Name() const;

 private:
  World() = default;
  void Wait(void* request, const char* what);
  WorldOptions options_;
  bool mpi_ = false;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  std::vector<void*> pending_;  // MPI_Request* of StartAllReduceHostFloats
  struct Nccl;
  std::unique_ptr<Nccl> nccl_;
};

}  // namespace sal360::dist

#endif  // SAL360_DIST_WORLD_H_

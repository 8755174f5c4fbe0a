#include "dist/world.h"

// OpenMPI's C++ bindings (deprecated) would include <mpi.h> by a path we do not add.
#define OMPI_SKIP_MPICXX 1
#include <mpi/mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nn/context.h"

#ifdef SAL360_WITH_NCCL
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>
#endif

namespace sal360::dist {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

MPI_Request* AsRequest(void* p) { return static_cast<MPI_Request*>(p); }

}  // namespace

bool LaunchedByMpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr;
}

#ifdef SAL360_WITH_NCCL
// NCCL is loaded when a run first needs it (N > 1 on the CUDA device), not linked: its
// 200 MB library is then needed only by multi-GPU runs (the GPU kit does not carry it).
struct World::Nccl {
  void* lib = nullptr;
  ncclComm_t comm = nullptr;
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclBroadcast) broadcast = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;

  absl::Status Load() {
    lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "several processes on the CUDA device need NCCL (libnccl.so.2, in the CUDA toolkit's lib64; "
          "add it to LD_LIBRARY_PATH): ", dlerror()));
    }
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      return fn != nullptr;
    };
    if (!sym(get_unique_id, "ncclGetUniqueId") || !sym(comm_init_rank, "ncclCommInitRank") ||
        !sym(all_reduce, "ncclAllReduce") || !sym(broadcast, "ncclBroadcast") ||
        !sym(comm_destroy, "ncclCommDestroy") || !sym(error_string, "ncclGetErrorString")) {
      return absl::FailedPreconditionError("libnccl.so.2 lacks a function sal360 needs (NCCL >= 2.7 is required)");
    }
    return absl::OkStatus();
  }
  ~Nccl() {
    if (comm != nullptr) comm_destroy(comm);
  }
};
#else
struct World::Nccl {};
#endif

absl::StatusOr<std::unique_ptr<World>> World::Create(const WorldOptions& options, int* argc, char*** argv) {
  if (options.mode != "auto" && options.mode != "none" && options.mode != "mpi") {
    return absl::InvalidArgumentError(absl::StrCat("--dist must be auto, none or mpi, not '", options.mode, "'"));
  }
  if (!(options.timeout_s > 0)) return absl::InvalidArgumentError("--dist_timeout_s must be > 0");
  std::unique_ptr<World> w(new World());
  w->options_ = options;
  const bool use_mpi = options.mode == "mpi" || (options.mode == "auto" && LaunchedByMpirun());
  if (!use_mpi) return w;
  int provided = 0;
  // The loader's threads never call MPI: only the main thread does.
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    return absl::InternalError("MPI_Init_thread failed");
  }
  w->mpi_ = true;
  // Errors of MPI calls come back as codes (checked), not as the default abort.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &w->rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &w->size_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w->rank_, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &w->local_rank_);
  MPI_Comm_free(&local);
  return w;
}

World::~World() {
  nccl_.reset();
  if (mpi_) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
}

std::string World::Name() const { return absl::StrCat("rank ", rank_, " of ", size_); }

void World::Fail(const std::string& message, int code) {
  std::fprintf(stderr, "%s: %s: error: %s\n", options_.program.c_str(), Name().c_str(), message.c_str());
  std::fflush(stderr);
  if (mpi_ && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

void World::Wait(void* request, const char* what) {
  const double deadline = Now() + options_.timeout_s;
  int done = 0;
  int spins = 0;
  while (true) {
    if (MPI_Test(AsRequest(request), &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      Fail(absl::StrCat(what, " failed (another rank has probably died)"));
    }
    if (done) return;
    if (Now() > deadline) {
      Fail(absl::StrFormat(
          "%s did not complete in %g s: another rank has died, hangs or is not at the same step "
          "(--dist_timeout_s)",
          what, options_.timeout_s));
    }
    // Spin briefly (shared-memory transfers finish in microseconds), then yield the core.
    if (++spins > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void World::AllReduceHost(double* data, int64_t n) {
  if (size_ == 1 || n == 0) return;
  MPI_Request r;
  if (MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &r) !=
      MPI_SUCCESS) {
    Fail("MPI_Iallreduce failed");
  }
  Wait(&r, "an all-reduce");
}

void World::AllReduceHostFloats(float* data, int64_t n) {
  if (size_ == 1 || n == 0) return;
  StartAllReduceHostFloats(data, n);
  WaitAll();
}

int World::StartAllReduceHostFloats(float* data, int64_t n) {
  if (size_ == 1 || n == 0) return -1;
  if (n > int64_t{1} << 30) Fail("a gradient bucket of more than 2^30 floats");
  auto* r = new MPI_Request;
  if (MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, r) !=
      MPI_SUCCESS) {
    Fail("MPI_Iallreduce (gradients) failed");
  }
  pending_.push_back(r);
  return static_cast<int>(pending_.size()) - 1;
}

void World::Poll() {
  for (void* p : pending_) {
    int done = 0;
    if (*AsRequest(p) == MPI_REQUEST_NULL) continue;
    if (MPI_Test(AsRequest(p), &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      Fail("the gradient all-reduce failed (another rank has probably died)");
    }
  }
}

void World::WaitAll() {
  for (void* p : pending_) {
    if (*AsRequest(p) != MPI_REQUEST_NULL) Wait(p, "the gradient all-reduce");
    delete AsRequest(p);
  }
  pending_.clear();
}

void World::Barrier() {
  if (size_ == 1) return;
  MPI_Request r;
  if (MPI_Ibarrier(MPI_COMM_WORLD, &r) != MPI_SUCCESS) Fail("MPI_Ibarrier failed");
  Wait(&r, "a barrier");
}

absl::Status World::PrepareDevice(nn::Device device) {
  if (device != nn::Device::kCuda) return absl::OkStatus();
#ifdef SAL360_WITH_NCCL
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count < 1) {
    return absl::FailedPreconditionError(absl::StrCat(Name(), ": no CUDA device"));
  }
  if (cudaSetDevice(local_rank_ % count) != cudaSuccess) {
    return absl::InternalError(absl::StrCat(Name(), ": cudaSetDevice(", local_rank_ % count, ") failed"));
  }
  if (size_ == 1) return absl::OkStatus();
  nccl_ = std::make_unique<Nccl>();
  if (absl::Status s = nccl_->Load(); !s.ok()) Fail(std::string(s.message()));  // every rank, the same
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  if (rank_ == 0 && nccl_->get_unique_id(&id) != ncclSuccess) Fail("ncclGetUniqueId failed");
  MPI_Request r;
  MPI_Ibcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD, &r);
  Wait(&r, "the NCCL bootstrap broadcast");
  const ncclResult_t st = nccl_->comm_init_rank(&nccl_->comm, size_, id, rank_);
  if (st != ncclSuccess) {
    nccl_->comm = nullptr;
    return absl::InternalError(absl::StrCat(Name(), ": ncclCommInitRank: ", nccl_->error_string(st),
                                            " (NCCL needs a GPU per rank)"));
  }
  return absl::OkStatus();
#else
  return absl::OkStatus();  // the emulation: device memory is host memory
#endif
}

void World::AllReduceDevice(float* data, int64_t n, nn::Device device) {
  if (size_ == 1 || n == 0) return;
  if (device == nn::Device::kCpu) return AllReduceHostFloats(data, n);
  nn::Context& ctx = nn::Context::Get(nn::Device::kCuda);
#ifdef SAL360_WITH_NCCL
  if (nccl_ == nullptr) Fail("the NCCL communicator was not created (PrepareDevice)");
  const ncclResult_t st = nccl_->all_reduce(data, data, static_cast<size_t>(n), ncclFloat, ncclSum, nccl_->comm,
                                            static_cast<cudaStream_t>(ctx.stream()));
  if (st != ncclSuccess) Fail(absl::StrCat("ncclAllReduce: ", nccl_->error_string(st)));
#else
  ctx.Synchronize();
  AllReduceHostFloats(data, n);
#endif
}

void World::Broadcast(float* data, int64_t n, nn::Device device, int root) {
  if (size_ == 1 || n == 0) return;
#ifdef SAL360_WITH_NCCL
  if (device == nn::Device::kCuda) {
    if (nccl_ == nullptr) Fail("the NCCL communicator was not created (PrepareDevice)");
    nn::Context& ctx = nn::Context::Get(nn::Device::kCuda);
    const ncclResult_t st = nccl_->broadcast(data, data, static_cast<size_t>(n), ncclFloat, root, nccl_->comm,
                                              static_cast<cudaStream_t>(ctx.stream()));
    if (st != ncclSuccess) Fail(absl::StrCat("ncclBroadcast: ", nccl_->error_string(st)));
    return;
  }
#endif
  if (device == nn::Device::kCuda) nn::Context::Get(nn::Device::kCuda).Synchronize();
  for (int64_t done = 0; done < n;) {
    const int chunk = static_cast<int>(std::min<int64_t>(n - done, int64_t{1} << 28));
    MPI_Request r;
    if (MPI_Ibcast(data + done, chunk, MPI_FLOAT, root, MPI_COMM_WORLD, &r) != MPI_SUCCESS) Fail("MPI_Ibcast failed");
    Wait(&r, "a broadcast");
    done += chunk;
  }
}

}  // namespace sal360::dist

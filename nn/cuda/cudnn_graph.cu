// The cudnn engine's convolutions through the cuDNN 9 backend API (see cudnn_graph.h).
#include "nn/cuda/cudnn_graph.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "nn/cuda/check.h"

namespace sal360::nn::cuda {
namespace {
std::atomic<int64_t> g_executions{0};
}  // namespace

int64_t CudnnExecutions() { return g_executions.load(); }

const char* CudnnConvOpName(CudnnConvOp op) {
  switch (op) {
    case CudnnConvOp::kForward: return "convolution forward";
    case CudnnConvOp::kBackwardData: return "convolution backward data";
    case CudnnConvOp::kBackwardFilter: return "convolution backward filter";
  }
  return "?";
}

const char* CudnnBnOpName(CudnnBnOp op) {
  switch (op) {
    case CudnnBnOp::kForwardTrain: return "batch-norm + ReLU forward (training)";
    case CudnnBnOp::kForwardEval: return "batch-norm + ReLU forward (inference)";
    case CudnnBnOp::kBackward: return "batch-norm + ReLU backward";
  }
  return "?";
}

}  // namespace sal360::nn::cuda


namespace sal360::nn::cuda {
namespace {

// The uids of the three tensors in every graph.
constexpr int64_t kUidX = 1, kUidW = 2, kUidY = 3;
constexpr int64_t kAlignment = 16;

// A backend descriptor, destroyed with its owner. Set() and Finalize() return the status
// (plan building tries engine configs that may legitimately fail); the caller decides.
class Desc {
 public:
  explicit Desc(cudnnBackendDescriptorType_t type) {
    SAL_CUDA_CHECK(cudnnBackendCreateDescriptor(type, &d_));
  }
  ~Desc() {
    if (d_ != nullptr) cudnnBackendDestroyDescriptor(d_);
  }
  Desc(Desc&& o) noexcept : d_(o.d_) { o.d_ = nullptr; }
  Desc& operator=(Desc&& o) noexcept {
    if (this != &o) {
      if (d_ != nullptr) cudnnBackendDestroyDescriptor(d_);
      d_ = o.d_;
      o.d_ = nullptr;
    }
    return *this;
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  cudnnBackendDescriptor_t get() const { return d_; }
  cudnnStatus_t Set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
                    int64_t count, const void* value) {
    return cudnnBackendSetAttribute(d_, name, type, count, value);
  }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

// A failed step of plan building: which call, and its status.
struct BuildError {
  std::string what;
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
};

#define SAL_CUDNN_TRY(err, expr)                          \
  do {                                                    \
    const cudnnStatus_t sal_s = (expr);                   \
    if (sal_s != CUDNN_STATUS_SUCCESS) {                  \
      (err) = BuildError{#expr, sal_s};                   \
      return false;                                       \
    }                                                     \
  } while (0)

bool MakeTensor(int64_t uid, const std::vector<int64_t>& dims, const std::vector<int64_t>& strides,
                Desc& t, BuildError& err, bool is_virtual = false, bool by_value = false,
                cudnnDataType_t type = CUDNN_DATA_FLOAT) {
  const int64_t alignment = kAlignment;
  const int64_t rank = static_cast<int64_t>(dims.size());
  SAL_CUDNN_TRY(err, t.Set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type));
  SAL_CUDNN_TRY(err, t.Set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, rank, dims.data()));
  SAL_CUDNN_TRY(err, t.Set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, rank, strides.data()));
  SAL_CUDNN_TRY(err, t.Set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
  SAL_CUDNN_TRY(err, t.Set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment));
  if (is_virtual) {
    const bool v = true;
    SAL_CUDNN_TRY(err, t.Set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &v));
  }
  if (by_value) {
    const bool v = true;
    SAL_CUDNN_TRY(err, t.Set(CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &v));
  }
  SAL_CUDNN_TRY(err, cudnnBackendFinalize(t.get()));
  return true;
}

// An execution plan and every descriptor it was built from (tensors, operations, graph,
// engine configs), which live as long as the plan: nothing a plan may refer to is
// destroyed before it.
struct Plan {
  std::vector<std::unique_ptr<Desc>> keep;
  Desc plan{CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR};
  int64_t workspace = 0;
};
Desc& Keep(Plan& p, cudnnBackendDescriptorType_t type) {
  p.keep.push_back(std::make_unique<Desc>(type));
  return *p.keep.back();
}

// Runs `plan` on the handle's stream with the tensors `ptrs` bound to `uids`.
void Execute(void* cudnn, const Plan& plan, const std::vector<int64_t>& uids,
             const std::vector<void*>& ptrs, void* workspace) {
  Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  SAL_CUDA_CHECK(pack.Set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64,
                          static_cast<int64_t>(uids.size()), uids.data()));
  SAL_CUDA_CHECK(pack.Set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR,
                          static_cast<int64_t>(ptrs.size()), ptrs.data()));
  SAL_CUDA_CHECK(pack.Set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace));
  SAL_CUDA_CHECK(cudnnBackendFinalize(pack.get()));
  SAL_CUDA_CHECK(cudnnBackendExecute(static_cast<cudnnHandle_t>(cudnn), plan.plan.get(), pack.get()));
  g_executions.fetch_add(1);
}

// Engine filter of cudnn_graph.h: false for notes this precision must not use.
bool EngineAllowed(const std::vector<cudnnBackendNumericalNote_t>& notes, Precision precision,
                   bool* tensor_core) {
  *tensor_core = false;
  for (cudnnBackendNumericalNote_t n : notes) {
    if (n == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC) return false;
    if (n == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) return false;
    if (n == CUDNN_NUMERICAL_NOTE_TENSOR_CORE) *tensor_core = true;
  }
  return !(*tensor_core && precision == Precision::kFp32);
}

// The operation graph of `ops` (finalised operation descriptors), cuDNN's heuristics
// (mode A, then the fallback list), and the first engine config allowed by `precision`
// (cudnn_graph.h) whose plan finalises.
bool FinalizeGraph(cudnnHandle_t handle, std::vector<cudnnBackendDescriptor_t> ops,
                   Precision precision, Plan& out, BuildError& err) {
  Desc& graph = Keep(out, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  SAL_CUDNN_TRY(err, graph.Set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle));
  SAL_CUDNN_TRY(err, graph.Set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                               static_cast<int64_t>(ops.size()), ops.data()));
  SAL_CUDNN_TRY(err, cudnnBackendFinalize(graph.get()));

  // Candidate engine configs: heuristics mode A, then the fallback list.
  int tried = 0;
  std::string last_failure = "no engine config was offered";
  for (cudnnBackendHeurMode_t heur_mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    Desc& heur = Keep(out, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    cudnnBackendDescriptor_t gd = graph.get();
    SAL_CUDNN_TRY(err, heur.Set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &gd));
    SAL_CUDNN_TRY(err, heur.Set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &heur_mode));
    if (cudnnBackendFinalize(heur.get()) != CUDNN_STATUS_SUCCESS) continue;
    int64_t count = 0;
    SAL_CUDNN_TRY(err, cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr));
    if (count <= 0) continue;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (int64_t i = 0; i < count; ++i) raw.push_back(Keep(out, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR).get());
    int64_t got = 0;
    SAL_CUDNN_TRY(err, cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got,
                                                raw.data()));
    // Allowed configs in the heuristics' order; for tf32 the tensor-core ones first.
    std::vector<int64_t> order, later;
    for (int64_t i = 0; i < got; ++i) {
      Desc& engine = Keep(out, CUDNN_BACKEND_ENGINE_DESCRIPTOR);
      cudnnBackendDescriptor_t ed = engine.get();
      int64_t n = 0;
      if (cudnnBackendGetAttribute(raw[i], CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                   1, &n, &ed) != CUDNN_STATUS_SUCCESS) {
        continue;
      }
      std::vector<cudnnBackendNumericalNote_t> notes(CUDNN_NUMERICAL_NOTE_TYPE_COUNT);
      int64_t n_notes = 0;
      if (cudnnBackendGetAttribute(ed, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                   static_cast<int64_t>(notes.size()), &n_notes,
                                   notes.data()) != CUDNN_STATUS_SUCCESS) {
        continue;
      }
      notes.resize(static_cast<size_t>(n_notes));
      bool tensor_core = false;
      if (!EngineAllowed(notes, precision, &tensor_core)) continue;
      (precision == Precision::kTf32 && !tensor_core ? later : order).push_back(i);
    }
    order.insert(order.end(), later.begin(), later.end());
    for (int64_t i : order) {
      ++tried;
      Desc plan(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
      SAL_CUDNN_TRY(err, plan.Set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle));
      SAL_CUDNN_TRY(err, plan.Set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw[i]));
      const cudnnStatus_t st = cudnnBackendFinalize(plan.get());
      if (st != CUDNN_STATUS_SUCCESS) {
        last_failure = std::string("cudnnBackendFinalize(execution plan): ") + cudnnGetErrorString(st);
        continue;
      }
      int64_t ws = 0, n = 0;
      SAL_CUDNN_TRY(err, cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                  CUDNN_TYPE_INT64, 1, &n, &ws));
      out.plan = std::move(plan);
      out.workspace = ws;
      return true;
    }
  }
  err = BuildError{"no allowed engine config finalised (" + std::to_string(tried) +
                       " tried; last: " + last_failure + ")",
                   CUDNN_STATUS_NOT_SUPPORTED};
  return false;
}

// Builds the plan of (op, shape); false with the failing call in `err`.
bool BuildPlan(cudnnHandle_t handle, CudnnConvOp op, const CudnnConvShape& s, Plan& out,
               BuildError& err) {
  const int64_t p = s.pixels, ci = s.cin, co = s.cout;
  Desc& x = Keep(out, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  Desc& w = Keep(out, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  Desc& y = Keep(out, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  if (!MakeTensor(kUidX, {p, ci, 3, 3}, {9 * ci, 1, 3 * ci, ci}, x, err) ||
      !MakeTensor(kUidW, {co, ci, 3, 3}, {9 * ci, 1, 3 * ci, ci}, w, err) ||
      !MakeTensor(kUidY, {p, co, 1, 1}, {co, 1, co, co}, y, err)) {
    return false;
  }

  Desc& conv = Keep(out, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const int64_t spatial = 2, ones[2] = {1, 1}, zeros[2] = {0, 0};
  const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  SAL_CUDNN_TRY(err, conv.Set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial));
  SAL_CUDNN_TRY(err, conv.Set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute));
  SAL_CUDNN_TRY(err, conv.Set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
  SAL_CUDNN_TRY(err, conv.Set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, ones));
  SAL_CUDNN_TRY(err, conv.Set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, ones));
  SAL_CUDNN_TRY(err, conv.Set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, zeros));
  SAL_CUDNN_TRY(err, conv.Set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, zeros));
  SAL_CUDNN_TRY(err, cudnnBackendFinalize(conv.get()));

  // alpha = 1; beta is a graph attribute too (fixed per plan: forward and filter
  // gradient accumulate, the data gradient overwrites). The scalars are float for FLOAT
  // compute.
  const float alpha = 1.0f;
  const float beta = op == CudnnConvOp::kBackwardData ? 0.0f : 1.0f;
  cudnnBackendDescriptor_t xd = x.get(), wd = w.get(), yd = y.get(), cd = conv.get();
  // The attribute names of the three convolution operations, as (X, W, Y) of the
  // convolution: forward (x, w, y), data gradient (dx, w, dy), filter gradient (x, dw, dy).
  struct Names {
    cudnnBackendDescriptorType_t type;
    cudnnBackendAttributeName_t alpha, beta, conv, x, w, y;
  };
  static const Names kNames[3] = {
      {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
       CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
       CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
       CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y},
      {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY},
      {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY},
  };
  const Names& names = kNames[static_cast<int>(op)];
  Desc* operation = &Keep(out, names.type);
  SAL_CUDNN_TRY(err, operation->Set(names.alpha, CUDNN_TYPE_FLOAT, 1, &alpha));
  SAL_CUDNN_TRY(err, operation->Set(names.beta, CUDNN_TYPE_FLOAT, 1, &beta));
  SAL_CUDNN_TRY(err, operation->Set(names.conv, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cd));
  SAL_CUDNN_TRY(err, operation->Set(names.x, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &xd));
  SAL_CUDNN_TRY(err, operation->Set(names.w, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &wd));
  SAL_CUDNN_TRY(err, operation->Set(names.y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &yd));
  SAL_CUDNN_TRY(err, cudnnBackendFinalize(operation->get()));

  return FinalizeGraph(handle, {operation->get()}, s.precision, out, err);
}

using Key = std::tuple<void*, int, int64_t, int, int, int>;

std::mutex& CacheMutex() {
  static std::mutex m;
  return m;
}
std::map<Key, std::unique_ptr<Plan>>& Cache() {
  static auto* cache = new std::map<Key, std::unique_ptr<Plan>>();
  return *cache;
}

[[noreturn]] void PlanFailed(CudnnConvOp op, const CudnnConvShape& s, const BuildError& e) {
  std::fprintf(stderr,
               "sal360: cudnn engine: cannot build a plan for %s (P %lld, Cin %d, Cout %d, %s): "
               "%s -> %s\n",
               CudnnConvOpName(op), static_cast<long long>(s.pixels), s.cin, s.cout,
               PrecisionName(s.precision), e.what.c_str(), cudnnGetErrorString(e.status));
  std::abort();
}

const Plan& CachedPlan(void* cudnn, CudnnConvOp op, const CudnnConvShape& s) {
  const Key key{cudnn, static_cast<int>(op), s.pixels, s.cin, s.cout, static_cast<int>(s.precision)};
  std::lock_guard<std::mutex> lock(CacheMutex());
  auto it = Cache().find(key);
  if (it != Cache().end()) return *it->second;
  auto plan = std::make_unique<Plan>();
  BuildError err;
  if (!BuildPlan(static_cast<cudnnHandle_t>(cudnn), op, s, *plan, err)) PlanFailed(op, s, err);
  return *Cache().emplace(key, std::move(plan)).first->second;
}


// ---- Batch-norm + ReLU graphs ----

// Tensor uids of the BN graphs (the conv graphs use 1..3).
enum BnUid : int64_t {
  kBnX = 10, kBnScale, kBnBias, kBnRunMeanIn, kBnRunVarIn, kBnRunMeanOut, kBnRunVarOut,
  kBnMean, kBnInvVar, kBnEps, kBnMomentum, kBnYVirtual, kBnY, kBnDy, kBnDzVirtual, kBnDScale,
  kBnDBias, kBnDx
};

// A graph under construction: its descriptors are kept by the plan being built.
struct GraphParts {
  Plan& plan;
  std::vector<cudnnBackendDescriptor_t> ops;
  Desc& New(cudnnBackendDescriptorType_t type) { return Keep(plan, type); }
};

bool BuildBnPlan(cudnnHandle_t handle, CudnnBnOp op, int64_t m, int64_t c, Plan& out,
                 BuildError& err) {
  GraphParts g{out, {}};
  std::map<int64_t, cudnnBackendDescriptor_t> t;  // uid -> tensor descriptor
  const auto rows = [&](int64_t uid, bool is_virtual) {
    Desc& d = g.New(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    t[uid] = d.get();
    return MakeTensor(uid, {m, c, 1, 1}, {c, 1, c, c}, d, err, is_virtual);
  };
  const auto channels = [&](int64_t uid) {
    Desc& d = g.New(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    t[uid] = d.get();
    return MakeTensor(uid, {1, c, 1, 1}, {c, 1, c, c}, d, err);
  };
  const auto scalar = [&](int64_t uid) {
    Desc& d = g.New(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    t[uid] = d.get();
    return MakeTensor(uid, {1, 1, 1, 1}, {1, 1, 1, 1}, d, err, false, /*by_value=*/true);
  };
  const auto pointwise = [&](cudnnPointwiseMode_t mode, int64_t x_uid, int64_t y_uid,
                             int64_t dy_uid, int64_t dx_uid) {
    Desc& pw = g.New(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    SAL_CUDNN_TRY(err, pw.Set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode));
    SAL_CUDNN_TRY(err, pw.Set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec));
    SAL_CUDNN_TRY(err, cudnnBackendFinalize(pw.get()));
    Desc& o = g.New(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    cudnnBackendDescriptor_t pd = pw.get();
    SAL_CUDNN_TRY(err, o.Set(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pd));
    SAL_CUDNN_TRY(err, o.Set(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[x_uid]));
    if (y_uid != 0) {
      SAL_CUDNN_TRY(err, o.Set(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[y_uid]));
    }
    if (dy_uid != 0) {
      SAL_CUDNN_TRY(err, o.Set(CUDNN_ATTR_OPERATION_POINTWISE_DYDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[dy_uid]));
      SAL_CUDNN_TRY(err, o.Set(CUDNN_ATTR_OPERATION_POINTWISE_DXDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[dx_uid]));
    }
    SAL_CUDNN_TRY(err, cudnnBackendFinalize(o.get()));
    g.ops.push_back(o.get());
    return true;
  };
  const cudnnBackendNormMode_t mode = CUDNN_BATCH_NORM;

  if (op == CudnnBnOp::kBackward) {
    if (!rows(kBnX, false) || !rows(kBnY, false) || !rows(kBnDy, false) ||
        !rows(kBnDzVirtual, true) || !rows(kBnDx, false) || !channels(kBnScale) ||
        !channels(kBnMean) || !channels(kBnInvVar) || !channels(kBnDScale) ||
        !channels(kBnDBias)) {
      return false;
    }
    // dz = relu'(y) * dy: RELU_BWD with the ReLU's output as its x (y > 0 where x > 0).
    if (!pointwise(CUDNN_POINTWISE_RELU_BWD, kBnY, 0, kBnDy, kBnDzVirtual)) return false;
    Desc& n = g.New(CUDNN_BACKEND_OPERATION_NORM_BACKWARD_DESCRIPTOR);
    SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_BWD_MODE, CUDNN_TYPE_NORM_MODE, 1, &mode));
    SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_BWD_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnX]));
    SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_BWD_MEAN_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnMean]));
    SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_BWD_INV_VARIANCE_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnInvVar]));
    SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_BWD_DYDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnDzVirtual]));
    SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_BWD_SCALE_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnScale]));
    SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_BWD_DSCALE_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnDScale]));
    SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_BWD_DBIAS_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnDBias]));
    SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_BWD_DXDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnDx]));
    SAL_CUDNN_TRY(err, cudnnBackendFinalize(n.get()));
    g.ops.push_back(n.get());
    return FinalizeGraph(handle, g.ops, Precision::kFp32, out, err);
  }

  const bool train = op == CudnnBnOp::kForwardTrain;
  if (!rows(kBnX, false) || !rows(kBnYVirtual, true) || !rows(kBnY, false) ||
      !channels(kBnScale) || !channels(kBnBias) || !channels(kBnMean) || !channels(kBnInvVar) ||
      !scalar(kBnEps)) {
    return false;
  }
  if (train && (!channels(kBnRunMeanIn) || !channels(kBnRunVarIn) || !channels(kBnRunMeanOut) ||
                !channels(kBnRunVarOut) || !scalar(kBnMomentum))) {
    return false;
  }
  Desc& n = g.New(CUDNN_BACKEND_OPERATION_NORM_FORWARD_DESCRIPTOR);
  const cudnnBackendNormFwdPhase_t phase = train ? CUDNN_NORM_FWD_TRAINING : CUDNN_NORM_FWD_INFERENCE;
  SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_FWD_MODE, CUDNN_TYPE_NORM_MODE, 1, &mode));
  SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_FWD_PHASE, CUDNN_TYPE_NORM_FWD_PHASE, 1, &phase));
  SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_FWD_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnX]));
  SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_FWD_MEAN_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnMean]));
  SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_FWD_INV_VARIANCE_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnInvVar]));
  SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_FWD_SCALE_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnScale]));
  SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_FWD_BIAS_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnBias]));
  SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_FWD_EPSILON_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnEps]));
  if (train) {
    SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_FWD_EXP_AVG_FACTOR_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnMomentum]));
    SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_FWD_INPUT_RUNNING_MEAN_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnRunMeanIn]));
    SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_FWD_INPUT_RUNNING_VAR_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnRunVarIn]));
    SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_FWD_OUTPUT_RUNNING_MEAN_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnRunMeanOut]));
    SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_FWD_OUTPUT_RUNNING_VAR_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnRunVarOut]));
  }
  SAL_CUDNN_TRY(err, n.Set(CUDNN_ATTR_OPERATION_NORM_FWD_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[kBnYVirtual]));
  SAL_CUDNN_TRY(err, cudnnBackendFinalize(n.get()));
  g.ops.push_back(n.get());
  if (!pointwise(CUDNN_POINTWISE_RELU_FWD, kBnYVirtual, kBnY, 0, 0)) return false;
  return FinalizeGraph(handle, g.ops, Precision::kFp32, out, err);
}

struct PlanEntry {
  bool ok = false;
  std::string why;
  Plan plan;
};

PlanEntry& CachedBnPlan(void* cudnn, CudnnBnOp op, int64_t m, int c) {
  const Key key{cudnn, 100 + static_cast<int>(op), m, c, 0, 0};
  static auto* cache = new std::map<Key, std::unique_ptr<PlanEntry>>();
  std::lock_guard<std::mutex> lock(CacheMutex());
  auto it = cache->find(key);
  if (it != cache->end()) return *it->second;
  auto e = std::make_unique<PlanEntry>();
  BuildError err;
  e->ok = BuildBnPlan(static_cast<cudnnHandle_t>(cudnn), op, m, c, e->plan, err);
  if (!e->ok) e->why = err.what + " -> " + cudnnGetErrorString(err.status);
  return *cache->emplace(key, std::move(e)).first->second;
}

// Bytes of the running-statistics outputs placed after the plan's workspace.
size_t AlignUp(size_t n) { return (n + 255) / 256 * 256; }


// ---- Max-pool graph ----

enum PoolUid : int64_t { kPoolX = 40, kPoolY, kPoolIdx };

bool BuildPoolPlan(cudnnHandle_t handle, int n, int h, int w, int c, Plan& out, BuildError& err) {
  const int64_t N = n, H = h, W = w, C = c;
  Desc& x = Keep(out, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  Desc& y = Keep(out, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  Desc& idx = Keep(out, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  if (!MakeTensor(kPoolX, {N, C, H, W}, {H * W * C, 1, W * C, C}, x, err) ||
      !MakeTensor(kPoolY, {N, C, H / 2, W / 2}, {H / 2 * (W / 2) * C, 1, W / 2 * C, C}, y, err) ||
      !MakeTensor(kPoolIdx, {N, C, H / 2, W / 2}, {H / 2 * (W / 2) * C, 1, W / 2 * C, C}, idx, err,
                  false, false, CUDNN_DATA_INT8)) {
    return false;
  }
  Desc& r = Keep(out, CUDNN_BACKEND_RESAMPLE_DESCRIPTOR);
  const cudnnResampleMode_t mode = CUDNN_RESAMPLE_MAXPOOL;
  const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  const cudnnPaddingMode_t padding = CUDNN_NEG_INF_PAD;
  const int64_t spatial = 2, twos[2] = {2, 2}, zeros[2] = {0, 0};
  SAL_CUDNN_TRY(err, r.Set(CUDNN_ATTR_RESAMPLE_MODE, CUDNN_TYPE_RESAMPLE_MODE, 1, &mode));
  SAL_CUDNN_TRY(err, r.Set(CUDNN_ATTR_RESAMPLE_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute));
  SAL_CUDNN_TRY(err, r.Set(CUDNN_ATTR_RESAMPLE_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial));
  SAL_CUDNN_TRY(err, r.Set(CUDNN_ATTR_RESAMPLE_WINDOW_DIMS, CUDNN_TYPE_INT64, 2, twos));
  SAL_CUDNN_TRY(err, r.Set(CUDNN_ATTR_RESAMPLE_STRIDES, CUDNN_TYPE_INT64, 2, twos));
  SAL_CUDNN_TRY(err, r.Set(CUDNN_ATTR_RESAMPLE_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, zeros));
  SAL_CUDNN_TRY(err, r.Set(CUDNN_ATTR_RESAMPLE_POST_PADDINGS, CUDNN_TYPE_INT64, 2, zeros));
  SAL_CUDNN_TRY(err, r.Set(CUDNN_ATTR_RESAMPLE_PADDING_MODE, CUDNN_TYPE_PADDING_MODE, 1, &padding));
  SAL_CUDNN_TRY(err, cudnnBackendFinalize(r.get()));
  Desc& o = Keep(out, CUDNN_BACKEND_OPERATION_RESAMPLE_FWD_DESCRIPTOR);
  cudnnBackendDescriptor_t rd = r.get(), xd = x.get(), yd = y.get(), id = idx.get();
  SAL_CUDNN_TRY(err, o.Set(CUDNN_ATTR_OPERATION_RESAMPLE_FWD_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &rd));
  SAL_CUDNN_TRY(err, o.Set(CUDNN_ATTR_OPERATION_RESAMPLE_FWD_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &xd));
  SAL_CUDNN_TRY(err, o.Set(CUDNN_ATTR_OPERATION_RESAMPLE_FWD_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &yd));
  SAL_CUDNN_TRY(err, o.Set(CUDNN_ATTR_OPERATION_RESAMPLE_FWD_IDXDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &id));
  SAL_CUDNN_TRY(err, cudnnBackendFinalize(o.get()));
  return FinalizeGraph(handle, {o.get()}, Precision::kFp32, out, err);
}

PlanEntry& CachedPoolPlan(void* cudnn, int n, int h, int w, int c) {
  const Key key{cudnn, 200, n, h, w, c};
  static auto* cache = new std::map<Key, std::unique_ptr<PlanEntry>>();
  std::lock_guard<std::mutex> lock(CacheMutex());
  auto it = cache->find(key);
  if (it != cache->end()) return *it->second;
  auto e = std::make_unique<PlanEntry>();
  BuildError err;
  if (h % 2 != 0 || w % 2 != 0) {
    e->why = "odd height or width (the native kernel drops the last row or column)";
  } else {
    e->ok = BuildPoolPlan(static_cast<cudnnHandle_t>(cudnn), n, h, w, c, e->plan, err);
    if (!e->ok) e->why = err.what + " -> " + cudnnGetErrorString(err.status);
  }
  return *cache->emplace(key, std::move(e)).first->second;
}

}  // namespace

bool CudnnGraphAvailable(void* cudnn, std::string* why) {
  static std::once_flag once;
  static bool ok = false;
  static std::string reason;
  std::call_once(once, [&] {
    const size_t version = cudnnGetVersion();
    if (version < 90000) {
      reason = "cuDNN " + std::to_string(version) + " is older than 9.0 (the graph API's backend)";
      return;
    }
    // A small forward plan: if it finalises, the engine's calls work on this device.
    Plan plan;
    BuildError err;
    if (!BuildPlan(static_cast<cudnnHandle_t>(cudnn), CudnnConvOp::kForward,
                   CudnnConvShape{64, 8, 8, Precision::kFp32}, plan, err)) {
      reason = "a probe plan did not build: " + err.what + " -> " + cudnnGetErrorString(err.status);
      return;
    }
    ok = true;
  });
  if (!ok && why != nullptr) *why = reason;
  return ok;
}

size_t CudnnConvWorkspaceBytes(void* cudnn, CudnnConvOp op, const CudnnConvShape& shape) {
  return static_cast<size_t>(CachedPlan(cudnn, op, shape).workspace);
}

void CudnnConv(void* cudnn, CudnnConvOp op, const CudnnConvShape& shape, float* x, float* w,
               float* y, void* workspace) {
  for (const void* p : {static_cast<const void*>(x), static_cast<const void*>(w),
                        static_cast<const void*>(y)}) {
    if (reinterpret_cast<uintptr_t>(p) % kAlignment != 0) {
      std::fprintf(stderr, "sal360: cudnn engine: %s operand %p is not %lld-byte aligned\n",
                   CudnnConvOpName(op), p, static_cast<long long>(kAlignment));
      std::abort();
    }
  }
  Execute(cudnn, CachedPlan(cudnn, op, shape), {kUidX, kUidW, kUidY}, {x, w, y}, workspace);
}

bool CudnnBnReluSupported(void* cudnn, CudnnBnOp op, int64_t m, int c, size_t* workspace,
                          std::string* why) {
  const PlanEntry& e = CachedBnPlan(cudnn, op, m, c);
  if (!e.ok) {
    if (why != nullptr) *why = e.why;
    return false;
  }
  size_t bytes = AlignUp(static_cast<size_t>(e.plan.workspace));
  if (op == CudnnBnOp::kForwardTrain) bytes += 2 * AlignUp(static_cast<size_t>(c) * sizeof(float));
  if (workspace != nullptr) *workspace = bytes;
  return true;
}

void CudnnBnRelu(void* cudnn, CudnnBnOp op, int64_t m, int c, const CudnnBnArgs& a,
                 void* workspace) {
  const PlanEntry& e = CachedBnPlan(cudnn, op, m, c);
  if (!e.ok) {
    std::fprintf(stderr, "sal360: cudnn engine: %s (M %lld, C %d) has no plan: %s\n",
                 CudnnBnOpName(op), static_cast<long long>(m), c, e.why.c_str());
    std::abort();
  }
  cudnnHandle_t h = static_cast<cudnnHandle_t>(cudnn);
  cudaStream_t stream = nullptr;
  SAL_CUDA_CHECK(cudnnGetStream(h, &stream));
  char* tail = static_cast<char*>(workspace) + AlignUp(static_cast<size_t>(e.plan.workspace));
  float* run_mean_out = reinterpret_cast<float*>(tail);
  float* run_var_out = reinterpret_cast<float*>(tail + AlignUp(static_cast<size_t>(c) * sizeof(float)));
  float eps = a.epsilon, momentum = a.momentum;
  std::vector<int64_t> uids;
  std::vector<void*> ptrs;
  const auto bind = [&](int64_t uid, const void* p) {
    uids.push_back(uid);
    ptrs.push_back(const_cast<void*>(p));
  };
  switch (op) {
    case CudnnBnOp::kForwardTrain:
      bind(kBnX, a.x); bind(kBnScale, a.gamma); bind(kBnBias, a.beta);
      bind(kBnRunMeanIn, a.running_mean); bind(kBnRunVarIn, a.running_var);
      bind(kBnRunMeanOut, run_mean_out); bind(kBnRunVarOut, run_var_out);
      bind(kBnMean, a.save_mean); bind(kBnInvVar, a.save_invstd);
      bind(kBnEps, &eps); bind(kBnMomentum, &momentum); bind(kBnY, a.y);
      break;
    case CudnnBnOp::kForwardEval:
      bind(kBnX, a.x); bind(kBnScale, a.gamma); bind(kBnBias, a.beta);
      bind(kBnMean, a.running_mean); bind(kBnInvVar, a.invstd); bind(kBnEps, &eps);
      bind(kBnY, a.y);
      break;
    case CudnnBnOp::kBackward:
      bind(kBnX, a.x); bind(kBnY, a.y); bind(kBnDy, a.dy); bind(kBnScale, a.gamma);
      bind(kBnMean, a.save_mean); bind(kBnInvVar, a.save_invstd); bind(kBnDScale, a.dgamma);
      bind(kBnDBias, a.dbeta); bind(kBnDx, a.dx);
      break;
  }
  Execute(cudnn, e.plan, uids, ptrs, workspace);
  if (op == CudnnBnOp::kForwardTrain) {
    // The updated running statistics went to separate outputs (no in-place aliasing
    // asked of cuDNN); copy them back, in stream order.
    const size_t bytes = static_cast<size_t>(c) * sizeof(float);
    SAL_CUDA_CHECK(cudaMemcpyAsync(a.running_mean, run_mean_out, bytes, cudaMemcpyDeviceToDevice, stream));
    SAL_CUDA_CHECK(cudaMemcpyAsync(a.running_var, run_var_out, bytes, cudaMemcpyDeviceToDevice, stream));
  }
}

bool CudnnMaxPoolSupported(void* cudnn, int n, int h, int w, int c, size_t* workspace,
                           std::string* why) {
  const PlanEntry& e = CachedPoolPlan(cudnn, n, h, w, c);
  if (!e.ok) {
    if (why != nullptr) *why = e.why;
    return false;
  }
  if (workspace != nullptr) *workspace = static_cast<size_t>(e.plan.workspace);
  return true;
}

void CudnnMaxPool(void* cudnn, int n, int h, int w, int c, const float* x, float* y,
                  int8_t* window_index, void* workspace) {
  const PlanEntry& e = CachedPoolPlan(cudnn, n, h, w, c);
  if (!e.ok) {
    std::fprintf(stderr, "sal360: cudnn engine: max-pool (%dx%dx%dx%d) has no plan: %s\n", n, h, w,
                 c, e.why.c_str());
    std::abort();
  }
  Execute(cudnn, e.plan, {kPoolX, kPoolY, kPoolIdx}, {const_cast<float*>(x), y, window_index},
          workspace);
}

}  // namespace sal360::nn::cuda


// The emulated cuDNN backend (graph) API (see include/cudnn.h): descriptors with typed
// attributes, finalisation with cuDNN's required attributes, one engine per operation
// graph, and an interpreter that executes the graphs nn/cuda/cudnn_graph.cu builds, on
// the host, from the tensors' own dimensions and strides:
//   CONVOLUTION_FORWARD / BACKWARD_DATA / BACKWARD_FILTER  (cross-correlation, any
//       padding, stride and dilation; alpha and beta; sums in double)
//   NORM_FORWARD (batch norm; training: batch statistics, saved mean and inverse
//       standard deviation, running statistics with the unbiased variance; inference)
//   NORM_BACKWARD (batch norm, from the saved statistics)
//   POINTWISE RELU_FWD / RELU_BWD (dx = dy where x > 0)
//   RESAMPLE_FWD MAXPOOL (-inf padding; the int8 index is the window-relative row-major
//       position of the first maximum)
// What it checks like cuDNN: unknown or unfinalised descriptors, attributes of the wrong
// type, missing required attributes (CUDNN_STATUS_BAD_PARAM), an output shape that does
// not follow from the inputs, a variant pack without a pointer for a non-virtual tensor,
// and every device tensor lying inside one device allocation (else
// CUDNN_STATUS_EXECUTION_FAILED, as a device would fault). The engine reports no
// numerical notes and a 256-byte workspace, which must be device memory.
//
// This checks sal360's use of the API — descriptors, uids, strides, pointer binding,
// workspaces, fallbacks — against the semantics written above, which are our reading of
// cuDNN's documentation; it is not cuDNN. The GPU kit runs the same tests against cuDNN.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "cudnn.h"
#include "nn/cuda/emu/state.h"

namespace {

constexpr int64_t kWorkspaceBytes = 256;

struct Attr {
  cudnnBackendAttributeType_t type;
  int64_t count = 0;
  std::vector<unsigned char> bytes;
};

struct Desc {
  cudnnBackendDescriptorType_t type;
  bool finalized = false;
  std::map<int, Attr> attrs;
  const Desc* graph = nullptr;  // engine configs and engines: the graph they run
};

std::recursive_mutex& Mu() {
  static std::recursive_mutex m;
  return m;
}
std::set<const Desc*>& Live() {
  static auto* live = new std::set<const Desc*>();
  return *live;
}
Desc* Find(cudnnBackendDescriptor_t d) {
  auto* p = static_cast<Desc*>(d);
  return Live().count(p) ? p : nullptr;
}

size_t ElementBytes(cudnnBackendAttributeType_t t) {
  switch (t) {
    case CUDNN_TYPE_HANDLE:
    case CUDNN_TYPE_VOID_PTR:
    case CUDNN_TYPE_BACKEND_DESCRIPTOR: return sizeof(void*);
    case CUDNN_TYPE_INT64: return sizeof(int64_t);
    case CUDNN_TYPE_FLOAT: return sizeof(float);
    case CUDNN_TYPE_BOOLEAN: return sizeof(bool);
    default: return sizeof(int);  // the enum-valued types
  }
}

const Attr* A(const Desc* d, int name) {
  auto it = d->attrs.find(name);
  return it == d->attrs.end() ? nullptr : &it->second;
}
std::vector<int64_t> Ints(const Desc* d, int name) {
  const Attr* a = A(d, name);
  std::vector<int64_t> v(a != nullptr ? a->count : 0);
  if (!v.empty()) std::memcpy(v.data(), a->bytes.data(), v.size() * sizeof(int64_t));
  return v;
}
int Enum(const Desc* d, int name) {
  int v = -1;
  if (const Attr* a = A(d, name)) std::memcpy(&v, a->bytes.data(), sizeof v);
  return v;
}
bool Bool(const Desc* d, int name) {
  bool v = false;
  if (const Attr* a = A(d, name)) std::memcpy(&v, a->bytes.data(), sizeof v);
  return v;
}
double Scalar(const Desc* d, int name, double otherwise) {
  const Attr* a = A(d, name);
  if (a == nullptr) return otherwise;
  float f;
  std::memcpy(&f, a->bytes.data(), sizeof f);
  return f;
}
std::vector<const Desc*> Refs(const Desc* d, int name) {
  const Attr* a = A(d, name);
  std::vector<const Desc*> v;
  if (a == nullptr) return v;
  for (int64_t i = 0; i < a->count; ++i) {
    void* p;
    std::memcpy(&p, a->bytes.data() + i * sizeof(void*), sizeof p);
    v.push_back(static_cast<const Desc*>(p));
  }
  return v;
}
const Desc* Ref(const Desc* d, int name) {
  const std::vector<const Desc*> v = Refs(d, name);
  return v.size() == 1 ? v[0] : nullptr;
}

// ---- Required attributes (cuDNN's "must be set before finalisation") ----

bool Has(const Desc* d, std::initializer_list<int> names) {
  for (int n : names) {
    if (A(d, n) == nullptr) return false;
  }
  return true;
}
bool RefsFinalized(const Desc* d, std::initializer_list<int> names) {
  for (int n : names) {
    for (const Desc* r : Refs(d, n)) {
      if (!Live().count(r) || !r->finalized) return false;
    }
  }
  return true;
}

struct TensorInfo {
  int64_t uid = 0;
  std::vector<int64_t> dims, strides;
  int type = CUDNN_DATA_FLOAT;
  bool is_virtual = false, by_value = false;
  int64_t Span() const {  // elements from the first to one past the last
    int64_t last = 0;
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] <= 0) return 0;
      last += (dims[i] - 1) * strides[i];
    }
    return last + 1;
  }
  size_t ElementBytes() const { return type == CUDNN_DATA_INT8 ? 1 : sizeof(float); }
};
TensorInfo Tensor(const Desc* t) {
  TensorInfo i;
  i.uid = Ints(t, CUDNN_ATTR_TENSOR_UNIQUE_ID).at(0);
  i.dims = Ints(t, CUDNN_ATTR_TENSOR_DIMENSIONS);
  i.strides = Ints(t, CUDNN_ATTR_TENSOR_STRIDES);
  i.type = Enum(t, CUDNN_ATTR_TENSOR_DATA_TYPE);
  i.is_virtual = Bool(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL);
  i.by_value = Bool(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE);
  return i;
}

// Output spatial size of a window operation: (in + pre + post - extent) / stride + 1.
int64_t OutSize(int64_t in, int64_t pre, int64_t post, int64_t extent, int64_t stride) {
  return (in + pre + post - extent) / stride + 1;
}

bool ConvShapesAgree(const Desc* op, int x_attr, int w_attr, int y_attr, int conv_attr) {
  const TensorInfo x = Tensor(Ref(op, x_attr)), w = Tensor(Ref(op, w_attr)), y = Tensor(Ref(op, y_attr));
  const Desc* c = Ref(op, conv_attr);
  if (x.dims.size() != 4 || w.dims.size() != 4 || y.dims.size() != 4) return false;
  const std::vector<int64_t> pre = Ints(c, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS),
                             post = Ints(c, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS),
                             st = Ints(c, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES),
                             dil = Ints(c, CUDNN_ATTR_CONVOLUTION_DILATIONS);
  if (x.dims[0] != y.dims[0] || x.dims[1] != w.dims[1] || y.dims[1] != w.dims[0]) return false;
  for (int i = 0; i < 2; ++i) {
    const int64_t extent = (w.dims[2 + i] - 1) * dil[i] + 1;
    if (y.dims[2 + i] != OutSize(x.dims[2 + i], pre[i], post[i], extent, st[i])) return false;
  }
  return true;
}

cudnnStatus_t Validate(const Desc* d) {
  switch (d->type) {
    case CUDNN_BACKEND_TENSOR_DESCRIPTOR: {
      if (!Has(d, {CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_ATTR_TENSOR_DIMENSIONS,
                   CUDNN_ATTR_TENSOR_STRIDES, CUDNN_ATTR_TENSOR_UNIQUE_ID})) {
        return CUDNN_STATUS_BAD_PARAM;
      }
      const TensorInfo t = Tensor(d);
      if (t.dims.size() != t.strides.size() || t.dims.empty()) return CUDNN_STATUS_BAD_PARAM;
      for (size_t i = 0; i < t.dims.size(); ++i) {
        if (t.dims[i] <= 0 || t.strides[i] <= 0) return CUDNN_STATUS_BAD_PARAM;
      }
      if (t.type != CUDNN_DATA_FLOAT && t.type != CUDNN_DATA_INT8) return CUDNN_STATUS_NOT_SUPPORTED;
      return CUDNN_STATUS_SUCCESS;
    }
    case CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR: {
      if (!Has(d, {CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_ATTR_CONVOLUTION_COMP_TYPE,
                   CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_ATTR_CONVOLUTION_DILATIONS,
                   CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS,
                   CUDNN_ATTR_CONVOLUTION_POST_PADDINGS})) {
        return CUDNN_STATUS_BAD_PARAM;
      }
      if (Ints(d, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS).at(0) != 2 ||
          Enum(d, CUDNN_ATTR_CONVOLUTION_CONV_MODE) != CUDNN_CROSS_CORRELATION) {
        return CUDNN_STATUS_NOT_SUPPORTED;
      }
      for (int a : {CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES,
                    CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS}) {
        if (Ints(d, a).size() != 2) return CUDNN_STATUS_BAD_PARAM;
      }
      return CUDNN_STATUS_SUCCESS;
    }
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR: {
      const std::initializer_list<int> names = {CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                          CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                          CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                          CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y};
      if (!Has(d, names) || !RefsFinalized(d, names)) return CUDNN_STATUS_BAD_PARAM;
      return ConvShapesAgree(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                             CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                             CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
                             CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC)
                 ? CUDNN_STATUS_SUCCESS
                 : CUDNN_STATUS_BAD_PARAM;
    }
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR: {
      const std::initializer_list<int> names = {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,
                          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
                          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W,
                          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY};
      if (!Has(d, names) || !RefsFinalized(d, names)) return CUDNN_STATUS_BAD_PARAM;
      return ConvShapesAgree(d, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
                             CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W,
                             CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
                             CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC)
                 ? CUDNN_STATUS_SUCCESS
                 : CUDNN_STATUS_BAD_PARAM;
    }
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR: {
      const std::initializer_list<int> names = {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
                          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
                          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW,
                          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY};
      if (!Has(d, names) || !RefsFinalized(d, names)) return CUDNN_STATUS_BAD_PARAM;
      return ConvShapesAgree(d, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
                             CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW,
                             CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY,
                             CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC)
                 ? CUDNN_STATUS_SUCCESS
                 : CUDNN_STATUS_BAD_PARAM;
    }
    case CUDNN_BACKEND_POINTWISE_DESCRIPTOR: {
      if (!Has(d, {CUDNN_ATTR_POINTWISE_MODE})) return CUDNN_STATUS_BAD_PARAM;
      const int m = Enum(d, CUDNN_ATTR_POINTWISE_MODE);
      return m == CUDNN_POINTWISE_RELU_FWD || m == CUDNN_POINTWISE_RELU_BWD
                 ? CUDNN_STATUS_SUCCESS
                 : CUDNN_STATUS_NOT_SUPPORTED;
    }
    case CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR: {
      if (!Has(d, {CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_ATTR_OPERATION_POINTWISE_XDESC})) {
        return CUDNN_STATUS_BAD_PARAM;
      }
      const Desc* pw = Ref(d, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR);
      if (!Live().count(pw) || !pw->finalized) return CUDNN_STATUS_BAD_PARAM;
      const bool bwd = Enum(pw, CUDNN_ATTR_POINTWISE_MODE) == CUDNN_POINTWISE_RELU_BWD;
      const bool ok = bwd ? Has(d, {CUDNN_ATTR_OPERATION_POINTWISE_DYDESC, CUDNN_ATTR_OPERATION_POINTWISE_DXDESC})
                          : Has(d, {CUDNN_ATTR_OPERATION_POINTWISE_YDESC});
      return ok ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_BAD_PARAM;
    }
    case CUDNN_BACKEND_OPERATION_NORM_FORWARD_DESCRIPTOR: {
      if (!Has(d, {CUDNN_ATTR_OPERATION_NORM_FWD_MODE, CUDNN_ATTR_OPERATION_NORM_FWD_PHASE,
                   CUDNN_ATTR_OPERATION_NORM_FWD_XDESC, CUDNN_ATTR_OPERATION_NORM_FWD_MEAN_DESC,
                   CUDNN_ATTR_OPERATION_NORM_FWD_INV_VARIANCE_DESC,
                   CUDNN_ATTR_OPERATION_NORM_FWD_SCALE_DESC, CUDNN_ATTR_OPERATION_NORM_FWD_BIAS_DESC,
                   CUDNN_ATTR_OPERATION_NORM_FWD_EPSILON_DESC, CUDNN_ATTR_OPERATION_NORM_FWD_YDESC})) {
        return CUDNN_STATUS_BAD_PARAM;
      }
      if (Enum(d, CUDNN_ATTR_OPERATION_NORM_FWD_MODE) != CUDNN_BATCH_NORM) return CUDNN_STATUS_NOT_SUPPORTED;
      if (Enum(d, CUDNN_ATTR_OPERATION_NORM_FWD_PHASE) == CUDNN_NORM_FWD_TRAINING &&
          !Has(d, {CUDNN_ATTR_OPERATION_NORM_FWD_EXP_AVG_FACTOR_DESC,
                   CUDNN_ATTR_OPERATION_NORM_FWD_INPUT_RUNNING_MEAN_DESC,
                   CUDNN_ATTR_OPERATION_NORM_FWD_INPUT_RUNNING_VAR_DESC,
                   CUDNN_ATTR_OPERATION_NORM_FWD_OUTPUT_RUNNING_MEAN_DESC,
                   CUDNN_ATTR_OPERATION_NORM_FWD_OUTPUT_RUNNING_VAR_DESC})) {
        return CUDNN_STATUS_BAD_PARAM;
      }
      return CUDNN_STATUS_SUCCESS;
    }
    case CUDNN_BACKEND_OPERATION_NORM_BACKWARD_DESCRIPTOR:
      if (!Has(d, {CUDNN_ATTR_OPERATION_NORM_BWD_MODE, CUDNN_ATTR_OPERATION_NORM_BWD_XDESC,
                   CUDNN_ATTR_OPERATION_NORM_BWD_MEAN_DESC, CUDNN_ATTR_OPERATION_NORM_BWD_INV_VARIANCE_DESC,
                   CUDNN_ATTR_OPERATION_NORM_BWD_DYDESC, CUDNN_ATTR_OPERATION_NORM_BWD_SCALE_DESC,
                   CUDNN_ATTR_OPERATION_NORM_BWD_DSCALE_DESC, CUDNN_ATTR_OPERATION_NORM_BWD_DBIAS_DESC,
                   CUDNN_ATTR_OPERATION_NORM_BWD_DXDESC})) {
        return CUDNN_STATUS_BAD_PARAM;
      }
      return Enum(d, CUDNN_ATTR_OPERATION_NORM_BWD_MODE) == CUDNN_BATCH_NORM ? CUDNN_STATUS_SUCCESS
                                                                             : CUDNN_STATUS_NOT_SUPPORTED;
    case CUDNN_BACKEND_RESAMPLE_DESCRIPTOR:
      if (!Has(d, {CUDNN_ATTR_RESAMPLE_MODE, CUDNN_ATTR_RESAMPLE_SPATIAL_DIMS, CUDNN_ATTR_RESAMPLE_WINDOW_DIMS,
                   CUDNN_ATTR_RESAMPLE_STRIDES, CUDNN_ATTR_RESAMPLE_PRE_PADDINGS,
                   CUDNN_ATTR_RESAMPLE_POST_PADDINGS})) {
        return CUDNN_STATUS_BAD_PARAM;
      }
      return Enum(d, CUDNN_ATTR_RESAMPLE_MODE) == CUDNN_RESAMPLE_MAXPOOL ? CUDNN_STATUS_SUCCESS
                                                                         : CUDNN_STATUS_NOT_SUPPORTED;
    case CUDNN_BACKEND_OPERATION_RESAMPLE_FWD_DESCRIPTOR:
      return Has(d, {CUDNN_ATTR_OPERATION_RESAMPLE_FWD_DESC, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_XDESC,
                     CUDNN_ATTR_OPERATION_RESAMPLE_FWD_YDESC})
                 ? CUDNN_STATUS_SUCCESS
                 : CUDNN_STATUS_BAD_PARAM;
    case CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR:
      if (!Has(d, {CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_ATTR_OPERATIONGRAPH_OPS}) ||
          !RefsFinalized(d, {CUDNN_ATTR_OPERATIONGRAPH_OPS}) ||
          Refs(d, CUDNN_ATTR_OPERATIONGRAPH_OPS).empty()) {
        return CUDNN_STATUS_BAD_PARAM;
      }
      return CUDNN_STATUS_SUCCESS;
    case CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR:
      return Has(d, {CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_ATTR_ENGINEHEUR_MODE}) &&
                     RefsFinalized(d, {CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH})
                 ? CUDNN_STATUS_SUCCESS
                 : CUDNN_STATUS_BAD_PARAM;
    case CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR: {
      if (!Has(d, {CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG})) {
        return CUDNN_STATUS_BAD_PARAM;
      }
      const Desc* cfg = Ref(d, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG);
      return Live().count(cfg) && cfg->finalized && cfg->graph != nullptr ? CUDNN_STATUS_SUCCESS
                                                                          : CUDNN_STATUS_BAD_PARAM;
    }
    case CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR: {
      const Attr* u = A(d, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS);
      const Attr* p = A(d, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS);
      return u != nullptr && p != nullptr && u->count == p->count ? CUDNN_STATUS_SUCCESS
                                                                  : CUDNN_STATUS_BAD_PARAM;
    }
    default:
      return CUDNN_STATUS_SUCCESS;
  }
}

// ---- Execution ----

// Whether d and every descriptor it refers to (transitively) still exist: a plan whose
// graph, operations or tensors were destroyed is refused (CUDNN_STATUS_BAD_PARAM) instead
// of read after free. sal360 keeps them all alive with the plan.
bool Alive(const Desc* d, int depth = 0) {
  if (d == nullptr || !Live().count(d) || depth > 8) return false;
  if (d->graph != nullptr && !Alive(d->graph, depth + 1)) return false;
  for (const auto& [name, a] : d->attrs) {
    if (a.type != CUDNN_TYPE_BACKEND_DESCRIPTOR) continue;
    for (const Desc* r : Refs(d, name)) {
      if (!Alive(r, depth + 1)) return false;
    }
  }
  return true;
}

// A tensor during one execution: where its elements are.
struct Bound {
  TensorInfo t;
  float* f = nullptr;   // FLOAT tensors
  int8_t* i8 = nullptr; // INT8 tensors
  int64_t Off(int64_t a, int64_t b, int64_t c, int64_t d) const {
    return a * t.strides[0] + b * t.strides[1] + c * t.strides[2] + d * t.strides[3];
  }
};

class Execution {
 public:
  Execution(const std::map<int64_t, void*>& ptrs) : ptrs_(ptrs) {}

  // False (with the status) when a tensor has no pointer or lies outside device memory.
  bool Bind(const Desc* td, Bound* b, cudnnStatus_t* st) {
    b->t = Tensor(td);
    if (b->t.dims.size() != 4 && !b->t.by_value) {
      *st = CUDNN_STATUS_NOT_SUPPORTED;
      return false;
    }
    if (b->t.is_virtual) {
      std::vector<float>& v = virtual_[b->t.uid];
      v.resize(static_cast<size_t>(b->t.Span()));
      b->f = v.data();
      return true;
    }
    auto it = ptrs_.find(b->t.uid);
    if (it == ptrs_.end() || it->second == nullptr) {
      *st = CUDNN_STATUS_BAD_PARAM;
      return false;
    }
    if (!b->t.by_value &&
        !sal360::emu::InDeviceAllocation(it->second, static_cast<size_t>(b->t.Span()) * b->t.ElementBytes())) {
      *st = CUDNN_STATUS_EXECUTION_FAILED;
      return false;
    }
    if (b->t.type == CUDNN_DATA_INT8) {
      b->i8 = static_cast<int8_t*>(it->second);
    } else {
      b->f = static_cast<float*>(it->second);
    }
    return true;
  }

 private:
  const std::map<int64_t, void*>& ptrs_;
  std::map<int64_t, std::vector<float>> virtual_;
};

struct ConvGeometry {
  int64_t pre[2], stride[2], dil[2];
};
ConvGeometry Geometry(const Desc* conv) {
  ConvGeometry g;
  const auto pre = Ints(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS);
  const auto st = Ints(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES);
  const auto dil = Ints(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS);
  for (int i = 0; i < 2; ++i) {
    g.pre[i] = pre[i];
    g.stride[i] = st[i];
    g.dil[i] = dil[i];
  }
  return g;
}

// The three convolutions over x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q); `which` 0: y = conv,
// 1: dx from dy, 2: dw from dy. Sums in double, then alpha·sum + beta·old (old not read
// when beta is 0).
void Convolve(int which, const Bound& x, const Bound& w, const Bound& y, const ConvGeometry& g,
              double alpha, double beta) {
  const int64_t N = x.t.dims[0], C = x.t.dims[1], H = x.t.dims[2], W = x.t.dims[3];
  const int64_t K = w.t.dims[0], R = w.t.dims[2], S = w.t.dims[3];
  const int64_t P = y.t.dims[2], Q = y.t.dims[3];
  const Bound& out = which == 0 ? y : which == 1 ? x : w;
  // Sums in double, laid out with the output tensor's own strides.
  std::vector<double> acc(static_cast<size_t>(out.t.Span()), 0.0);
  const int64_t xc = x.t.strides[1], wc = w.t.strides[1];
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t p = 0; p < P; ++p) {
        for (int64_t q = 0; q < Q; ++q) {
          double sum = 0;
          const double dy = which == 0 ? 0.0 : y.f[y.Off(n, k, p, q)];
          for (int64_t r = 0; r < R; ++r) {
            const int64_t h = p * g.stride[0] + r * g.dil[0] - g.pre[0];
            if (h < 0 || h >= H) continue;
            for (int64_t s = 0; s < S; ++s) {
              const int64_t ww = q * g.stride[1] + s * g.dil[1] - g.pre[1];
              if (ww < 0 || ww >= W) continue;
              const int64_t xo = x.Off(n, 0, h, ww), wo = w.Off(k, 0, r, s);
              const float* xp = x.f + xo;
              const float* wp = w.f + wo;
              if (which == 0) {
                for (int64_t c = 0; c < C; ++c) sum += double{xp[c * xc]} * wp[c * wc];
              } else if (which == 1) {
                double* ap = acc.data() + xo;
                for (int64_t c = 0; c < C; ++c) ap[c * xc] += dy * wp[c * wc];
              } else {
                double* ap = acc.data() + wo;
                for (int64_t c = 0; c < C; ++c) ap[c * wc] += dy * xp[c * xc];
              }
            }
          }
          if (which == 0) acc[y.Off(n, k, p, q)] = sum;
        }
      }
    }
  }
  const int64_t* d = out.t.dims.data();
  for (int64_t a = 0; a < d[0]; ++a)
    for (int64_t b = 0; b < d[1]; ++b)
      for (int64_t c = 0; c < d[2]; ++c)
        for (int64_t e = 0; e < d[3]; ++e) {
          const int64_t o = out.Off(a, b, c, e);
          out.f[o] = static_cast<float>(alpha * acc[o] + (beta != 0.0 ? beta * out.f[o] : 0.0));
        }
}

// Visits every element of a 4-D tensor as (index of dim 1 = the channel, offset).
template <typename F>
void ForEach(const Bound& b, F f) {
  const int64_t* d = b.t.dims.data();
  for (int64_t n = 0; n < d[0]; ++n)
    for (int64_t c = 0; c < d[1]; ++c)
      for (int64_t h = 0; h < d[2]; ++h)
        for (int64_t w = 0; w < d[3]; ++w) f(n, c, h, w);
}

cudnnStatus_t Run(const Desc* op, Execution& ex) {
  cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
  const auto bind = [&](int attr, Bound* b) { return ex.Bind(Ref(op, attr), b, &st); };
  switch (op->type) {
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR: {
      Bound x, w, y;
      if (!bind(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, &x) ||
          !bind(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, &w) ||
          !bind(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, &y)) {
        return st;
      }
      Convolve(0, x, w, y, Geometry(Ref(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC)),
               Scalar(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, 1.0),
               Scalar(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, 0.0));
      return st;
    }
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR: {
      Bound dx, w, dy;
      if (!bind(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, &dx) ||
          !bind(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, &w) ||
          !bind(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY, &dy)) {
        return st;
      }
      Convolve(1, dx, w, dy, Geometry(Ref(op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC)),
               Scalar(op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, 1.0),
               Scalar(op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA, 0.0));
      return st;
    }
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR: {
      Bound x, dw, dy;
      if (!bind(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X, &x) ||
          !bind(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, &dw) ||
          !bind(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY, &dy)) {
        return st;
      }
      Convolve(2, x, dw, dy, Geometry(Ref(op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC)),
               Scalar(op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, 1.0),
               Scalar(op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA, 0.0));
      return st;
    }
    case CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR: {
      const bool bwd = Enum(Ref(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR), CUDNN_ATTR_POINTWISE_MODE) ==
                       CUDNN_POINTWISE_RELU_BWD;
      Bound x, y, dy, dx;
      if (!bind(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, &x)) return st;
      if (bwd) {
        if (!bind(CUDNN_ATTR_OPERATION_POINTWISE_DYDESC, &dy) || !bind(CUDNN_ATTR_OPERATION_POINTWISE_DXDESC, &dx)) {
          return st;
        }
        ForEach(x, [&](int64_t n, int64_t c, int64_t h, int64_t w) {
          dx.f[dx.Off(n, c, h, w)] = x.f[x.Off(n, c, h, w)] > 0.0f ? dy.f[dy.Off(n, c, h, w)] : 0.0f;
        });
      } else {
        if (!bind(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, &y)) return st;
        ForEach(x, [&](int64_t n, int64_t c, int64_t h, int64_t w) {
          const float v = x.f[x.Off(n, c, h, w)];
          y.f[y.Off(n, c, h, w)] = v > 0.0f ? v : 0.0f;
        });
      }
      return st;
    }
    case CUDNN_BACKEND_OPERATION_NORM_FORWARD_DESCRIPTOR: {
      const bool train = Enum(op, CUDNN_ATTR_OPERATION_NORM_FWD_PHASE) == CUDNN_NORM_FWD_TRAINING;
      Bound x, y, mean, inv, scale, bias, eps, f, rmi, rvi, rmo, rvo;
      if (!bind(CUDNN_ATTR_OPERATION_NORM_FWD_XDESC, &x) || !bind(CUDNN_ATTR_OPERATION_NORM_FWD_YDESC, &y) ||
          !bind(CUDNN_ATTR_OPERATION_NORM_FWD_MEAN_DESC, &mean) ||
          !bind(CUDNN_ATTR_OPERATION_NORM_FWD_INV_VARIANCE_DESC, &inv) ||
          !bind(CUDNN_ATTR_OPERATION_NORM_FWD_SCALE_DESC, &scale) ||
          !bind(CUDNN_ATTR_OPERATION_NORM_FWD_BIAS_DESC, &bias) ||
          !bind(CUDNN_ATTR_OPERATION_NORM_FWD_EPSILON_DESC, &eps)) {
        return st;
      }
      if (train && (!bind(CUDNN_ATTR_OPERATION_NORM_FWD_EXP_AVG_FACTOR_DESC, &f) ||
                    !bind(CUDNN_ATTR_OPERATION_NORM_FWD_INPUT_RUNNING_MEAN_DESC, &rmi) ||
                    !bind(CUDNN_ATTR_OPERATION_NORM_FWD_INPUT_RUNNING_VAR_DESC, &rvi) ||
                    !bind(CUDNN_ATTR_OPERATION_NORM_FWD_OUTPUT_RUNNING_MEAN_DESC, &rmo) ||
                    !bind(CUDNN_ATTR_OPERATION_NORM_FWD_OUTPUT_RUNNING_VAR_DESC, &rvo))) {
        return st;
      }
      const int64_t C = x.t.dims[1];
      const int64_t M = x.t.dims[0] * x.t.dims[2] * x.t.dims[3];
      const double e = eps.f[0];
      std::vector<double> m(C, 0.0), v(C, 0.0);
      if (train) {
        ForEach(x, [&](int64_t n, int64_t c, int64_t h, int64_t w) { m[c] += x.f[x.Off(n, c, h, w)]; });
        for (int64_t c = 0; c < C; ++c) m[c] /= static_cast<double>(M);
        ForEach(x, [&](int64_t n, int64_t c, int64_t h, int64_t w) {
          const double d = x.f[x.Off(n, c, h, w)] - m[c];
          v[c] += d * d;
        });
        const double factor = f.f[0];
        for (int64_t c = 0; c < C; ++c) {
          v[c] /= static_cast<double>(M);
          mean.f[mean.Off(0, c, 0, 0)] = static_cast<float>(m[c]);
          inv.f[inv.Off(0, c, 0, 0)] = static_cast<float>(1.0 / std::sqrt(v[c] + e));
          const double unbiased = M > 1 ? v[c] * M / (M - 1) : v[c];
          rmo.f[rmo.Off(0, c, 0, 0)] =
              static_cast<float>((1 - factor) * rmi.f[rmi.Off(0, c, 0, 0)] + factor * m[c]);
          rvo.f[rvo.Off(0, c, 0, 0)] =
              static_cast<float>((1 - factor) * rvi.f[rvi.Off(0, c, 0, 0)] + factor * unbiased);
        }
      }
      ForEach(x, [&](int64_t n, int64_t c, int64_t h, int64_t w) {
        const double xhat = (x.f[x.Off(n, c, h, w)] - double{mean.f[mean.Off(0, c, 0, 0)]}) *
                            inv.f[inv.Off(0, c, 0, 0)];
        y.f[y.Off(n, c, h, w)] =
            static_cast<float>(xhat * scale.f[scale.Off(0, c, 0, 0)] + bias.f[bias.Off(0, c, 0, 0)]);
      });
      return st;
    }
    case CUDNN_BACKEND_OPERATION_NORM_BACKWARD_DESCRIPTOR: {
      Bound x, dy, mean, inv, scale, dscale, dbias, dx;
      if (!bind(CUDNN_ATTR_OPERATION_NORM_BWD_XDESC, &x) || !bind(CUDNN_ATTR_OPERATION_NORM_BWD_DYDESC, &dy) ||
          !bind(CUDNN_ATTR_OPERATION_NORM_BWD_MEAN_DESC, &mean) ||
          !bind(CUDNN_ATTR_OPERATION_NORM_BWD_INV_VARIANCE_DESC, &inv) ||
          !bind(CUDNN_ATTR_OPERATION_NORM_BWD_SCALE_DESC, &scale) ||
          !bind(CUDNN_ATTR_OPERATION_NORM_BWD_DSCALE_DESC, &dscale) ||
          !bind(CUDNN_ATTR_OPERATION_NORM_BWD_DBIAS_DESC, &dbias) ||
          !bind(CUDNN_ATTR_OPERATION_NORM_BWD_DXDESC, &dx)) {
        return st;
      }
      const int64_t C = x.t.dims[1];
      const double M = static_cast<double>(x.t.dims[0] * x.t.dims[2] * x.t.dims[3]);
      std::vector<double> sdy(C, 0.0), sdyx(C, 0.0);
      const auto xhat = [&](int64_t n, int64_t c, int64_t h, int64_t w) {
        return (x.f[x.Off(n, c, h, w)] - double{mean.f[mean.Off(0, c, 0, 0)]}) * inv.f[inv.Off(0, c, 0, 0)];
      };
      ForEach(x, [&](int64_t n, int64_t c, int64_t h, int64_t w) {
        const double g = dy.f[dy.Off(n, c, h, w)];
        sdy[c] += g;
        sdyx[c] += g * xhat(n, c, h, w);
      });
      for (int64_t c = 0; c < C; ++c) {
        dbias.f[dbias.Off(0, c, 0, 0)] = static_cast<float>(sdy[c]);
        dscale.f[dscale.Off(0, c, 0, 0)] = static_cast<float>(sdyx[c]);
      }
      ForEach(x, [&](int64_t n, int64_t c, int64_t h, int64_t w) {
        const double g = dy.f[dy.Off(n, c, h, w)];
        dx.f[dx.Off(n, c, h, w)] = static_cast<float>(
            double{scale.f[scale.Off(0, c, 0, 0)]} * inv.f[inv.Off(0, c, 0, 0)] *
            (g - sdy[c] / M - xhat(n, c, h, w) * sdyx[c] / M));
      });
      return st;
    }
    case CUDNN_BACKEND_OPERATION_RESAMPLE_FWD_DESCRIPTOR: {
      const Desc* r = Ref(op, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_DESC);
      Bound x, y, idx;
      if (!bind(CUDNN_ATTR_OPERATION_RESAMPLE_FWD_XDESC, &x) || !bind(CUDNN_ATTR_OPERATION_RESAMPLE_FWD_YDESC, &y)) {
        return st;
      }
      const bool with_index = A(op, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_IDXDESC) != nullptr;
      if (with_index && !bind(CUDNN_ATTR_OPERATION_RESAMPLE_FWD_IDXDESC, &idx)) return st;
      const auto win = Ints(r, CUDNN_ATTR_RESAMPLE_WINDOW_DIMS), str = Ints(r, CUDNN_ATTR_RESAMPLE_STRIDES),
                 pre = Ints(r, CUDNN_ATTR_RESAMPLE_PRE_PADDINGS);
      const int64_t H = x.t.dims[2], W = x.t.dims[3];
      ForEach(y, [&](int64_t n, int64_t c, int64_t p, int64_t q) {
        float best = -std::numeric_limits<float>::infinity();
        int k_best = 0;
        for (int64_t a = 0; a < win[0]; ++a) {
          for (int64_t b = 0; b < win[1]; ++b) {
            const int64_t h = p * str[0] + a - pre[0], w = q * str[1] + b - pre[1];
            const float v = h >= 0 && h < H && w >= 0 && w < W ? x.f[x.Off(n, c, h, w)]
                                                               : -std::numeric_limits<float>::infinity();
            // The first maximum in row-major window order wins (a later equal one does not).
            if ((a == 0 && b == 0) || v > best) {
              best = v;
              k_best = static_cast<int>(a * win[1] + b);
            }
          }
        }
        y.f[y.Off(n, c, p, q)] = best;
        if (with_index) idx.i8[idx.Off(n, c, p, q)] = static_cast<int8_t>(k_best);
      });
      return st;
    }
    default:
      return CUDNN_STATUS_NOT_SUPPORTED;
  }
}

}  // namespace

cudnnStatus_t cudnnBackendCreateDescriptor(cudnnBackendDescriptorType_t type,
                                           cudnnBackendDescriptor_t* descriptor) {
  if (descriptor == nullptr) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
  std::lock_guard<std::recursive_mutex> lock(Mu());
  auto* d = new Desc();
  d->type = type;
  Live().insert(d);
  *descriptor = d;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendDestroyDescriptor(cudnnBackendDescriptor_t descriptor) {
  std::lock_guard<std::recursive_mutex> lock(Mu());
  Desc* d = Find(descriptor);
  if (d == nullptr) return CUDNN_STATUS_BAD_PARAM;
  Live().erase(d);
  delete d;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendSetAttribute(cudnnBackendDescriptor_t descriptor,
                                       cudnnBackendAttributeName_t name,
                                       cudnnBackendAttributeType_t type, int64_t count,
                                       const void* elements) {
  std::lock_guard<std::recursive_mutex> lock(Mu());
  Desc* d = Find(descriptor);
  if (d == nullptr || count < 0 || (count > 0 && elements == nullptr)) return CUDNN_STATUS_BAD_PARAM;
  if (d->finalized) return CUDNN_STATUS_NOT_SUPPORTED;  // cuDNN: attributes are frozen
  Attr a;
  a.type = type;
  a.count = count;
  a.bytes.resize(static_cast<size_t>(count) * ElementBytes(type));
  if (count > 0) std::memcpy(a.bytes.data(), elements, a.bytes.size());
  if (type == CUDNN_TYPE_BACKEND_DESCRIPTOR) {
    for (int64_t i = 0; i < count; ++i) {
      void* p;
      std::memcpy(&p, a.bytes.data() + i * sizeof(void*), sizeof p);
      if (Find(p) == nullptr) return CUDNN_STATUS_BAD_PARAM;
    }
  }
  d->attrs[name] = std::move(a);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendFinalize(cudnnBackendDescriptor_t descriptor) {
  std::lock_guard<std::recursive_mutex> lock(Mu());
  Desc* d = Find(descriptor);
  if (d == nullptr) return CUDNN_STATUS_BAD_PARAM;
  const cudnnStatus_t st = Validate(d);
  if (st == CUDNN_STATUS_SUCCESS) d->finalized = true;
  return st;
}

cudnnStatus_t cudnnBackendGetAttribute(cudnnBackendDescriptor_t const descriptor,
                                       cudnnBackendAttributeName_t name,
                                       cudnnBackendAttributeType_t type, int64_t requested,
                                       int64_t* count, void* elements) {
  std::lock_guard<std::recursive_mutex> lock(Mu());
  Desc* d = Find(descriptor);
  if (d == nullptr || count == nullptr) return CUDNN_STATUS_BAD_PARAM;
  switch (name) {
    case CUDNN_ATTR_ENGINEHEUR_RESULTS: {
      if (!d->finalized || type != CUDNN_TYPE_BACKEND_DESCRIPTOR) return CUDNN_STATUS_BAD_PARAM;
      *count = 1;  // one engine: this interpreter
      if (requested >= 1) {
        Desc* cfg = Find(static_cast<cudnnBackendDescriptor_t*>(elements)[0]);
        if (cfg == nullptr || cfg->type != CUDNN_BACKEND_ENGINECFG_DESCRIPTOR) return CUDNN_STATUS_BAD_PARAM;
        cfg->graph = Ref(d, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH);
        cfg->finalized = true;
      }
      return CUDNN_STATUS_SUCCESS;
    }
    case CUDNN_ATTR_ENGINECFG_ENGINE: {
      if (!d->finalized || type != CUDNN_TYPE_BACKEND_DESCRIPTOR || requested < 1) return CUDNN_STATUS_BAD_PARAM;
      Desc* e = Find(static_cast<cudnnBackendDescriptor_t*>(elements)[0]);
      if (e == nullptr || e->type != CUDNN_BACKEND_ENGINE_DESCRIPTOR) return CUDNN_STATUS_BAD_PARAM;
      e->graph = d->graph;
      e->finalized = true;
      *count = 1;
      return CUDNN_STATUS_SUCCESS;
    }
    case CUDNN_ATTR_ENGINE_NUMERICAL_NOTE:
      if (type != CUDNN_TYPE_NUMERICAL_NOTE) return CUDNN_STATUS_BAD_PARAM;
      *count = 0;  // FP32 sums in double: no tensor cores, no down-conversion, deterministic
      return CUDNN_STATUS_SUCCESS;
    case CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE:
      if (!d->finalized || type != CUDNN_TYPE_INT64 || requested < 1) return CUDNN_STATUS_BAD_PARAM;
      *static_cast<int64_t*>(elements) = kWorkspaceBytes;
      *count = 1;
      return CUDNN_STATUS_SUCCESS;
    default: {
      const Attr* a = A(d, name);
      if (a == nullptr || a->type != type) return CUDNN_STATUS_BAD_PARAM;
      *count = a->count;
      const int64_t n = std::min(requested, a->count);
      if (n > 0) std::memcpy(elements, a->bytes.data(), static_cast<size_t>(n) * ElementBytes(type));
      return CUDNN_STATUS_SUCCESS;
    }
  }
}

cudnnStatus_t cudnnBackendExecute(cudnnHandle_t handle, cudnnBackendDescriptor_t plan,
                                  cudnnBackendDescriptor_t variant_pack) {
  if (handle == nullptr) return CUDNN_STATUS_NOT_INITIALIZED;
  std::lock_guard<std::recursive_mutex> device(sal360::emu::DeviceMutex());
  std::lock_guard<std::recursive_mutex> lock(Mu());
  if (sal360::emu::StickyError() != cudaSuccess) return CUDNN_STATUS_EXECUTION_FAILED;
  const Desc* p = Find(plan);
  const Desc* v = Find(variant_pack);
  if (p == nullptr || v == nullptr || !p->finalized || !v->finalized ||
      p->type != CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR || v->type != CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR) {
    return CUDNN_STATUS_BAD_PARAM;
  }
  if (!Alive(p)) return CUDNN_STATUS_BAD_PARAM;
  const std::vector<int64_t> uids = Ints(v, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS);
  const Attr* pa = A(v, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS);
  std::map<int64_t, void*> ptrs;
  for (size_t i = 0; i < uids.size(); ++i) {
    void* ptr;
    std::memcpy(&ptr, pa->bytes.data() + i * sizeof(void*), sizeof ptr);
    ptrs[uids[i]] = ptr;
  }
  void* workspace = nullptr;
  if (const Attr* w = A(v, CUDNN_ATTR_VARIANT_PACK_WORKSPACE)) std::memcpy(&workspace, w->bytes.data(), sizeof workspace);
  if (!sal360::emu::InDeviceAllocation(workspace, kWorkspaceBytes)) return CUDNN_STATUS_EXECUTION_FAILED;
  const Desc* graph = Ref(p, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG)->graph;
  Execution ex(ptrs);
  for (const Desc* op : Refs(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS)) {
    const cudnnStatus_t st = Run(op, ex);
    if (st != CUDNN_STATUS_SUCCESS) return st;
  }
  return CUDNN_STATUS_SUCCESS;
}

// SphericalConv: table validation and upload, the device dispatch of each primitive
// (CPU loop or CUDA launcher), and the two algorithms written once over those
// primitives. See spherical_conv.h for the math and spherical_conv_kernels.h for the
// per-row arithmetic both devices share.
#include "nn/ops/spherical_conv.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "nn/context.h"
#include "nn/cpu_gemm.h"
#include "nn/ops/check_args.h"
#include "nn/ops/dispatch.h"
#include "nn/ops/elementwise.h"
#include "nn/ops/pool.h"
#include "nn/ops/spherical_conv_kernels.h"
#include "nn/parallel.h"

#ifdef SAL360_WITH_CUDA
#include "nn/cuda/cudnn_graph.h"
#include "nn/ops/elementwise_kernels.h"
#endif

namespace sal360::nn {

using kernels::kConvTaps;

// ---------------------------------------------------------------------------------
// ConvTable
// ---------------------------------------------------------------------------------

namespace {

template <typename T>
Buffer Upload(const std::vector<T>& v, Device device) {
  Buffer b(device, v.size() * sizeof(T));
  if (!v.empty()) CopyBytes(device, b.data(), Device::kCpu, v.data(), v.size() * sizeof(T));
  return b;
}

// Every invariant the kernels rely on instead of checking bounds themselves.
void ValidateTables(const sphere::GatherTable& g, const sphere::InverseTable& inv) {
  const int h = g.spec.height, w = g.spec.width, taps = g.taps;
  SAL_NN_CHECK(h > 0 && w > 0, "ConvTable: bad grid %dx%d", h, w);
  SAL_NN_CHECK(taps >= 1 && taps <= 16, "ConvTable: bad taps %d", taps);
  const int64_t pixels = int64_t{h} * w;
  const int64_t n_entries = pixels * kConvTaps * taps;
  SAL_NN_CHECK(n_entries < (int64_t{1} << 31), "ConvTable: %dx%d too large for int32 indices",
               h, w);
  SAL_NN_CHECK(static_cast<int64_t>(g.src.size()) == n_entries &&
                   static_cast<int64_t>(g.weight.size()) == n_entries,
               "ConvTable: %dx%d taps %d needs %lld entries, table has src %zu weight %zu", h, w,
               taps, static_cast<long long>(n_entries), g.src.size(), g.weight.size());
  for (int64_t e = 0; e < n_entries; ++e) {
    SAL_NN_CHECK(g.src[e] >= 0 && g.src[e] < pixels, "ConvTable: src[%lld] = %d outside [0, %lld)",
                 static_cast<long long>(e), g.src[e], static_cast<long long>(pixels));
    SAL_NN_CHECK(std::isfinite(g.weight[e]), "ConvTable: weight[%lld] not finite",
                 static_cast<long long>(e));
  }
  SAL_NN_CHECK(static_cast<int64_t>(inv.offsets.size()) == pixels + 1,
               "ConvTable: inverse offsets %zu, want %lld", inv.offsets.size(),
               static_cast<long long>(pixels + 1));
  SAL_NN_CHECK(inv.offsets[0] == 0 && inv.offsets[pixels] == static_cast<int64_t>(inv.entries.size()) &&
                   static_cast<int64_t>(inv.entries.size()) == n_entries,
               "ConvTable: inverse table has %zu entries (offsets end %d), want %lld",
               inv.entries.size(), inv.offsets[pixels], static_cast<long long>(n_entries));
  for (int64_t q = 0; q < pixels; ++q) {
    SAL_NN_CHECK(inv.offsets[q] <= inv.offsets[q + 1], "ConvTable: inverse offsets decrease at %lld",
                 static_cast<long long>(q));
  }
  // Each entry lists a table entry reading q, strictly ascending; with the total count
  // equal to the table size this makes the inverse a permutation of all entries.
  for (int64_t q = 0; q < pixels; ++q) {
    for (int32_t k = inv.offsets[q]; k < inv.offsets[q + 1]; ++k) {
      const int32_t e = inv.entries[k];
      SAL_NN_CHECK(e >= 0 && e < n_entries && g.src[e] == q,
                   "ConvTable: inverse entry %d of pixel %lld is %d, which does not read it", k,
                   static_cast<long long>(q), e);
      SAL_NN_CHECK(k == inv.offsets[q] || inv.entries[k - 1] < e,
                   "ConvTable: inverse entries of pixel %lld not ascending",
                   static_cast<long long>(q));
    }
  }
}

}  // namespace

InverseRows FlattenInverse(const sphere::GatherTable& gather, const sphere::InverseTable& inverse) {
  InverseRows r;
  r.rows.reserve(inverse.entries.size());
  r.weights.reserve(inverse.entries.size());
  for (const int32_t e : inverse.entries) {
    r.rows.push_back(e / gather.taps);
    r.weights.push_back(gather.weight[e]);
  }
  return r;
}

ConvTable ConvTable::Create(const sphere::TableSpec& spec, Device device) {
  return FromTables(sphere::CachedGatherTable(spec), sphere::CachedInverseTable(spec), device);
}

ConvTable ConvTable::FromTables(const sphere::GatherTable& gather,
                                const sphere::InverseTable& inverse, Device device) {
  ValidateTables(gather, inverse);
  ConvTable t;
  t.spec_ = gather.spec;
  t.height_ = gather.spec.height;
  t.width_ = gather.spec.width;
  t.taps_ = gather.taps;
  t.device_ = device;
  t.src_ = Upload(gather.src, device);
  t.weight_ = Upload(gather.weight, device);
  const InverseRows flat = FlattenInverse(gather, inverse);
  t.inv_offsets_ = Upload(inverse.offsets, device);
  t.inv_rows_ = Upload(flat.rows, device);
  t.inv_weights_ = Upload(flat.weights, device);
  t.num_inverse_entries_ = static_cast<int64_t>(inverse.entries.size());
  return t;
}

// ---------------------------------------------------------------------------------
// Weight permutation (host side; w may live on any device)
// ---------------------------------------------------------------------------------

void ConvWeightFromPytorch(const float* w_oihw, int cout, int cin, Tensor& w) {
  SAL_NN_CHECK((w.shape() == Shape{kConvTaps, 1, cin, cout}), "ConvWeightFromPytorch: w is %s, want (9,1,%d,%d)",
               w.shape().ToString().c_str(), cin, cout);
  std::vector<float> host(static_cast<size_t>(w.numel()));
  for (int co = 0; co < cout; ++co) {
    for (int ci = 0; ci < cin; ++ci) {
      for (int tap = 0; tap < kConvTaps; ++tap) {
        host[kernels::WeightIndex(tap, ci, co, cin, cout)] =
            w_oihw[(int64_t{co} * cin + ci) * kConvTaps + tap];
      }
    }
  }
  CopyBytes(w.device(), w.data(), Device::kCpu, host.data(), host.size() * sizeof(float));
}

void ConvWeightToPytorch(const Tensor& w, float* w_oihw) {
  SAL_NN_CHECK(w.shape().n == kConvTaps && w.shape().h == 1, "ConvWeightToPytorch: w is %s",
               w.shape().ToString().c_str());
  const int cin = w.shape().w, cout = w.shape().c;
  const std::vector<float> host = w.ToVector();
  for (int co = 0; co < cout; ++co) {
    for (int ci = 0; ci < cin; ++ci) {
      for (int tap = 0; tap < kConvTaps; ++tap) {
        w_oihw[(int64_t{co} * cin + ci) * kConvTaps + tap] =
            host[kernels::WeightIndex(tap, ci, co, cin, cout)];
      }
    }
  }
}

// ---------------------------------------------------------------------------------
// Primitives: one dispatch point per device. CPU loops call the shared row bodies with
// the whole channel range (contiguous, innermost).
// ---------------------------------------------------------------------------------

namespace {

#ifdef SAL360_WITH_CUDA
cuda::ConvTableView View(const ConvTable& t) {
  return {t.src(),           t.weight(),          t.inverse_offsets(),
          t.inverse_rows(),  t.inverse_weights(), t.taps(), t.pixels()};
}
#endif

// Row-major C (m, n) = alpha · op(A) · op(B) + beta · C.
void Gemm(Device d, bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
          int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  SAL_ON_CUDA(d, {
    const Context& cuda = Context::Get(Device::kCuda);
    return cuda::RowMajorGemm(cuda.cublas(), cuda.math().precision, trans_a, trans_b, m, n, k,
                              alpha, a, lda, b, ldb, beta, c, ldc);
  });
  CpuSgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// col (pt1 - pt0, C): column rows [pt0, pt1) of one image (pt = p*9 + tap).
void GatherColumns(const ConvTable& t, const float* x_img, int channels, int64_t pt0, int64_t pt1,
                   float* col) {
  SAL_ON_CUDA(t.device(), {
    return cuda::GatherColumns(View(t), x_img, channels, pt0, pt1, col, CudaStream());
  });
  ParallelFor(pt0, pt1, GrainFor(int64_t{channels} * t.taps()), [&](int64_t r0, int64_t r1) {
    for (int64_t pt = r0; pt < r1; ++pt) {
      kernels::GatherColumnRow(x_img, channels, t.src(), t.weight(), t.taps(), pt,
                               col + (pt - pt0) * channels, 0, channels, 1);
    }
  });
}

// dx rows [q0, q1) of one image from the image's dcol (H*W*9, C).
void InverseGather(const ConvTable& t, const float* dcol_img, int channels, int64_t q0, int64_t q1,
                   float* dx_rows) {
  SAL_ON_CUDA(t.device(), {
    return cuda::InverseGather(View(t), dcol_img, channels, q0, q1, dx_rows, CudaStream());
  });
  ParallelFor(q0, q1, GrainFor(int64_t{channels} * kConvTaps * t.taps()), [&](int64_t r0, int64_t r1) {
    for (int64_t q = r0; q < r1; ++q) {
      kernels::InverseGatherRow(dcol_img, channels, t.inverse_offsets(), t.inverse_rows(),
                                t.inverse_weights(), q, dx_rows + (q - q0) * channels, 0, channels,
                                1);
    }
  });
}

// y rows [p0, p1) of one image: bias + gathered sum of the image's z rows (H*W, 9*C).
void GatherSum(const ConvTable& t, const float* z_img, int channels, const float* bias, int64_t p0,
               int64_t p1, float* y_rows) {
  SAL_ON_CUDA(t.device(), {
    return cuda::GatherSum(View(t), z_img, channels, bias, p0, p1, y_rows, CudaStream());
  });
  ParallelFor(p0, p1, GrainFor(int64_t{channels} * kConvTaps * t.taps()), [&](int64_t r0, int64_t r1) {
    for (int64_t p = r0; p < r1; ++p) {
      kernels::GatherSumRow(z_img, channels, t.src(), t.weight(), t.taps(), p, bias,
                            y_rows + (p - p0) * channels, 0, channels, 1);
    }
  });
}

// g rows [q0, q1) (9*C each) of one image from the image's dy (H*W, C).
void InverseGatherTaps(const ConvTable& t, const float* dy_img, int channels, int64_t q0,
                       int64_t q1, float* g_rows) {
  SAL_ON_CUDA(t.device(), {
    return cuda::InverseGatherTaps(View(t), dy_img, channels, q0, q1, g_rows, CudaStream());
  });
  ParallelFor(q0, q1, GrainFor(int64_t{channels} * kConvTaps * t.taps()), [&](int64_t r0, int64_t r1) {
    for (int64_t q = r0; q < r1; ++q) {
      kernels::InverseGatherTapsRow(dy_img, channels, t.inverse_offsets(), t.inverse_rows(),
                                    t.inverse_weights(), q, g_rows + (q - q0) * kConvTaps * channels,
                                    0, channels, 1);
    }
  });
}

void FillRowsWithBias(Device d, const float* bias, int64_t rows, int channels, float* y) {
  SAL_ON_CUDA(d, {
    return cuda::FillRowsWithBias(bias, rows, channels, y, CudaStream());
  });
  ParallelFor(0, rows, GrainFor(channels), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) std::memcpy(y + r * channels, bias, channels * sizeof(float));
  });
}

// db[c] += sum_r dy[r][c], in the fixed two-stage order of kernels::ColumnChunkSum.
void BiasGrad(Device d, const float* dy, int64_t rows, int channels, float* db, Arena& arena) {
  const int64_t chunks = (rows + kernels::kBiasChunkRows - 1) / kernels::kBiasChunkRows;
  float* partial = arena.AllocFloats(chunks * channels);  // (chunks, C)
  SAL_ON_CUDA(d, {
    return cuda::BiasGrad(dy, rows, channels, partial, db, CudaStream());
  });
  // Each chunk's partial sum is its own (fixed chunks): the same bits on any thread count.
  ParallelFor(0, chunks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      float* acc = partial + k * channels;
      std::fill(acc, acc + channels, 0.0f);
      const int64_t r1 = std::min(rows, (k + 1) * kernels::kBiasChunkRows);
      for (int64_t r = k * kernels::kBiasChunkRows; r < r1; ++r) {
        kernels::AccumulateRow(dy + r * channels, acc, 0, channels, 1);
      }
    }
  });
  for (int64_t k = 0; k < chunks; ++k) {
    kernels::AccumulateRow(partial + k * channels, db, 0, channels, 1);
  }
}

// wz (Cin, 9*Cout) = w (9, Cin, Cout) permuted.
void WeightToZ(Device d, const float* w, int cin, int cout, float* wz) {
  SAL_ON_CUDA(d, {
    return cuda::WeightToZ(w, cin, cout, wz, CudaStream());
  });
  for (int tap = 0; tap < kConvTaps; ++tap)
    for (int ci = 0; ci < cin; ++ci)
      for (int co = 0; co < cout; ++co)
        wz[kernels::ZWeightIndex(tap, ci, co, cout)] =
            w[kernels::WeightIndex(tap, ci, co, cin, cout)];
}

// w (9, Cin, Cout) += dwz (Cin, 9*Cout) permuted back.
void AddZToWeight(Device d, const float* dwz, int cin, int cout, float* w) {
  SAL_ON_CUDA(d, {
    return cuda::AddZToWeight(dwz, cin, cout, w, CudaStream());
  });
  for (int tap = 0; tap < kConvTaps; ++tap)
    for (int ci = 0; ci < cin; ++ci)
      for (int co = 0; co < cout; ++co)
        w[kernels::WeightIndex(tap, ci, co, cin, cout)] +=
            dwz[kernels::ZWeightIndex(tap, ci, co, cout)];
}

// ---------------------------------------------------------------------------------
// Argument checks and block sizes
// ---------------------------------------------------------------------------------

struct Dims {
  int n, cin, cout;
  int64_t pixels;  // H*W of one image
};

Dims CheckArgs(const ConvTable& t, const Tensor& x, const Tensor& w, const Tensor& b_or_db,
               const Tensor& y_or_dy, const char* op) {
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  SAL_NN_CHECK(t.pixels() > 0, "%s: empty ConvTable", op);
  SAL_NN_CHECK(xs.h == t.height() && xs.w == t.width(), "%s: x %s does not match the %dx%d table",
               op, xs.ToString().c_str(), t.height(), t.width());
  SAL_NN_CHECK(ws.n == kConvTaps && ws.h == 1 && ws.w == xs.c, "%s: w %s for x %s", op,
               ws.ToString().c_str(), xs.ToString().c_str());
  const int cout = ws.c;
  SAL_NN_CHECK((b_or_db.shape() == Shape{1, 1, 1, cout}), "%s: bias %s, want (1,1,1,%d)", op,
               b_or_db.shape().ToString().c_str(), cout);
  SAL_NN_CHECK((y_or_dy.shape() == Shape{xs.n, xs.h, xs.w, cout}), "%s: output %s for x %s, Cout %d",
               op, y_or_dy.shape().ToString().c_str(), xs.ToString().c_str(), cout);
  for (const Tensor* p : {&x, &w, &b_or_db, &y_or_dy}) {
    SAL_NN_CHECK(p->device() == t.device(), "%s: tensor on %s, table on %s", op,
                 DeviceName(p->device()), DeviceName(t.device()));
  }
  return Dims{xs.n, xs.c, cout, t.pixels()};
}

// Floats of one gather block (see BlockPixels).
constexpr int64_t kDefaultBlockFloats = int64_t{1} << 20;

// Pixels per gather block of the input side's backward (see SphericalConvBackward).
constexpr int64_t kBackwardInputBlockPixels = 256;

// Pixels per gather block: blocks of about 1M floats (4 MiB, within the L3 cache) were
// fastest on our 2-core machine across the U-Net's layers (docs/nn_conv.md); much
// smaller blocks pay OpenBLAS's per-call thread synchronisation, larger ones spill.
int64_t BlockPixels(const ConvOptions& o, int64_t row_floats, int64_t pixels) {
  int64_t block = o.block_pixels;
  if (block <= 0) block = std::max<int64_t>(kDefaultBlockFloats / row_floats, 64);
  return std::min(block, pixels);
}

}  // namespace

// Measured on the U-Net's layers at 240x480 batch 2 with CpuSgemm's per-shape library
// choice (docs/nn_conv.md). Forward: the input side, whose column blocks stay in cache,
// wins or ties everywhere (conv6 47 vs 52 ms, conv5 45 vs 44 ms) except where the z rows
// are narrower than the input rows (9*Cout <= Cin: conv7, 128 -> 1, 6.5 vs 19 ms); so
// the output side's whole-image z buffer (H*W x 9*Cout) is never larger than the input
// itself (it was 66 MB for conv6 with OpenBLAS's choice). Backward: the output side avoids the full-image dcol and wins for
// conv2-7 (5-35%); only conv1 (4 -> 64, z-space 16x wider than the columns) is faster
// on the input side.
ConvAlgo ChooseConvAlgo(int cin, int cout, ConvPass pass) {
  if (pass == ConvPass::kForward) {
    return 9 * cout <= cin ? ConvAlgo::kGatherOutput : ConvAlgo::kGatherInput;
  }
  return cout <= 2 * cin ? ConvAlgo::kGatherOutput : ConvAlgo::kGatherInput;
}

namespace {
ConvAlgo Resolve(const ConvOptions& o, int cin, int cout, ConvPass pass) {
  return o.algo == ConvAlgo::kAuto ? ChooseConvAlgo(cin, cout, pass) : o.algo;
}
}  // namespace

// ---------------------------------------------------------------------------------
// The cudnn engine (nn/math_mode.h, nn/cuda/cudnn_graph.h): our gather writes one
// image's column matrix, which cuDNN's graph API convolves as P patches of 3x3; the
// weight is permuted to KRSC in the arena. Its outputs are the native engine's up to
// the GEMM's summation order (and TF32 rounding with --precision=tf32).
// ---------------------------------------------------------------------------------

namespace {

#ifdef SAL360_WITH_CUDA
// The engine of this call: cudnn when the CUDA context asks for it, the precision is fp32
// or tf32 (cuDNN's BF16 convolutions need BF16 tensors, not built: at bf16 the native
// GEMMs run in BF16) and every operand cuDNN sees is 16-byte aligned (always, for the
// model's shapes: H*W*C is a multiple of 4); otherwise native, with one notice per process.
bool UseCudnn(Device dev, const Dims& d) {
  if (dev != Device::kCuda || Context::Get(dev).math().engine != GpuEngine::kCudnn) return false;
  if (Context::Get(dev).math().precision == Precision::kBf16) {
    static bool told_bf16 = false;
    if (!told_bf16) {
      told_bf16 = true;
      std::fprintf(stderr,
                   "sal360: cudnn engine at bf16: cuDNN's convolutions would need BF16 tensors, "
                   "which are not built; the convolutions run on cuBLAS's BF16 tensor-core GEMMs "
                   "(the native engine's), batch-norm + ReLU and max-pool on cuDNN\n");
    }
    return false;
  }
  const bool aligned = (d.pixels * d.cin) % 4 == 0 && (d.pixels * d.cout) % 4 == 0;
  if (!aligned) {
    static bool told = false;
    if (!told) {
      told = true;
      std::fprintf(stderr,
                   "sal360: cudnn engine: a %lld-pixel image with Cin %d, Cout %d leaves its "
                   "operands unaligned for cuDNN; that layer runs on the native engine\n",
                   static_cast<long long>(d.pixels), d.cin, d.cout);
    }
  }
  return aligned;
}

size_t CudnnWorkspaceBytes(cuda::CudnnConvOp op, const cuda::CudnnConvShape& shape) {
  return cuda::CudnnConvWorkspaceBytes(Context::Get(Device::kCuda).cudnn(), op, shape);
}

void CudnnForward(const ConvTable& t, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                  const Dims& d) {
  Context& ctx = Context::Get(Device::kCuda);
  Arena& arena = ctx.arena();
  Arena::Scope scope(arena);
  const int k_col = kConvTaps * d.cin;
  const cuda::CudnnConvShape shape{d.pixels, d.cin, d.cout, ctx.math().precision};
  const size_t ws_bytes = CudnnWorkspaceBytes(cuda::CudnnConvOp::kForward, shape);
  void* ws = ws_bytes > 0 ? arena.Alloc(ws_bytes) : nullptr;
  float* krsc = arena.AllocFloats(int64_t{kConvTaps} * d.cin * d.cout);
  cuda::WeightToKrsc(w.data(), d.cin, d.cout, krsc, CudaStream());
  float* col = arena.AllocFloats(d.pixels * k_col);  // one image's (H*W, 9*Cin)
  for (int n = 0; n < d.n; ++n) {
    const float* x_img = x.data() + n * d.pixels * d.cin;
    float* y_img = y.data() + n * d.pixels * d.cout;
    GatherColumns(t, x_img, d.cin, 0, d.pixels * kConvTaps, col);
    FillRowsWithBias(Device::kCuda, b.data(), d.pixels, d.cout, y_img);
    cuda::CudnnConv(ctx.cudnn(), cuda::CudnnConvOp::kForward, shape, col, krsc, y_img, ws);
  }
}

// After BiasGrad: dw += the filter gradient, dx = the inverse gather of the data gradient.
void CudnnBackward(const ConvTable& t, const Tensor& x, const Tensor& w, const Tensor& dy,
                   Tensor* dx, Tensor& dw, const Dims& d) {
  Context& ctx = Context::Get(Device::kCuda);
  Arena& arena = ctx.arena();
  Arena::Scope scope(arena);
  const int k_col = kConvTaps * d.cin;
  const int64_t w_floats = int64_t{kConvTaps} * d.cin * d.cout;
  const cuda::CudnnConvShape shape{d.pixels, d.cin, d.cout, ctx.math().precision};
  size_t ws_bytes = CudnnWorkspaceBytes(cuda::CudnnConvOp::kBackwardFilter, shape);
  if (dx != nullptr) {
    ws_bytes = std::max(ws_bytes, CudnnWorkspaceBytes(cuda::CudnnConvOp::kBackwardData, shape));
  }
  void* ws = ws_bytes > 0 ? arena.Alloc(ws_bytes) : nullptr;
  float* krsc = arena.AllocFloats(w_floats);
  float* dkrsc = arena.AllocFloats(w_floats);
  cuda::WeightToKrsc(w.data(), d.cin, d.cout, krsc, CudaStream());
  cuda::Fill(dkrsc, w_floats, 0.0f, CudaStream());
  float* col = arena.AllocFloats(d.pixels * k_col);
  float* dcol = dx != nullptr ? arena.AllocFloats(d.pixels * k_col) : nullptr;
  for (int n = 0; n < d.n; ++n) {
    const float* x_img = x.data() + n * d.pixels * d.cin;
    float* dy_img = const_cast<float*>(dy.data()) + n * d.pixels * d.cout;  // read only
    GatherColumns(t, x_img, d.cin, 0, d.pixels * kConvTaps, col);
    cuda::CudnnConv(ctx.cudnn(), cuda::CudnnConvOp::kBackwardFilter, shape, col, dkrsc, dy_img, ws);
    if (dcol != nullptr) {
      cuda::CudnnConv(ctx.cudnn(), cuda::CudnnConvOp::kBackwardData, shape, dcol, krsc, dy_img, ws);
      InverseGather(t, dcol, d.cin, 0, d.pixels, dx->data() + n * d.pixels * d.cin);
    }
  }
  cuda::AddKrscToWeight(dkrsc, d.cin, d.cout, dw.data(), CudaStream());
}
#endif

}  // namespace

// ---------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------

void SphericalConvForward(const ConvTable& t, const Tensor& x, const Tensor& w, const Tensor& b,
                          Tensor& y, const ConvOptions& options) {
  const Dims d = CheckArgs(t, x, w, b, y, "SphericalConvForward");
  const Device dev = t.device();
  Arena& arena = Context::Get(dev).arena();
  Arena::Scope scope(arena);
  const int k_col = kConvTaps * d.cin;  // column width
  const int k_z = kConvTaps * d.cout;   // z-space width
#ifdef SAL360_WITH_CUDA
  if (UseCudnn(dev, d)) return CudnnForward(t, x, w, b, y, d);
#endif

  if (Resolve(options, d.cin, d.cout, ConvPass::kForward) == ConvAlgo::kGatherInput) {
    const int64_t block = BlockPixels(options, k_col, d.pixels);
    float* col = arena.AllocFloats(block * k_col);  // (block, 9*Cin)
    for (int n = 0; n < d.n; ++n) {
      const float* x_img = x.data() + n * d.pixels * d.cin;  // (H*W, Cin)
      float* y_img = y.data() + n * d.pixels * d.cout;       // (H*W, Cout)
      for (int64_t p0 = 0; p0 < d.pixels; p0 += block) {
        const int64_t rows = std::min(block, d.pixels - p0);
        GatherColumns(t, x_img, d.cin, p0 * kConvTaps, (p0 + rows) * kConvTaps, col);
        FillRowsWithBias(dev, b.data(), rows, d.cout, y_img + p0 * d.cout);
        // y_rows (rows, Cout) += col (rows, 9*Cin) · w (9*Cin, Cout)
        Gemm(dev, false, false, rows, d.cout, k_col, 1.0f, col, k_col, w.data(), d.cout, 1.0f,
             y_img + p0 * d.cout, d.cout);
      }
    }
    return;
  }

  float* wz = arena.AllocFloats(int64_t{d.cin} * k_z);  // (Cin, 9*Cout)
  WeightToZ(dev, w.data(), d.cin, d.cout, wz);
  float* z = arena.AllocFloats(d.pixels * k_z);  // (H*W, 9*Cout) of one image
  for (int n = 0; n < d.n; ++n) {
    const float* x_img = x.data() + n * d.pixels * d.cin;
    float* y_img = y.data() + n * d.pixels * d.cout;
    // z (H*W, 9*Cout) = x (H*W, Cin) · wz (Cin, 9*Cout)
    Gemm(dev, false, false, d.pixels, k_z, d.cin, 1.0f, x_img, d.cin, wz, k_z, 0.0f, z, k_z);
    GatherSum(t, z, d.cout, b.data(), 0, d.pixels, y_img);
  }
}

// ---------------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------------

void SphericalConvBackward(const ConvTable& t, const Tensor& x, const Tensor& w, const Tensor& dy,
                           Tensor* dx, Tensor& dw, Tensor& db, const ConvOptions& options) {
  const Dims d = CheckArgs(t, x, w, db, dy, "SphericalConvBackward");
  SAL_NN_CHECK(dw.shape() == w.shape() && dw.device() == w.device(),
               "SphericalConvBackward: dw %s for w %s", dw.shape().ToString().c_str(),
               w.shape().ToString().c_str());
  if (dx != nullptr) CheckSameShapeAndDevice(*dx, x, "SphericalConvBackward dx");
  const Device dev = t.device();
  Arena& arena = Context::Get(dev).arena();
  Arena::Scope scope(arena);
  const int k_col = kConvTaps * d.cin;
  const int k_z = kConvTaps * d.cout;

  BiasGrad(dev, dy.data(), d.n * d.pixels, d.cout, db.data(), arena);
#ifdef SAL360_WITH_CUDA
  if (UseCudnn(dev, d)) return CudnnBackward(t, x, w, dy, dx, dw, d);
#endif

  if (Resolve(options, d.cin, d.cout, ConvPass::kBackward) == ConvAlgo::kGatherInput) {
    // Small blocks here: each dw product is then small enough for OpenBLAS to run on the
    // calling thread with the block still in L2 (measured: conv1 13.6 -> 9.3 ms; the
    // other layers unchanged within noise).
    ConvOptions backward_options = options;
    if (backward_options.block_pixels <= 0) backward_options.block_pixels = kBackwardInputBlockPixels;
    const int64_t block = BlockPixels(backward_options, k_col, d.pixels);
    float* col = arena.AllocFloats(block * k_col);  // (block, 9*Cin)
    // dcol of one image (H*W*9, Cin): dx needs every reader of a pixel, which may sit
    // in another block, so the image's dcol is complete before the inverse gather.
    float* dcol = dx != nullptr ? arena.AllocFloats(d.pixels * k_col) : nullptr;
    for (int n = 0; n < d.n; ++n) {
      const float* x_img = x.data() + n * d.pixels * d.cin;
      const float* dy_img = dy.data() + n * d.pixels * d.cout;
      for (int64_t p0 = 0; p0 < d.pixels; p0 += block) {
        const int64_t rows = std::min(block, d.pixels - p0);
        GatherColumns(t, x_img, d.cin, p0 * kConvTaps, (p0 + rows) * kConvTaps, col);
        // dw (9*Cin, Cout) += col^T (9*Cin, rows) · dy_rows (rows, Cout)
        Gemm(dev, true, false, k_col, d.cout, rows, 1.0f, col, k_col, dy_img + p0 * d.cout,
             d.cout, 1.0f, dw.data(), d.cout);
        if (dcol != nullptr) {
          // dcol_rows (rows, 9*Cin) = dy_rows (rows, Cout) · w^T (Cout, 9*Cin)
          Gemm(dev, false, true, rows, k_col, d.cout, 1.0f, dy_img + p0 * d.cout, d.cout,
               w.data(), d.cout, 0.0f, dcol + p0 * k_col, k_col);
        }
      }
      if (dcol != nullptr) {
        InverseGather(t, dcol, d.cin, 0, d.pixels, dx->data() + n * d.pixels * d.cin);
      }
    }
    return;
  }

  const int64_t block = BlockPixels(options, k_z, d.pixels);
  float* wz = arena.AllocFloats(int64_t{d.cin} * k_z);   // (Cin, 9*Cout)
  float* dwz = arena.AllocFloats(int64_t{d.cin} * k_z);  // (Cin, 9*Cout)
  float* g = arena.AllocFloats(block * k_z);             // (block, 9*Cout)
  WeightToZ(dev, w.data(), d.cin, d.cout, wz);
  bool first = true;
  for (int n = 0; n < d.n; ++n) {
    const float* x_img = x.data() + n * d.pixels * d.cin;
    const float* dy_img = dy.data() + n * d.pixels * d.cout;
    for (int64_t q0 = 0; q0 < d.pixels; q0 += block) {
      const int64_t rows = std::min(block, d.pixels - q0);
      InverseGatherTaps(t, dy_img, d.cout, q0, q0 + rows, g);
      // dwz (Cin, 9*Cout) (+)= x_rows^T (Cin, rows) · g (rows, 9*Cout)
      Gemm(dev, true, false, d.cin, k_z, rows, 1.0f, x_img + q0 * d.cin, d.cin, g, k_z,
           first ? 0.0f : 1.0f, dwz, k_z);
      first = false;
      if (dx != nullptr) {
        // dx_rows (rows, Cin) = g (rows, 9*Cout) · wz^T (9*Cout, Cin)
        Gemm(dev, false, true, rows, d.cin, k_z, 1.0f, g, k_z, wz, k_z, 0.0f,
             dx->data() + (n * d.pixels + q0) * d.cin, d.cin);
      }
    }
  }
  AddZToWeight(dev, dwz, d.cin, d.cout, dw.data());
}

// ---------------------------------------------------------------------------------
// Over [up(a) | b] (the U-Net's last layer)
// ---------------------------------------------------------------------------------

namespace {

struct UpCatDims {
  int n, ca, cb, cout;
  int64_t pixels, half_pixels;  // H*W, H/2*W/2
};

UpCatDims CheckUpCatArgs(const ConvTable& t, const Tensor& a, const Tensor& b, const Tensor& w,
                         const Tensor& bias, const Tensor& y_or_dy, const char* op) {
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  SAL_NN_CHECK(t.pixels() > 0 && t.height() % 2 == 0 && t.width() % 2 == 0,
               "%s: needs a table of even size, got %dx%d", op, t.height(), t.width());
  SAL_NN_CHECK(bs.h == t.height() && bs.w == t.width(), "%s: b %s does not match the %dx%d table", op,
               bs.ToString().c_str(), t.height(), t.width());
  SAL_NN_CHECK(as.n == bs.n && as.h * 2 == bs.h && as.w * 2 == bs.w, "%s: a %s is not half of b %s",
               op, as.ToString().c_str(), bs.ToString().c_str());
  const Shape& ws = w.shape();
  SAL_NN_CHECK(ws.n == kConvTaps && ws.h == 1 && ws.w == as.c + bs.c, "%s: w %s for a %s and b %s",
               op, ws.ToString().c_str(), as.ToString().c_str(), bs.ToString().c_str());
  const int cout = ws.c;
  SAL_NN_CHECK((bias.shape() == Shape{1, 1, 1, cout}), "%s: bias %s, want (1,1,1,%d)", op,
               bias.shape().ToString().c_str(), cout);
  SAL_NN_CHECK((y_or_dy.shape() == Shape{bs.n, bs.h, bs.w, cout}), "%s: output %s for b %s, Cout %d",
               op, y_or_dy.shape().ToString().c_str(), bs.ToString().c_str(), cout);
  for (const Tensor* p : {&a, &b, &w, &bias, &y_or_dy}) {
    SAL_NN_CHECK(p->device() == t.device(), "%s: tensor on %s, table on %s", op,
                 DeviceName(p->device()), DeviceName(t.device()));
  }
  return UpCatDims{bs.n, as.c, bs.c, cout, t.pixels(), int64_t{as.h} * as.w};
}

}  // namespace

void SphericalConvUpCatForward(const ConvTable& t, const Tensor& a, const Tensor& b, const Tensor& w,
                               const Tensor& bias, Tensor& y) {
  const UpCatDims d = CheckUpCatArgs(t, a, b, w, bias, y, "SphericalConvUpCatForward");
  const Device dev = t.device();
  Arena& arena = Context::Get(dev).arena();
  Arena::Scope scope(arena);
  const int cin = d.ca + d.cb, k_z = kConvTaps * d.cout;
  const int h = t.height(), wd = t.width();
  float* wz = arena.AllocFloats(int64_t{cin} * k_z);         // (Ca+Cb, 9*Cout): rows of a, then b
  float* za = arena.AllocFloats(d.half_pixels * k_z);        // (H/2*W/2, 9*Cout)
  float* zup = arena.AllocFloats(d.pixels * k_z);            // (H*W, 9*Cout)
  float* z = arena.AllocFloats(d.pixels * k_z);              // (H*W, 9*Cout)
  WeightToZ(dev, w.data(), cin, d.cout, wz);
  Tensor za_view = Tensor::View(za, Shape{1, h / 2, wd / 2, k_z}, dev);
  Tensor zup_view = Tensor::View(zup, Shape{1, h, wd, k_z}, dev);
  Tensor z_view = Tensor::View(z, Shape{1, h, wd, k_z}, dev);
  for (int n = 0; n < d.n; ++n) {
    const float* a_img = a.data() + n * d.half_pixels * d.ca;  // (H/2*W/2, Ca)
    const float* b_img = b.data() + n * d.pixels * d.cb;       // (H*W, Cb)
    // za = a · Wz[:Ca], z = b · Wz[Ca:], z += up(za)
    Gemm(dev, false, false, d.half_pixels, k_z, d.ca, 1.0f, a_img, d.ca, wz, k_z, 0.0f, za, k_z);
    Gemm(dev, false, false, d.pixels, k_z, d.cb, 1.0f, b_img, d.cb, wz + int64_t{d.ca} * k_z, k_z,
         0.0f, z, k_z);
    UpsampleNearest2xForward(za_view, zup_view);
    Axpy(1.0f, zup_view, z_view);
    GatherSum(t, z, d.cout, bias.data(), 0, d.pixels, y.data() + n * d.pixels * d.cout);
  }
}

void SphericalConvUpCatBackward(const ConvTable& t, const Tensor& a, const Tensor& b, const Tensor& w,
                                const Tensor& dy, Tensor& da, Tensor& db, Tensor& dw, Tensor& dbias) {
  const char* op = "SphericalConvUpCatBackward";
  const UpCatDims d = CheckUpCatArgs(t, a, b, w, dbias, dy, op);
  CheckSameShapeAndDevice(da, a, op);
  CheckSameShapeAndDevice(db, b, op);
  SAL_NN_CHECK(dw.shape() == w.shape() && dw.device() == w.device(), "%s: dw %s for w %s", op,
               dw.shape().ToString().c_str(), w.shape().ToString().c_str());
  const Device dev = t.device();
  Arena& arena = Context::Get(dev).arena();
  Arena::Scope scope(arena);
  const int cin = d.ca + d.cb, k_z = kConvTaps * d.cout;
  const int h = t.height(), wd = t.width();

  BiasGrad(dev, dy.data(), d.n * d.pixels, d.cout, dbias.data(), arena);

  float* wz = arena.AllocFloats(int64_t{cin} * k_z);   // (Ca+Cb, 9*Cout)
  float* dwz = arena.AllocFloats(int64_t{cin} * k_z);  // (Ca+Cb, 9*Cout)
  float* g = arena.AllocFloats(d.pixels * k_z);        // (H*W, 9*Cout)
  float* ga = arena.AllocFloats(d.half_pixels * k_z);  // (H/2*W/2, 9*Cout)
  WeightToZ(dev, w.data(), cin, d.cout, wz);
  const float* wz_b = wz + int64_t{d.ca} * k_z;
  float* dwz_b = dwz + int64_t{d.ca} * k_z;
  Tensor g_view = Tensor::View(g, Shape{1, h, wd, k_z}, dev);
  Tensor ga_view = Tensor::View(ga, Shape{1, h / 2, wd / 2, k_z}, dev);
  for (int n = 0; n < d.n; ++n) {
    const float* a_img = a.data() + n * d.half_pixels * d.ca;
    const float* b_img = b.data() + n * d.pixels * d.cb;
    const float beta = n == 0 ? 0.0f : 1.0f;
    InverseGatherTaps(t, dy.data() + n * d.pixels * d.cout, d.cout, 0, d.pixels, g);
    // The skip input b: dWz[Ca:] (+)= b^T · g, db = g · Wz[Ca:]^T.
    Gemm(dev, true, false, d.cb, k_z, d.pixels, 1.0f, b_img, d.cb, g, k_z, beta, dwz_b, k_z);
    Gemm(dev, false, true, d.pixels, d.cb, k_z, 1.0f, g, k_z, wz_b, k_z, 0.0f,
         db.data() + n * d.pixels * d.cb, d.cb);
    // The upsampled input: its 2x2 sums, then dWz[:Ca] (+)= a^T · ga, da = ga · Wz[:Ca]^T.
    UpsampleNearest2xBackward(g_view, ga_view);
    Gemm(dev, true, false, d.ca, k_z, d.half_pixels, 1.0f, a_img, d.ca, ga, k_z, beta, dwz, k_z);
    Gemm(dev, false, true, d.half_pixels, d.ca, k_z, 1.0f, ga, k_z, wz, k_z, 0.0f,
         da.data() + n * d.half_pixels * d.ca, d.ca);
  }
  AddZToWeight(dev, dwz, cin, d.cout, dw.data());
}

}  // namespace sal360::nn

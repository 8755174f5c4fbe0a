// SphericalConv: the spherical U-Net's 3x3 convolution on an equirectangular grid.
//
// For output pixel p and kernel position tap = r*3 + c, the sphere/ gather table names
// `taps` source pixels src[p][tap][t] (1 for nearest, 4 for bilinear) with weights
// weight[p][tap][t]. With the column matrix
//   col[p][tap*Cin + ci] = sum_t weight[p][tap][t] * x[src[p][tap][t]][ci]    // (P, 9*Cin)
// the layer is
//   y[p][co] = b[co] + sum_{tap, ci} col[p][tap*Cin + ci] * w[tap][ci][co]      // (P, Cout)
// which equals a Conv2d(k=3, stride=3) over the published 3H x 3W expanded image, so a
// PyTorch weight (Cout, Cin, 3, 3) loads after one permutation (ConvWeightFromPytorch).
//
// Tensors are NHWC float32 (nn/tensor.h); P = N*H*W pixels. Invariants:
//   - activations are written with "=" (y, dx); parameter gradients accumulate "+="
//     (dw, db), so the model zeroes its gradient slab once per step;
//   - the backward is deterministic: dx is an inverse gather over the CSR inverse table
//     (ascending entries), never a scatter with float atomics — two runs give identical bits;
//   - scratch comes from Context::Get(device).arena() inside an Arena::Scope: no
//     allocation once the arena has grown to the layer's high-water mark.
#ifndef SAL360_NN_OPS_SPHERICAL_CONV_H_
#define SAL360_NN_OPS_SPHERICAL_CONV_H_

#include <cstdint>
#include <vector>

#include "nn/buffer.h"
#include "nn/device.h"
#include "nn/tensor.h"
#include "sphere/tables.h"

namespace sal360::nn {

// Device-resident copy of one resolution's gather table and its inverse (CSR). Created
// once per (spec, device) and kept by the model; move-only. Every index is checked to
// lie in [0, H*W) on creation (a bad table aborts with a message, never reads out of
// range later).
class ConvTable {
 public:
  ConvTable() = default;
  // Uses sphere::CachedGatherTable / CachedInverseTable (built once per process).
  static ConvTable Create(const sphere::TableSpec& spec, Device device);
  // From explicit tables (tests, hand-made tables). `inverse` must be the inverse of
  // `gather` (checked: sizes, bounds, ascending entries, each entry reading its pixel).
  static ConvTable FromTables(const sphere::GatherTable& gather,
                              const sphere::InverseTable& inverse, Device device);

  ConvTable(ConvTable&&) noexcept = default;
  ConvTable& operator=(ConvTable&&) noexcept = default;
  ConvTable(const ConvTable&) = delete;
  ConvTable& operator=(const ConvTable&) = delete;

  int height() const { return height_; }
  int width() const { return width_; }
  int taps() const { return taps_; }
  Device device() const { return device_; }
  const sphere::TableSpec& spec() const { return spec_; }
  int64_t pixels() const { return int64_t{height_} * width_; }

  // Raw table memory on device(): src/weight (H*W, 9, taps); the inverse as CSR offsets
  // (H*W + 1) and, per CSR slot k (table entry e = inverse.entries[k]), the column row
  // e / taps and the weight[e] (see FlattenInverse).
  const int32_t* src() const { return static_cast<const int32_t*>(src_.data()); }
  const float* weight() const { return static_cast<const float*>(weight_.data()); }
  const int32_t* inverse_offsets() const { return static_cast<const int32_t*>(inv_offsets_.data()); }
  const int32_t* inverse_rows() const { return static_cast<const int32_t*>(inv_rows_.data()); }
  const float* inverse_weights() const { return static_cast<const float*>(inv_weights_.data()); }
  int64_t num_inverse_entries() const { return num_inverse_entries_; }

 private:
  sphere::TableSpec spec_;
  int height_ = 0, width_ = 0, taps_ = 0;
  Device device_ = Device::kCpu;
  Buffer src_, weight_, inv_offsets_, inv_rows_, inv_weights_;
  int64_t num_inverse_entries_ = 0;
};

// The inverse table as the kernels read it: for CSR slot k with table entry
// e = inverse.entries[k], rows[k] = e / taps (the column row p*9 + tap that read the
// pixel) and weights[k] = gather.weight[e]. Precomputed so that the backward's inner
// loop has no integer division and reads the weights contiguously.
struct InverseRows {
  std::vector<int32_t> rows;
  std::vector<float> weights;
};
InverseRows FlattenInverse(const sphere::GatherTable& gather, const sphere::InverseTable& inverse);

// Weight layout internal: Tensor Shape{9, 1, Cin, Cout}: w[tap][ci][co] =
// W_pytorch[co][ci][r][c], tap = r*3 + c. Bias: Shape{1, 1, 1, Cout}.
void ConvWeightFromPytorch(const float* w_oihw /*(Cout,Cin,3,3)*/, int cout, int cin, Tensor& w);
void ConvWeightToPytorch(const Tensor& w, float* w_oihw /*(Cout,Cin,3,3)*/);

// Two exact factorisations of the same layer; they differ only in float rounding.
//   kGatherInput  ("im2col"): forward: col = gather(x) (P, 9*Cin), y = b + col · w, in
//                 blocks of pixels (the block stays in cache). Backward: dw += col^T · dy,
//                 dcol = dy · w^T, dx = inverse gather of dcol.
//   kGatherOutput ("GEMM first"): forward: Z = x · Wz (P, 9*Cout), Wz (Cin, 9*Cout) the
//                 permuted weight, then y[p] = b + the table's weighted sum of Z entries.
//                 Backward: g = inverse gather of dy into z-space (P, 9*Cout), in
//                 blocks; dw += x^T · g (permuted), dx = g · Wz^T.
// The gathers move 9*Cin (input side) or 9*Cout (output side) floats per pixel, so the
// cheaper side depends on the shape; forward and backward may use different ones.
// kAuto picks by the measured rule in ChooseConvAlgo (docs/nn_conv.md).
enum class ConvAlgo { kAuto, kGatherInput, kGatherOutput };
struct ConvOptions {
  ConvAlgo algo = ConvAlgo::kAuto;
  int64_t block_pixels = 0;  // pixels per gather block; 0 = the measured default
};
enum class ConvPass { kForward, kBackward };
ConvAlgo ChooseConvAlgo(int cin, int cout, ConvPass pass);

// x: (N,H,W,Cin), w: (9,1,Cin,Cout), b: (1,1,1,Cout), y: (N,H,W,Cout) "=".
void SphericalConvForward(const ConvTable& t, const Tensor& x, const Tensor& w, const Tensor& b,
                          Tensor& y, const ConvOptions& options = {});
// dy: (N,H,W,Cout). dw, db "+="; dx (N,H,W,Cin) "=" (nullptr for the first layer: no
// input gradient needed).
void SphericalConvBackward(const ConvTable& t, const Tensor& x, const Tensor& w, const Tensor& dy,
                           Tensor* dx, Tensor& dw, Tensor& db, const ConvOptions& options = {});

// SphericalConv over the channel concatenation [up(a) | b] without forming it — the
// U-Net's last layer, whose input (128 channels at full resolution) and its gradient were
// the two largest buffers of the network. a: (N, H/2, W/2, Ca), up = nearest 2x upsample
// (nn/ops/pool.h), b: (N, H, W, Cb), w: (9, 1, Ca+Cb, Cout) exactly as for the
// concatenated input. Output side in both passes (for layers with 9*Cout <= Ca+Cb):
//   forward   z = b · Wz[Ca:] + up(a · Wz[:Ca])   (H*W, 9*Cout), y = bias + gather-sum(z)
//   backward  g = inverse gather of dy (H*W, 9*Cout); db = g · Wz[Ca:]^T;
//             ga = up^T(g) (the 2x2 sums, H/2*W/2 rows); da = ga · Wz[:Ca]^T;
//             dWz[Ca:] += b^T · g, dWz[:Ca] += a^T · ga
// a's product runs on a quarter of the pixels. This equals the concatenated layer up to
// float rounding (the channel sum is split in two). da, db "="; dw, dbias "+=".
void SphericalConvUpCatForward(const ConvTable& t, const Tensor& a, const Tensor& b, const Tensor& w,
                               const Tensor& bias, Tensor& y);
void SphericalConvUpCatBackward(const ConvTable& t, const Tensor& a, const Tensor& b, const Tensor& w,
                                const Tensor& dy, Tensor& da, Tensor& db, Tensor& dw, Tensor& dbias);

}  // namespace sal360::nn

#endif  // SAL360_NN_OPS_SPHERICAL_CONV_H_

// Runs every op of //nn:layers on `device` with each output inside a sentinel-guarded
// allocation (tests/testing/guarded.h) and expects all guards intact: no op writes out
// of range, at odd sizes and a batch of 3. Shared by layers_guard_test (CPU) and
// layers_cuda_test (CUDA).
#ifndef SAL360_TESTS_NN_GUARDED_OPS_H_
#define SAL360_TESTS_NN_GUARDED_OPS_H_

#include <vector>

#include "gtest/gtest.h"
#include "nn/buffer.h"
#include "nn/loss.h"
#include "nn/ops/batchnorm.h"
#include "nn/ops/concat.h"
#include "nn/ops/pool.h"
#include "tests/testing/gradcheck.h"
#include "tests/testing/guarded.h"

namespace sal360::nn {

inline void CheckOpsWriteOnlyTheirOutputs(Device d) {
  using ::sal360::testing::GuardedTensor;
  using ::sal360::testing::RandomFloats;
  const Shape s{3, 5, 7, 3}, cs{1, 1, 1, 3}, p{3, 2, 3, 3}, u{3, 10, 14, 3};
  const Tensor x = Tensor::FromVector(s, RandomFloats(s.numel(), 1), d);
  const Tensor dy = Tensor::FromVector(s, RandomFloats(s.numel(), 2), d);
  const Tensor gamma = Tensor::FromVector(cs, {1, 2, 3}, d), beta = Tensor::FromVector(cs, {0, 1, 2}, d);

  // BatchNorm: y, the cache and the running statistics are all guarded views.
  GuardedTensor y(s, d), mean(cs, d), invstd(cs, d), rm(cs, d, {0, 0, 0}), rv(cs, d, {1, 1, 1});
  BatchNormStats stats;
  stats.running_mean = Tensor::View(rm.tensor().data(), cs, d);
  stats.running_var = Tensor::View(rv.tensor().data(), cs, d);
  BatchNormCache cache;
  cache.mean = Tensor::View(mean.tensor().data(), cs, d);
  cache.invstd = Tensor::View(invstd.tensor().data(), cs, d);
  BatchNormForwardTrain(x, gamma, beta, stats, cache, y.tensor());
  EXPECT_EQ(cache.mean.data(), mean.tensor().data()) << "the cache views were reused";
  BatchNormForwardEval(x, gamma, beta, stats, y.tensor());
  GuardedTensor dx(s, d), dgamma(cs, d, {0, 0, 0}), dbeta(cs, d, {0, 0, 0});
  BatchNormBackward(x, gamma, cache, dy, dx.tensor(), dgamma.tensor(), dbeta.tensor());
  for (auto* g : {&y, &mean, &invstd, &rm, &rv, &dx, &dgamma, &dbeta}) {
    EXPECT_EQ(g->DamagedGuards(), 0) << "batchnorm";
  }

  // Max-pool: y and the argmax (an int32 view of a guarded float allocation).
  GuardedTensor py(p, d), arg_storage(p, d), pdx(s, d);
  Buffer arg = Buffer::View(d, arg_storage.tensor().data(), p.numel() * sizeof(int32_t));
  MaxPool2x2Forward(x, py.tensor(), arg);
  MaxPool2x2Backward(py.tensor(), arg, pdx.tensor());
  for (auto* g : {&py, &arg_storage, &pdx}) EXPECT_EQ(g->DamagedGuards(), 0) << "maxpool";

  GuardedTensor uy(u, d), udx(s, d);
  UpsampleNearest2xForward(x, uy.tensor());
  UpsampleNearest2xBackward(uy.tensor(), udx.tensor());
  for (auto* g : {&uy, &udx}) EXPECT_EQ(g->DamagedGuards(), 0) << "upsample";

  const Shape sb{3, 5, 7, 2}, sc{3, 5, 7, 5};
  const Tensor b = Tensor::FromVector(sb, RandomFloats(sb.numel(), 3), d);
  GuardedTensor cy(sc, d), da(s, d), db(sb, d);
  ConcatChannelsForward(x, b, cy.tensor());
  ConcatChannelsBackward(cy.tensor(), da.tensor(), db.tensor());
  for (auto* g : {&cy, &da, &db}) EXPECT_EQ(g->DamagedGuards(), 0) << "concat";

  const Shape l{3, 5, 7, 1};
  const Tensor pred = Tensor::FromVector(l, RandomFloats(l.numel(), 4, 0, 1), d);
  const Tensor target = Tensor::FromVector(l, RandomFloats(l.numel(), 5, 0, 1), d);
  const Tensor w = LossRowWeights(5, 7, d);
  GuardedTensor dmse(l, d), dkld(l, d);
  SphereMseLoss(pred, target, w, &dmse.tensor());
  SphereKldLoss(pred, target, w, &dkld.tensor());
  for (auto* g : {&dmse, &dkld}) EXPECT_EQ(g->DamagedGuards(), 0) << "loss";
}

}  // namespace sal360::nn

#endif  // SAL360_TESTS_NN_GUARDED_OPS_H_

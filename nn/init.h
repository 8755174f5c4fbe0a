// PyTorch's default initialisation, from a seeded random generator whose output and
// serialised state are identical on every platform and compiler.
//
// Rng is the 64-bit Mersenne Twister (the std::mt19937_64 sequence: same seeding and
// output, verified against the standard library in tests) implemented here so that its
// state can be written and read in a fixed text format. Uniform() draws a 53-bit double
// by hand — (next() >> 11) · 2^-53 — because std::uniform_real_distribution differs
// between standard libraries.
//
// Draw order: tensors are filled in their storage order (for conv weights that is the
// internal (9,1,Cin,Cout) layout of nn/ops/spherical_conv.h), on the host, then copied
// to the tensor's device.
#ifndef SAL360_NN_INIT_H_
#define SAL360_NN_INIT_H_

#include <cstdint>
#include <string>

#include "nn/tensor.h"

namespace sal360::nn {

class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t NextU64();  // the mt19937_64 output sequence
  double Uniform();    // [0, 1), multiples of 2^-53
  // "sal360-rng mt19937_64 v1 <index> <312 hex words>". Deserialize accepts exactly
  // that format and returns false (leaving the state unchanged) on anything else.
  std::string Serialize() const;
  bool Deserialize(const std::string& text);

  static constexpr int kStateWords = 312;

 private:
  void Twist();
  uint64_t state_[kStateWords];
  int index_ = kStateWords;
};

// Conv weights: kaiming_uniform_(a = √5) = U(−1/√fan_in, 1/√fan_in), since
// gain = sqrt(2/(1 + a²)) = sqrt(1/3) and bound = gain·sqrt(3/fan_in). fan_in = 9·Cin.
void InitConvKaimingUniform(Tensor& w, int fan_in, Rng& rng);
// t[i] = −bound + 2·bound·u (in double, rounded to float). Conv bias: bound = 1/√fan_in.
void InitUniform(Tensor& t, float bound, Rng& rng);
// BatchNorm weight 1, bias 0 (PyTorch's reset_parameters).
void InitBatchNormAffine(Tensor& gamma, Tensor& beta);

}  // namespace sal360::nn

#endif  // SAL360_NN_INIT_H_

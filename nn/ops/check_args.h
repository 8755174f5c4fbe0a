// Argument checks shared by the ops. A mismatch is a programming error inside the
// library (callers validate user input), so it aborts with a located message.
#ifndef SAL360_NN_OPS_CHECK_ARGS_H_
#define SAL360_NN_OPS_CHECK_ARGS_H_

#include <cstdio>
#include <cstdlib>

#include "nn/tensor.h"

#define SAL_NN_CHECK(cond, ...)                                               \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                      \
      std::fprintf(stderr, "\n");                                             \
      std::abort();                                                           \
    }                                                                         \
  } while (0)

namespace sal360::nn {

inline void CheckSameShapeAndDevice(const Tensor& a, const Tensor& b, const char* op) {
  SAL_NN_CHECK(a.shape() == b.shape(), "%s: shapes %s vs %s", op, a.shape().ToString().c_str(),
               b.shape().ToString().c_str());
  SAL_NN_CHECK(a.device() == b.device(), "%s: tensors on different devices", op);
}

}  // namespace sal360::nn

#endif  // SAL360_NN_OPS_CHECK_ARGS_H_

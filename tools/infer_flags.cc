#include "absl/flags/flag.h"
#include "tools/flags.h"

// At global scope, as absl wants its flags.
SAL360_INFER_OPTIONS(SAL360_OPTION_DEFINE_FLAG)

namespace sal360::tools {

infer::InferConfig InferConfigFromFlags() {
  infer::InferConfig config;
  SAL360_INFER_OPTIONS(SAL360_OPTION_READ_FLAG)
  return config;
}

}  // namespace sal360::tools

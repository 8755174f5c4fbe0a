#include "absl/flags/flag.h"
#include "tools/flags.h"

// At global scope, as absl wants its flags.
SAL360_DATASET_OPTIONS(SAL360_OPTION_DEFINE_FLAG)

namespace sal360::tools {

data::DataConfig DataConfigFromFlags() {
  data::DataConfig config;
  ReadTemporalFlags(config);
  SAL360_DATASET_OPTIONS(SAL360_OPTION_READ_FLAG)
  return config;
}

}  // namespace sal360::tools

#include "absl/flags/flag.h"
#include "tools/flags.h"

// At global scope, as absl wants its flags.
SAL360_TEMPORAL_OPTIONS(SAL360_OPTION_DEFINE_FLAG)

namespace sal360::tools {

void ReadTemporalFlags(data::TemporalConfig& config) { SAL360_TEMPORAL_OPTIONS(SAL360_OPTION_READ_FLAG) }

}  // namespace sal360::tools

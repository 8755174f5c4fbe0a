#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "tools/flags.h"

namespace sal360::tools {

void SetToolUsage(const char* message) {
  absl::SetProgramUsageMessage(message);
  // --help lists the flags of every tools/ file the binary links (its own and the
  // shared groups of tools/flags.h), not only those of the binary's main file.
  absl::FlagsUsageConfig config;
  auto ours = [](absl::string_view path) { return absl::StrContains(path, "tools/"); };
  config.contains_help_flags = ours;
  config.contains_helpshort_flags = ours;
  absl::SetFlagsUsageConfig(config);
}

}  // namespace sal360::tools

#include <cstdio>
#include <cstdlib>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
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

std::vector<char*> ParseCommandLine(int argc, char** argv) {
  std::string program = argc > 0 ? argv[0] : "tool";
  program = program.substr(program.find_last_of('/') + 1);
  auto usage = [&](const std::string& what) {
    std::fprintf(stderr, "%s: %s (see --help)\n", program.c_str(), what.c_str());
    std::exit(2);
  };
  // Absl reports a bad flag and exits 1; bad usage exits 2 in every sal360 tool, so the
  // arguments are checked first with the flags' own parsers (the values are set again,
  // identically, by absl::ParseCommandLine).
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") break;
    if (a.size() < 2 || a[0] != '-') continue;  // a positional argument
    const std::string body = a.substr(a[1] == '-' ? 2 : 1);
    const size_t eq = body.find('=');
    const std::string name = body.substr(0, eq);
    // Absl's built-in flags are absl's to handle (the help flags are not in the registry).
    static const std::set<std::string> kBoolBuiltins = {"help", "helpfull", "helpshort", "helppackage",
                                                        "version", "only_check_args"};
    static const std::set<std::string> kValueBuiltins = {"helpon", "helpmatch", "flagfile", "fromenv",
                                                         "tryfromenv", "undefok"};
    if (kBoolBuiltins.count(name) > 0) continue;
    if (kValueBuiltins.count(name) > 0) {
      if (eq == std::string::npos) ++i;
      continue;
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && name.rfind("no", 0) == 0) {
      absl::CommandLineFlag* positive = absl::FindCommandLineFlag(name.substr(2));
      if (positive != nullptr && positive->IsOfType<bool>()) {
        if (eq != std::string::npos) usage("--" + name + " takes no value");
        continue;
      }
    }
    if (flag == nullptr) usage("unknown flag '" + a.substr(0, a.find('=')) + "'");
    if (flag->IsRetired()) continue;
    std::string value;
    if (eq != std::string::npos) {
      value = body.substr(eq + 1);
    } else if (flag->IsOfType<bool>()) {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      usage("--" + name + " needs a value");
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) usage("--" + name + "=" + value + ": " + error);
  }
  return absl::ParseCommandLine(argc, argv);
}

int GuardedMain(int (*main)(int, char**), int argc, char** argv) {
  try {
    return main(argc, argv);
  } catch (const std::bad_alloc&) {
    std::string program = argc > 0 ? argv[0] : "tool";
    program = program.substr(program.find_last_of('/') + 1);
    std::fprintf(stderr,
                 "%s: error: out of memory (an allocation failed); use a smaller size or batch, or free memory\n",
                 program.c_str());
    return 1;
  }
}

}  // namespace sal360::tools

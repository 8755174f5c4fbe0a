// The command-line flags of the shared option lists, defined once each (the rows live
// with the libraries: data/source.h, infer/model.h). A tool links the groups it takes:
//   //tools:temporal_flags  --prev_interval --first_frames           (train, test, predict, check_data)
//   //tools:data_flags      --data --split ... --gt --gaze_sigma     (train, test, check_data)
//   //tools:infer_flags     --checkpoint --device --table_mode ...   (test, predict)
//   //tools:metric_flags    --sphere_weights --kld --metric_seed     (test, eval)
#ifndef SAL360_TOOLS_FLAGS_H_
#define SAL360_TOOLS_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "data/metrics.h"
#include "data/source.h"
#include "infer/model.h"

namespace sal360::tools {

// Sets the usage message and makes --help list the shared flags too (every binary that
// links a group calls it instead of absl::SetProgramUsageMessage).
void SetToolUsage(const char* message);
// absl::ParseCommandLine, except that bad usage (an unknown flag, a bad value, a missing
// value) prints "TOOL: <problem> (see --help)" and exits 2, as every tool's other usage
// errors do (absl itself exits 1). Returns the positional arguments as absl does.
std::vector<char*> ParseCommandLine(int argc, char** argv);
// Runs a tool's main; an allocation that fails anywhere (std::bad_alloc) becomes
// "TOOL: error: out of memory ..." and exit 1 instead of an abort.
int GuardedMain(int (*main)(int, char**), int argc, char** argv);

// //tools:temporal_flags
void ReadTemporalFlags(data::TemporalConfig& config);
// //tools:data_flags (dataset and temporal flags)
data::DataConfig DataConfigFromFlags();
// //tools:infer_flags
infer::InferConfig InferConfigFromFlags();
// //tools:metric_flags: the conventions of the metrics (data/metrics.h MetricOptions).
absl::Status ReadMetricFlags(data::MetricOptions& options);

}  // namespace sal360::tools

#endif  // SAL360_TOOLS_FLAGS_H_

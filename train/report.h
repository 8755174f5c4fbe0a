// The training run's report: RUN/report.html, a self-contained page (no scripts, no
// external files) rendered from the run's own logs (config.json and log.jsonl), so it
// is the same whether the run finished, was stopped or was resumed. It shows the
// summary (steps, wall time, throughput, the best epoch against the baselines), the
// training-loss curve, validation CC per epoch against the baselines, the epoch table,
// the configuration, and the command that evaluates the checkpoint.
#ifndef SAL360_TRAIN_REPORT_H_
#define SAL360_TRAIN_REPORT_H_

#include <string>

#include "absl/status/status.h"

namespace sal360::train {

// Renders run_dir/report.html (written atomically) from run_dir/config.json and
// run_dir/log.jsonl. Errors name the file that could not be read or written.
absl::Status WriteTrainReport(const std::string& run_dir);

}  // namespace sal360::train

#endif  // SAL360_TRAIN_REPORT_H_

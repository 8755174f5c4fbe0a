#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "tools/flags.h"

// At global scope, as absl wants its flags.
ABSL_FLAG(std::string, sphere_weights, "area",
          "Row weights of the _sphere metrics: area (sin((i+.5)pi/H), exact band areas) | salient360 "
          "(sin(linspace(0,pi,H)), applied before SIM's min-max, as the Salient360! toolbox)");
ABSL_FLAG(std::string, kld, "gt_pred", "KL direction: gt_pred (KL(gt||pred), MIT) | pred_gt | symmetric (mean)");
ABSL_FLAG(uint64_t, metric_seed, 0, "Seed of AUC-Borji's and sAUC's random negatives (100 splits, step 0.1)");

namespace sal360::tools {

absl::Status ReadMetricFlags(data::MetricOptions& options) {
  if (!data::ParseSphereWeighting(absl::GetFlag(FLAGS_sphere_weights), &options.sphere_weights)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--sphere_weights must be area or salient360, not '", absl::GetFlag(FLAGS_sphere_weights), "'"));
  }
  if (!data::ParseKldDirection(absl::GetFlag(FLAGS_kld), &options.kld)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--kld must be gt_pred, pred_gt or symmetric, not '", absl::GetFlag(FLAGS_kld), "'"));
  }
  options.seed = absl::GetFlag(FLAGS_metric_seed);
  return absl::OkStatus();
}

}  // namespace sal360::tools

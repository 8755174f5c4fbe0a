// Table generation benchmark (not a test): time to build the gather tables (and the
// inverse tables the conv's backward uses) of a 4-level pyramid, minimum over --reps,
// on one core.
//
//   bazel run -c opt //tools:bench_tables
//   bazel run -c opt //tools:bench_tables -- --height=960 --width=1920
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "sphere/tables.h"

ABSL_FLAG(int, height, 240, "Rows of the finest level");
ABSL_FLAG(int, width, 480, "Columns of the finest level");
ABSL_FLAG(int, levels, 4, "Pyramid levels");
ABSL_FLAG(int, reps, 5, "Repetitions (the minimum is reported)");

// CPU time of this process in ms: the single-threaded generator's cost even when other
// processes share the machine (wall time is printed too).
double CpuMs() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace sal360::sphere;
  const int h = absl::GetFlag(FLAGS_height), w = absl::GetFlag(FLAGS_width);
  const int levels = absl::GetFlag(FLAGS_levels), reps = absl::GetFlag(FLAGS_reps);
  std::printf("pyramid %dx%d, %d levels, min of %d reps (ms)\n", h, w, levels, reps);
  std::printf("%-10s %-14s %12s %12s %12s\n", "mode", "convention", "gather cpu", "inverse cpu", "gather wall");
  for (TableMode mode : {TableMode::kNearest, TableMode::kBilinear}) {
    for (Convention conv : {Convention::kPixelCentre, Convention::kSeed}) {
      double best_g = 1e30, best_i = 1e30, best_w = 1e30;
      for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = CpuMs();
        size_t sink = 0;
        std::vector<GatherTable> tables;
        for (int l = 0; l < levels; ++l) {
          TableSpec s;
          s.height = h >> l;
          s.width = w >> l;
          s.mode = mode;
          s.convention = conv;
          tables.push_back(BuildGatherTable(s));
        }
        const auto t1 = std::chrono::steady_clock::now();
        const double c1 = CpuMs();
        for (const GatherTable& g : tables) sink += BuildInverseTable(g).entries.size();
        const double c2 = CpuMs();
        best_w = std::min(best_w, std::chrono::duration<double, std::milli>(t1 - t0).count());
        best_g = std::min(best_g, c1 - c0);
        best_i = std::min(best_i, c2 - c1);
        if (sink == 0) std::printf("?");
      }
      std::printf("%-10s %-14s %12.2f %12.2f %12.2f\n", ModeName(mode), ConventionName(conv), best_g, best_i,
                  best_w);
    }
  }
  return 0;
}

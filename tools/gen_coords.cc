// gen_coords: writes the spherical-cap neighbour tables of an ERP pyramid as NumPy
// files (one per level) plus tables.json, for inspection or for train/test
// --tables_dir. See sphere/tables.h for the geometry and the file layout.
//
//   bazel run //tools:gen_coords -- --height=240 --width=480 --levels=4 --out=/tmp/tables
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "tools/flags.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "data/published_tables.h"
#include "nlohmann/json.hpp"
#include "sphere/tables.h"
#include "util/file.h"

ABSL_FLAG(int, height, 240, "Rows of the finest level (H)");
ABSL_FLAG(int, width, 480, "Columns of the finest level (W)");
ABSL_FLAG(int, levels, 4, "Pyramid levels; each halves H and W");
ABSL_FLAG(std::string, out, "", "Output directory (created if missing); required");
ABSL_FLAG(std::string, mode, "nearest",
          "nearest: HxW.npy, int32 (x=column, y=row); bilinear: HxW_bilinear.npy, float32 fractional");
ABSL_FLAG(std::string, convention, "pixel_centre",
          "pixel_centre: pixel (i,j) centred at ((i+.5)pi/H, (j+.5)2pi/W); seed: on the grid lines, "
          "as the published tables");
ABSL_FLAG(double, radius, 1.0, "Cap radius in row steps (pi/H radians)");
ABSL_FLAG(std::string, from_pt, "",
          "Convert the published tables DIR/HxW.pt (torch.save, (H, W, 2, 8) int64) of every level into "
          "--out in our format (nearest; tables.json says convention seed) instead of generating");
ABSL_FLAG(std::string, compare_pt, "",
          "Compare the published tables DIR/HxW.pt with ours (seed convention, nearest) per level: "
          "one JSON line each on stdout; no --out needed");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Writes spherical-cap neighbour tables (one .npy per pyramid level) and tables.json.\n"
      "  gen_coords --height=240 --width=480 --levels=4 --out=DIR [--mode=nearest|bilinear]\n"
      "             [--convention=pixel_centre|seed] [--radius=1]\n"
      "  gen_coords --from_pt=SUPPORT_DIR --out=DIR      (published HxW.pt tables -> ours)\n"
      "  gen_coords --compare_pt=SUPPORT_DIR             (how many entries equal ours, per level)");
  ::sal360::tools::ParseCommandLine(argc, argv);
  using namespace sal360::sphere;
  const std::string out = sal360::util::UserPath(absl::GetFlag(FLAGS_out));
  if (out.empty() && absl::GetFlag(FLAGS_compare_pt).empty()) {
    std::fprintf(stderr, "gen_coords: --out=DIR is required\n");
    return 2;
  }
  TableSpec spec;
  spec.height = absl::GetFlag(FLAGS_height);
  spec.width = absl::GetFlag(FLAGS_width);
  spec.radius_rows = absl::GetFlag(FLAGS_radius);
  const std::string mode = absl::GetFlag(FLAGS_mode), conv = absl::GetFlag(FLAGS_convention);
  if (mode != "nearest" && mode != "bilinear") {
    std::fprintf(stderr, "gen_coords: --mode must be nearest or bilinear, not '%s'\n", mode.c_str());
    return 2;
  }
  if (conv != "pixel_centre" && conv != "seed") {
    std::fprintf(stderr, "gen_coords: --convention must be pixel_centre or seed, not '%s'\n", conv.c_str());
    return 2;
  }
  spec.mode = mode == "bilinear" ? TableMode::kBilinear : TableMode::kNearest;
  spec.convention = conv == "seed" ? Convention::kSeed : Convention::kPixelCentre;
  if (absl::Status st = ValidateSpec(spec); !st.ok()) {
    std::fprintf(stderr, "gen_coords: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  const int levels = absl::GetFlag(FLAGS_levels);
  if (const std::string dir = sal360::util::UserPath(absl::GetFlag(FLAGS_compare_pt)); !dir.empty()) {
    TableSpec seed = spec;
    seed.convention = Convention::kSeed;
    absl::StatusOr<std::vector<sal360::data::TableComparison>> cmp =
        sal360::data::ComparePublishedTables(dir, seed, levels);
    if (!cmp.ok()) {
      std::fprintf(stderr, "gen_coords: %s\n", std::string(cmp.status().message()).c_str());
      return 1;
    }
    for (const sal360::data::TableComparison& c : *cmp) {
      nlohmann::ordered_json j = {{"level", absl::StrCat(c.height, "x", c.width)},
                                  {"entries", c.entries},
                                  {"equal", c.equal},
                                  {"equal_fraction", static_cast<double>(c.equal) / c.entries},
                                  {"equal_column", c.equal_column},
                                  {"equal_row", c.equal_row},
                                  {"off_by_one_column", c.off_by_one_column},
                                  {"first_difference", c.first_difference}};
      std::printf("%s\n", j.dump().c_str());
    }
    return 0;
  }
  if (const std::string dir = sal360::util::UserPath(absl::GetFlag(FLAGS_from_pt)); !dir.empty()) {
    spec.mode = TableMode::kNearest;
    spec.convention = Convention::kSeed;
    absl::Status st = WriteTablesWith(out, spec, levels, [&](const TableSpec& s) -> absl::StatusOr<sal360::util::NpyArray> {
      absl::StatusOr<std::vector<int32_t>> t = sal360::data::ReadPublishedTable(
          dir + "/" + sal360::data::PublishedTableFileName(s.height, s.width), s.height, s.width);
      if (!t.ok()) return t.status();
      return sal360::util::NpyArray::FromInt32({s.height, s.width, kNumNeighbours, 2}, *t);
    });
    if (!st.ok()) {
      std::fprintf(stderr, "gen_coords: %s\n", std::string(st.message()).c_str());
      return 1;
    }
  } else if (absl::Status st = WriteTables(out, spec, levels); !st.ok()) {
    std::fprintf(stderr, "gen_coords: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  for (int l = 0; l < levels; ++l) {
    std::printf("%s/%s\n", out.c_str(), TableFileName(spec.height >> l, spec.width >> l, spec.mode).c_str());
  }
  std::printf("%s/tables.json\n", out.c_str());
  return 0;
}

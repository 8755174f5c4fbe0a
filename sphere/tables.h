// Spherical-cap neighbour tables for equirectangular (ERP) grids of any size, and the
// per-row solid angles. The heart of the spherical convolution (nn/ops/spherical_conv.h).
//
// Geometry (the specification; tests/sphere/tables_test.cc checks each clause):
//   - Grid of H rows x W columns. With the pixel-centre convention (default) pixel
//     (i, j) has its centre at colatitude theta = (i + 0.5)·pi/H and longitude
//     phi = (j + 0.5)·2·pi/W; with the seed convention (what the published tables used)
//     at theta = i·pi/H, phi = j·2·pi/W. Row 0 is the north side, columns grow eastward,
//     longitude wraps.
//   - At the centre p, e_down is the unit tangent of increasing theta and e_right of
//     increasing phi. Neighbour k lies on the boundary of the spherical cap of angular
//     radius r around p, at azimuth alpha_k = k·45° measured from e_down towards e_right:
//       q_k = cos(r)·p + sin(r)·(cos(alpha_k)·e_down + sin(alpha_k)·e_right).
//     (At a pole, where phi is undefined, e_down/e_right are those of the meridian phi.)
//   - Order k = 0..7 and place (row, col) in the 3x3 kernel:
//       0 down (2,1), 1 down-right (2,2), 2 right (1,2), 3 up-right (0,2),
//       4 up (0,1), 5 up-left (0,0), 6 left (1,0), 7 down-left (2,0); the centre is (1,1).
//   - r = radius_rows·pi/H (default one row step). Near the equator this is the
//     ordinary 3x3 neighbourhood; a cap over a pole lands on the far meridian.
//   - q_k -> (theta, phi) -> fractional pixel coordinates
//       pixel centre: y = theta·H/pi − 0.5,  x = phi·W/(2·pi) − 0.5
//       seed:         y = theta·H/pi,        x = phi·W/(2·pi)
//     then x is wrapped into [0, W) and y clamped to [0, H−1].
//   - kNearest rounds (x to the nearest column modulo W, y to the nearest row);
//     kBilinear samples the 4 surrounding pixels with bilinear weights (the right
//     column wraps across the seam; clamped rows repeat).
//   Because the construction commutes with rotation about the polar axis, every pixel
//   of a row has the same neighbour offsets: the generator computes 8 trig evaluations
//   per row and shifts them along the row.
//
// GatherTable layout (what the conv consumes): for output pixel p = i·W + j, kernel
// position tap = row·3 + col (0..8, centre 4), and bilinear corner t (0..taps−1):
//   entry e = (p·9 + tap)·taps + t,  src[e] = input pixel index,  weight[e].
// taps = 1 (nearest, weight 1) or 4 (bilinear: (y0,x0), (y0,x1), (y1,x0), (y1,x1)).
// The centre tap reads the pixel itself with weight 1 (bilinear: corners 1..3 weight 0).
//
// InverseTable: for each input pixel q, the entries e with src[e] == q, ascending, in
// CSR form (offsets has H·W + 1 items). The conv's backward gathers through it, so the
// input gradient is deterministic (no atomics).
#ifndef SAL360_SPHERE_TABLES_H_
#define SAL360_SPHERE_TABLES_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "util/npy.h"
#include "sphere/erp.h"

namespace sal360::sphere {

enum class TableMode { kNearest, kBilinear };
enum class Convention { kPixelCentre, kSeed };

// Generator version recorded in tables.json and checked when loading tables.
inline constexpr int kTableVersion = 1;
inline constexpr int kNumNeighbours = 8;
// Kernel tap (row·3 + col) of neighbour k.
inline constexpr std::array<int, kNumNeighbours> kNeighbourTap = {7, 8, 5, 2, 1, 0, 3, 6};
inline constexpr int kCentreTap = 4;
inline constexpr int kMaxSide = 1 << 15;

struct TableSpec {
  int height = 0;
  int width = 0;
  TableMode mode = TableMode::kNearest;
  Convention convention = Convention::kPixelCentre;
  double radius_rows = 1.0;  // cap radius in row steps (pi/H)

  double radius() const;  // radians
  bool operator==(const TableSpec& o) const {
    return height == o.height && width == o.width && mode == o.mode &&
           convention == o.convention && radius_rows == o.radius_rows;
  }
  std::string ToString() const;  // "240x480 nearest pixel_centre r=1"
};

// Checks sizes (1..kMaxSide, H·W·9·taps < 2^31) and the radius (0 < r_rows <= H, i.e. r <= pi).
absl::Status ValidateSpec(const TableSpec& spec);

// Fractional sample coordinates after wrap/clamp, shape (H, W, 8, 2) as (x, y), in
// neighbour order k. Nearest tables are these rounded.
std::vector<double> NeighbourCoords(const TableSpec& spec);

// The exact point q_k on the sphere (colatitude, longitude in [0, 2·pi)) before any
// conversion to pixels, for tests and tools.
struct SpherePoint {
  double theta = 0, phi = 0;
};
SpherePoint NeighbourPoint(const TableSpec& spec, int i, int j, int k);
SpherePoint PixelCentre(const TableSpec& spec, int i, int j);

struct GatherTable {
  TableSpec spec;
  int taps = 1;
  std::vector<int32_t> src;
  std::vector<float> weight;
};

struct InverseTable {
  std::vector<int32_t> offsets;  // H·W + 1
  std::vector<int32_t> entries;  // gather-table entry indices
};

// Builds the table; aborts with a message on an invalid spec (check ValidateSpec first
// with user input).
GatherTable BuildGatherTable(const TableSpec& spec);
InverseTable BuildInverseTable(const GatherTable& table);
// Built once per spec per process (thread-safe); the reference stays valid.
const GatherTable& CachedGatherTable(const TableSpec& spec);
const InverseTable& CachedInverseTable(const TableSpec& spec);

// Gather table from sample coordinates (H, W, 8, 2) as written by gen_coords.
GatherTable GatherTableFromCoords(const TableSpec& spec, const std::vector<double>& coords);

// Row solid angles and the published loss weights: sphere/erp.h (included above).

// gen_coords files: HxW.npy (int32) or HxW_bilinear.npy (float32), shape (H, W, 8, 2),
// last axis (x, y); tables.json beside them.
std::string TableFileName(int height, int width, TableMode mode);
// Writes levels 0..levels-1 (each halving H and W) and tables.json into dir.
absl::Status WriteTables(const std::string& dir, const TableSpec& base, int levels);
// The same files with each level's (H, W, 8, 2) array from `level_table` (e.g. tables
// converted from another source); tables.json records base's mode and convention.
absl::Status WriteTablesWith(const std::string& dir, const TableSpec& base, int levels,
                             const std::function<absl::StatusOr<util::NpyArray>(const TableSpec&)>& level_table);
// The nearest table as gen_coords writes it: (H, W, 8, 2) int32 (x = column, y = row).
std::vector<int32_t> NearestTableCoords(const TableSpec& spec);
// A gather table from file coordinates (H, W, 8, 2), every one checked to lie on the
// grid (errors name `path`, the pixel and the neighbour).
absl::StatusOr<GatherTable> GatherTableFromFileCoords(const TableSpec& spec, const std::vector<double>& coords,
                                                      const std::string& path);
// Puts a table into the process cache under `spec` (what CacheTablesFromDir does per level).
void CacheGatherTable(const TableSpec& spec, GatherTable table);
// Loads the table for `spec` from dir, validating tables.json (version, mode,
// convention, radius), the file's dtype, shape and value ranges. Errors name the file.
absl::StatusOr<GatherTable> LoadGatherTable(const std::string& dir, const TableSpec& spec);
// Loads levels 0..levels-1 of `base` from dir into the process cache, so that
// CachedGatherTable returns them instead of generating (train/test --tables_dir).
absl::Status CacheTablesFromDir(const std::string& dir, const TableSpec& base, int levels);

const char* ModeName(TableMode mode);          // "nearest" | "bilinear"
const char* ConventionName(Convention c);      // "pixel_centre" | "seed"

}  // namespace sal360::sphere

#endif  // SAL360_SPHERE_TABLES_H_

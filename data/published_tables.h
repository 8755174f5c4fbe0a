// The published method's neighbour tables: support/HxW.pt, torch.save of an int64
// tensor (H, W, 2, 8) with coor[i, j, 0, k] = column and coor[i, j, 1, k] = row of
// neighbour k of pixel (i, j), k in our order (down, down-right, right, up-right, up,
// up-left, left, down-left; docs/sphere.md). Read through data/torch_file.h (no Python).
#ifndef SAL360_DATA_PUBLISHED_TABLES_H_
#define SAL360_DATA_PUBLISHED_TABLES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sphere/tables.h"

namespace sal360::data {

// "240x480.pt"
std::string PublishedTableFileName(int height, int width);
// The table as (H, W, 8, 2) int32 (x, y), our layout; errors name the file (not a torch
// file, not an integer (H, W, 2, 8) tensor, an entry off the grid).
absl::StatusOr<std::vector<int32_t>> ReadPublishedTable(const std::string& path, int height, int width);
// Whether dir holds HxW.pt for base's size.
bool HasPublishedTables(const std::string& dir, int height, int width);
// Levels 0..levels-1 of `base` (mode nearest) from dir/HxW.pt into the table cache.
absl::Status CachePublishedTables(const std::string& dir, const sphere::TableSpec& base, int levels);

// How many table entries (pixel, neighbour) of the published tables equal ours for the
// same size and spec (seed convention, nearest), per level.
struct TableComparison {
  int height = 0, width = 0;
  int64_t entries = 0;        // H·W·8
  int64_t equal = 0;          // both column and row equal
  int64_t equal_column = 0, equal_row = 0;
  int64_t off_by_one_column = 0;  // column differs by ±1 (mod W)
  std::string first_difference;   // "pixel (i, j) neighbour k: published (x, y), ours (x, y)"
};
absl::StatusOr<std::vector<TableComparison>> ComparePublishedTables(const std::string& dir,
                                                                    const sphere::TableSpec& base, int levels);

}  // namespace sal360::data

#endif  // SAL360_DATA_PUBLISHED_TABLES_H_

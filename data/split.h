// Train / validation / test splits of a dataset's videos.
//
// --split=seed reproduces the published split: the training videos are
//   random.Random(367643).sample(sorted(video_names), k=80)
// and the remaining videos are the test set. PythonRandom below re-implements the parts
// of CPython's random module that this needs, bit for bit:
//   - seeding from a non-negative int: MT19937 init_by_array with the int's 32-bit words,
//     least significant first (key [0] for 0; negative seeds use the absolute value);
//   - genrand_uint32 (MT19937 with tempering);
//   - getrandbits(k): 32-bit words from least to most significant; the last word keeps
//     the top k mod 32 bits of its output (r >> (32 − k));
//   - _randbelow(n) = _randbelow_with_getrandbits: k = n.bit_length(), draw getrandbits(k)
//     until < n;
//   - sample(population, k): setsize = 21, plus 4**ceil(log(3k, 4)) when k > 5; if
//     n ≤ setsize the pool strategy (j = randbelow(n − i), take pool[j], move the last
//     unselected item into the hole), else the set strategy (j = randbelow(n), redraw
//     while already selected). The result is in selection order.
// random() (53-bit float) is included for completeness: (a·2^26 + b) / 2^53 with
// a = genrand >> 5, b = genrand >> 6.
//
// A held-out validation subset of the training videos (--val_videos=N) is chosen with a
// second generator: PythonRandom(val_seed).sample(sorted(train), N); those leave train.
//
// Split files (--split_file=PATH): JSON {"train": [...], "val": [...], "test": [...]};
// "val" may be absent (empty). Unknown keys, non-string entries, duplicates, overlaps
// between lists and names not in the dataset are errors. The same object is what
// check_data prints.
#ifndef SAL360_DATA_SPLIT_H_
#define SAL360_DATA_SPLIT_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sal360::data {

class PythonRandom {
 public:
  // random.Random(seed) for an int seed.
  explicit PythonRandom(int64_t seed);
  // MT19937's own init_genrand(s) (the reference generator's single-int seeding, which
  // CPython does NOT use for ints; for tests against the algorithm's definition).
  static PythonRandom FromInitGenrand(uint32_t s);
  // init_by_array(key) (what CPython does with the int's 32-bit words).
  static PythonRandom FromInitByArray(const std::vector<uint32_t>& key);

  uint32_t GenRandUint32();
  double Random();
  // getrandbits(k) for 0 ≤ k ≤ 64 (CPython allows any k; 64 is all we need).
  uint64_t GetRandBits(int k);
  // _randbelow(n) for n ≥ 1.
  uint64_t RandBelow(uint64_t n);
  // Indices into a population of size n chosen by sample(population, k), in selection
  // order. Requires 0 ≤ k ≤ n.
  std::vector<int64_t> SampleIndices(int64_t n, int64_t k);
  // Whether sample(n, k) takes the pool strategy (else the set strategy).
  static bool SampleUsesPool(int64_t n, int64_t k);

 private:
  PythonRandom() = default;
  void InitGenrand(uint32_t s);
  void InitByArray(const std::vector<uint32_t>& key);
  std::array<uint32_t, 624> mt_{};
  int mti_ = 625;
};

struct Split {
  std::vector<std::string> train, val, test;  // each sorted
};

inline constexpr int64_t kPublishedSplitSeed = 367643;
inline constexpr int kPublishedTrainVideos = 80;
inline constexpr int kPublishedTotalVideos = 104;

struct SeedSplitOptions {
  int64_t seed = kPublishedSplitSeed;
  // Training videos; 0 = the published proportion round(80 · n / 104), which is 80 for
  // the real dataset's 104 videos (the synthetic default of 8 videos gives 6).
  int train_videos = 0;
  int val_videos = 0;  // moved from train to val
  int64_t val_seed = 1;
};

// The split of `videos` (any order; sorted internally, as the published code did).
absl::StatusOr<Split> SeedSplit(const std::vector<std::string>& videos,
                                const SeedSplitOptions& options = {});
// random.Random(seed).sample(sorted(videos), k) in selection order (the raw published call).
std::vector<std::string> PublishedSample(const std::vector<std::string>& videos, int64_t seed,
                                         int k);

// Parses / reads a split file; `known_videos` (if non-empty) must contain every name.
absl::StatusOr<Split> ParseSplitJson(const std::string& json_text, const std::string& name,
                                     const std::vector<std::string>& known_videos = {});
absl::StatusOr<Split> ReadSplitFile(const std::string& path,
                                    const std::vector<std::string>& known_videos = {});
std::string SplitToJson(const Split& split);  // {"train": [...], "val": [...], "test": [...]}
// The split mode of the --split / --split_file flags: "seed" or "file". An empty --split
// means "file" when --split_file is given, else "seed" (so `--split_file=F` alone
// works); --split=seed together with --split_file, --split=file without it, and any
// other value are errors naming the flags (a split file is never silently ignored).
absl::StatusOr<std::string> ResolveSplitMode(const std::string& split,
                                             const std::string& split_file);
absl::Status WriteSplitFile(const std::string& path, const Split& split);

}  // namespace sal360::data

#endif  // SAL360_DATA_SPLIT_H_

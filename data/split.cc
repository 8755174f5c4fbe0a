#include "data/split.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "util/file.h"

namespace sal360::data {

// ---------------------------------------------------------------------------------------
// MT19937 as in CPython's Modules/_randommodule.c (itself the reference mt19937ar.c of
// Matsumoto and Nishimura, 2002).

namespace {
constexpr int kN = 624;
constexpr int kM = 397;
constexpr uint32_t kMatrixA = 0x9908b0dfu;
constexpr uint32_t kUpperMask = 0x80000000u;
constexpr uint32_t kLowerMask = 0x7fffffffu;
}  // namespace

void PythonRandom::InitGenrand(uint32_t s) {
  mt_[0] = s;
  for (mti_ = 1; mti_ < kN; ++mti_) {
    mt_[mti_] = 1812433253u * (mt_[mti_ - 1] ^ (mt_[mti_ - 1] >> 30)) + static_cast<uint32_t>(mti_);
  }
}

void PythonRandom::InitByArray(const std::vector<uint32_t>& key) {
  InitGenrand(19650218u);
  int i = 1, j = 0;
  const int key_length = static_cast<int>(key.size());
  for (int k = std::max(kN, key_length); k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] +
             static_cast<uint32_t>(j);  // non-linear
    ++i;
    ++j;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
    if (j >= key_length) j = 0;
  }
  for (int k = kN - 1; k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) -
             static_cast<uint32_t>(i);  // non-linear
    ++i;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
  }
  mt_[0] = 0x80000000u;  // MSB is 1, assuring a non-zero initial array
  mti_ = kN;
}

PythonRandom::PythonRandom(int64_t seed) {
  // CPython: n = abs(seed); key = n's 32-bit words, least significant first ([0] for 0).
  uint64_t n = seed < 0 ? 0 - static_cast<uint64_t>(seed) : static_cast<uint64_t>(seed);
  std::vector<uint32_t> key;
  if (n == 0) key.push_back(0);
  while (n != 0) {
    key.push_back(static_cast<uint32_t>(n & 0xffffffffu));
    n >>= 32;
  }
  InitByArray(key);
}

PythonRandom PythonRandom::FromInitGenrand(uint32_t s) {
  PythonRandom r;
  r.InitGenrand(s);
  return r;
}

PythonRandom PythonRandom::FromInitByArray(const std::vector<uint32_t>& key) {
  PythonRandom r;
  r.InitByArray(key.empty() ? std::vector<uint32_t>{0} : key);
  return r;
}

uint32_t PythonRandom::GenRandUint32() {
  static const uint32_t mag01[2] = {0x0u, kMatrixA};
  uint32_t y;
  if (mti_ >= kN) {  // generate N words at one time
    int kk;
    for (kk = 0; kk < kN - kM; ++kk) {
      y = (mt_[kk] & kUpperMask) | (mt_[kk + 1] & kLowerMask);
      mt_[kk] = mt_[kk + kM] ^ (y >> 1) ^ mag01[y & 0x1u];
    }
    for (; kk < kN - 1; ++kk) {
      y = (mt_[kk] & kUpperMask) | (mt_[kk + 1] & kLowerMask);
      mt_[kk] = mt_[kk + (kM - kN)] ^ (y >> 1) ^ mag01[y & 0x1u];
    }
    y = (mt_[kN - 1] & kUpperMask) | (mt_[0] & kLowerMask);
    mt_[kN - 1] = mt_[kM - 1] ^ (y >> 1) ^ mag01[y & 0x1u];
    mti_ = 0;
  }
  y = mt_[mti_++];
  // Tempering
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= (y >> 18);
  return y;
}

double PythonRandom::Random() {
  const uint32_t a = GenRandUint32() >> 5, b = GenRandUint32() >> 6;
  return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

uint64_t PythonRandom::GetRandBits(int k) {
  if (k <= 0) return 0;
  if (k > 64) k = 64;  // callers never ask for more (see header)
  if (k <= 32) return GenRandUint32() >> (32 - k);
  // Words from least to most significant; the last keeps its top bits.
  const uint64_t low = GenRandUint32();
  const uint64_t high = GenRandUint32() >> (64 - k);
  return low | (high << 32);
}

uint64_t PythonRandom::RandBelow(uint64_t n) {
  if (n == 0) return 0;
  int k = 0;  // n.bit_length()
  for (uint64_t t = n; t; t >>= 1) ++k;
  uint64_t r = GetRandBits(k);
  while (r >= n) r = GetRandBits(k);
  return r;
}

bool PythonRandom::SampleUsesPool(int64_t n, int64_t k) {
  int64_t setsize = 21;  // size of a small set minus size of an empty list
  if (k > 5) {
    // 4 ** ceil(log(k * 3, 4)), with Python's float log(x, base) = log(x) / log(base).
    const double e = std::ceil(std::log(static_cast<double>(k * 3)) / std::log(4.0));
    setsize += static_cast<int64_t>(std::pow(4.0, e));
  }
  return n <= setsize;
}

std::vector<int64_t> PythonRandom::SampleIndices(int64_t n, int64_t k) {
  std::vector<int64_t> result;
  if (k < 0 || k > n) return result;
  result.reserve(k);
  if (SampleUsesPool(n, k)) {
    std::vector<int64_t> pool(n);
    for (int64_t i = 0; i < n; ++i) pool[i] = i;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t j = static_cast<int64_t>(RandBelow(n - i));
      result.push_back(pool[j]);
      pool[j] = pool[n - i - 1];  // move the non-selected item into the vacancy
    }
  } else {
    std::unordered_set<int64_t> selected;
    for (int64_t i = 0; i < k; ++i) {
      int64_t j = static_cast<int64_t>(RandBelow(n));
      while (selected.count(j)) j = static_cast<int64_t>(RandBelow(n));
      selected.insert(j);
      result.push_back(j);
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------
// Splits

std::vector<std::string> PublishedSample(const std::vector<std::string>& videos, int64_t seed,
                                         int k) {
  std::vector<std::string> sorted = videos;
  std::sort(sorted.begin(), sorted.end());
  PythonRandom rnd(seed);
  std::vector<std::string> out;
  for (int64_t i : rnd.SampleIndices(static_cast<int64_t>(sorted.size()), k)) {
    out.push_back(sorted[i]);
  }
  return out;
}

absl::StatusOr<Split> SeedSplit(const std::vector<std::string>& videos,
                                const SeedSplitOptions& options) {
  std::vector<std::string> sorted = videos;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    return absl::InvalidArgumentError("split: duplicate video names");
  }
  const int n = static_cast<int>(sorted.size());
  if (n < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("split: need at least 2 videos for a train/test split, have ", n));
  }
  int k = options.train_videos;
  if (k <= 0) {
    k = static_cast<int>(
        std::lround(static_cast<double>(kPublishedTrainVideos) * n / kPublishedTotalVideos));
    k = std::clamp(k, 1, n - 1);
  }
  if (k >= n) {
    return absl::InvalidArgumentError(
        absl::StrCat("split: ", k, " training videos requested but the dataset has only ", n,
                     " videos (at least one must remain for the test set)"));
  }
  if (options.val_videos < 0 || options.val_videos >= k) {
    return absl::InvalidArgumentError(absl::StrCat("split: ", options.val_videos,
                                                   " validation videos requested out of ", k,
                                                   " training videos (must be in [0, ", k, "))"));
  }
  Split split;
  split.train = PublishedSample(sorted, options.seed, k);
  std::sort(split.train.begin(), split.train.end());
  std::set<std::string> train_set(split.train.begin(), split.train.end());
  for (const std::string& v : sorted) {
    if (!train_set.count(v)) split.test.push_back(v);
  }
  if (options.val_videos > 0) {
    split.val = PublishedSample(split.train, options.val_seed, options.val_videos);
    std::sort(split.val.begin(), split.val.end());
    std::set<std::string> val_set(split.val.begin(), split.val.end());
    std::vector<std::string> rest;
    for (const std::string& v : split.train) {
      if (!val_set.count(v)) rest.push_back(v);
    }
    split.train = std::move(rest);
  }
  return split;
}

absl::StatusOr<Split> ParseSplitJson(const std::string& json_text, const std::string& name,
                                     const std::vector<std::string>& known_videos) {
  auto err = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", what));
  };
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return err("not valid JSON");
  if (!j.is_object()) return err("expected a JSON object {\"train\": [...], \"test\": [...]}");
  Split split;
  std::set<std::string> seen;
  const std::set<std::string> known(known_videos.begin(), known_videos.end());
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::vector<std::string>* list = nullptr;
    if (it.key() == "train") {
      list = &split.train;
    } else if (it.key() == "val") {
      list = &split.val;
    } else if (it.key() == "test") {
      list = &split.test;
    } else {
      return err(absl::StrCat("unknown key \"", it.key(), "\" (expected train, val, test)"));
    }
    if (!it.value().is_array()) return err(absl::StrCat("\"", it.key(), "\" is not a list"));
    for (const auto& e : it.value()) {
      if (!e.is_string()) {
        return err(absl::StrCat("\"", it.key(), "\" holds a non-string entry ", e.dump()));
      }
      const std::string v = e.get<std::string>();
      if (!seen.insert(v).second) {
        return err(absl::StrCat("video \"", v, "\" is listed twice"));
      }
      if (!known.empty() && !known.count(v)) {
        return err(absl::StrCat("video \"", v, "\" (in \"", it.key(), "\") is not in the dataset"));
      }
      list->push_back(v);
    }
  }
  if (!j.contains("train") || !j.contains("test")) return err("needs both \"train\" and \"test\"");
  if (split.train.empty()) return err("\"train\" is empty");
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.val.begin(), split.val.end());
  std::sort(split.test.begin(), split.test.end());
  return split;
}

absl::StatusOr<Split> ReadSplitFile(const std::string& path,
                                    const std::vector<std::string>& known_videos) {
  auto text = util::ReadFile(path, int64_t{64} << 20);
  if (!text.ok()) return text.status();
  return ParseSplitJson(*text, path, known_videos);
}

std::string SplitToJson(const Split& split) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["train"] = split.train;
  j["val"] = split.val;
  j["test"] = split.test;
  return j.dump();
}

absl::StatusOr<std::string> ResolveSplitMode(const std::string& split,
                                             const std::string& split_file) {
  if (split.empty()) return std::string(split_file.empty() ? "seed" : "file");
  if (split == "seed") {
    if (!split_file.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--split=seed and --split_file=", split_file,
          " contradict each other (give --split_file alone, or --split=file with it)"));
    }
    return split;
  }
  if (split == "file") {
    if (split_file.empty()) return absl::InvalidArgumentError("--split=file needs --split_file=PATH");
    return split;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--split must be seed or file, not '", split, "'"));
}

absl::Status WriteSplitFile(const std::string& path, const Split& split) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["train"] = split.train;
  j["val"] = split.val;
  j["test"] = split.test;
  return util::WriteFileAtomically(path, j.dump(2) + "\n");
}

}  // namespace sal360::data

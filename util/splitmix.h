// SplitMix64 (Steele, Lea, Flood 2014; the seeding generator of xoshiro): a tiny, fixed
// pseudo-random stream, so that everything seeded in sal360 (synthetic data, the loader's
// shuffles, AUC-Borji's negatives, the emulation's thread orders) gives the same numbers
// with every compiler and standard library.
#ifndef SAL360_UTIL_SPLITMIX_H_
#define SAL360_UTIL_SPLITMIX_H_

#include <cstdint>

namespace sal360::util {

// Advances `state` and returns the next 64 random bits.
inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A double in [0, 1) from the top 53 bits.
inline double SplitMixUnit(uint64_t& state) { return static_cast<double>(SplitMix64(state) >> 11) * 0x1.0p-53; }

}  // namespace sal360::util

#endif  // SAL360_UTIL_SPLITMIX_H_

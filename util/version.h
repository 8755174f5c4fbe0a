// The project version, written into every file that leaves the program (checkpoints,
// reports) so that a stale file can be recognised.
#ifndef SAL360_UTIL_VERSION_H_
#define SAL360_UTIL_VERSION_H_

namespace sal360 {

inline constexpr char kVersion[] = "0.1.0";

}  // namespace sal360

#endif  // SAL360_UTIL_VERSION_H_

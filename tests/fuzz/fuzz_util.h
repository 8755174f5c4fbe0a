// Helpers of the fuzz targets.
#ifndef SAL360_TESTS_FUZZ_FUZZ_UTIL_H_
#define SAL360_TESTS_FUZZ_FUZZ_UTIL_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace sal360::fuzz {

inline std::string Bytes(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// A private directory for targets that need files (tables, videos): under TEST_TMPDIR
// or TMPDIR, made once per process.
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    const char* base = std::getenv("TEST_TMPDIR");
    if (base == nullptr) base = std::getenv("TMPDIR");
    std::string templ = std::string(base ? base : "/tmp") + "/sal360_fuzz_XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) std::abort();
    return templ;
  }();
  return dir;
}

inline void WriteOrDie(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
  std::fclose(f);
}

}  // namespace sal360::fuzz

#endif  // SAL360_TESTS_FUZZ_FUZZ_UTIL_H_

// A fresh copy of a small generated dataset (data/synthetic.h) for tests that modify it:
// the dataset of `options` is generated once per test process under TEST_TMPDIR and
// copied to TEST_TMPDIR/<name> (replacing what was there) on each call.
#ifndef SAL360_TESTS_TESTING_SYNTHETIC_COPY_H_
#define SAL360_TESTS_TESTING_SYNTHETIC_COPY_H_

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "data/synthetic.h"
#include "gtest/gtest.h"

namespace sal360::testing {

inline std::string TestTmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d != nullptr ? d : "/tmp";
}

inline std::string SyntheticCopy(const std::string& name, const data::SyntheticOptions& options) {
  static std::map<std::string, std::string>* bases = new std::map<std::string, std::string>();
  const std::string key = absl::StrCat(options.seed, "_", options.videos, "x", options.frames, "_", options.height,
                                       "x", options.width, "_v", options.viewers, "_g", options.gt_cache);
  auto it = bases->find(key);
  if (it == bases->end()) {
    const std::string base = TestTmpDir() + "/base_" + key;
    std::filesystem::remove_all(base);
    auto st = data::MakeSyntheticDataset(base, options);
    EXPECT_TRUE(st.ok()) << st.status();
    it = bases->emplace(key, base).first;
  }
  const std::string dst = TestTmpDir() + "/" + name;
  std::filesystem::remove_all(dst);
  std::filesystem::copy(it->second, dst, std::filesystem::copy_options::recursive);
  return dst;
}

}  // namespace sal360::testing

#endif  // SAL360_TESTS_TESTING_SYNTHETIC_COPY_H_

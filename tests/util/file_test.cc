#include "util/file.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace sal360::util {
namespace {

std::string TempDir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t ? t : "/tmp";
}

int CountEntries(const std::string& dir) {
  int n = 0;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) {
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++n;
  }
  closedir(d);
  return n;
}

TEST(File, AtomicWriteThenRead) {
  const std::string dir = TempDir() + "/atomic";
  ASSERT_TRUE(MakeDirs(dir + "/a/b").ok());
  const std::string path = dir + "/a/b/x.bin";
  std::string payload(100000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(WriteFileAtomically(path, payload).ok());
  ASSERT_TRUE(WriteFileAtomically(path, payload + "tail").ok());  // replaces
  auto r = ReadFile(path, 1 << 20);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, payload + "tail");
  EXPECT_EQ(CountEntries(dir + "/a/b"), 1) << "no temporary file may be left behind";
}

TEST(File, ReadErrorsNameTheFile) {
  auto missing = ReadFile(TempDir() + "/does_not_exist", 10);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_NE(std::string(missing.status().message()).find("does_not_exist"), std::string::npos);

  const std::string path = TempDir() + "/big.bin";
  ASSERT_TRUE(WriteFileAtomically(path, std::string(1000, 'x')).ok());
  auto big = ReadFile(path, 999);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(std::string(big.status().message()).find("limit"), std::string::npos);

  auto dir = ReadFile(TempDir(), 1000);
  EXPECT_FALSE(dir.ok());
}

// A FIFO (or any non-regular file) is refused at once instead of blocking until a writer
// appears (issue #18: a FIFO as --checkpoint, --input or a table file hung the tools).
TEST(File, AFifoIsRefusedWithoutBlocking) {
  const std::string fifo = ::testing::TempDir() + "/a_fifo";
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  absl::StatusOr<std::string> r = ReadFile(fifo, 1 << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("a_fifo: not a regular file"), std::string::npos)
      << r.status();
  ::unlink(fifo.c_str());
}

TEST(File, WriteIntoMissingDirectoryFailsCleanly) {
  auto s = WriteFileAtomically(TempDir() + "/no/such/dir/file", "x");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("no/such/dir/file"), std::string::npos);
}

TEST(File, MakeDirsRejectsFileInPath) {
  const std::string f = TempDir() + "/plainfile";
  ASSERT_TRUE(WriteFileAtomically(f, "x").ok());
  EXPECT_FALSE(MakeDirs(f + "/sub").ok());
}

TEST(UserPath, RelativePathsResolveAgainstTheBazelRunDirectory) {
  setenv("BUILD_WORKING_DIRECTORY", "/home/u/proj", 1);
  EXPECT_EQ(UserPath("runs/a"), "/home/u/proj/runs/a");
  EXPECT_EQ(UserPath("/abs/b"), "/abs/b");
  EXPECT_EQ(UserPath(""), "");
  unsetenv("BUILD_WORKING_DIRECTORY");
  EXPECT_EQ(UserPath("runs/a"), "runs/a");
}

}  // namespace
}  // namespace sal360::util

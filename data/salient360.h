// The Salient360! benchmark's raw map files: float32 little-endian saliency maps,
// row-major (H, W), frame after frame, with the size in the name:
//   NAME_WxH_32b.bin      one map (an image)
//   NAME_WxHxN_32b.bin    N maps (a video: frame 0, then frame 1, ...)
// The reader checks the file's size against the name before reading; the streaming
// writer appends maps to a temporary file and names it with the frame count at Commit.
#ifndef SAL360_DATA_SALIENT360_H_
#define SAL360_DATA_SALIENT360_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "util/file.h"

namespace sal360::data {

struct Salient360Name {
  std::string stem;   // NAME
  int width = 0, height = 0;
  int64_t frames = -1;  // N; -1 for the single-map form
};

// "NAME_WxH_32b.bin" (frames < 0) or "NAME_WxHxN_32b.bin".
std::string Salient360FileName(const Salient360Name& name);
// Parses a path's file name; errors name the path.
absl::StatusOr<Salient360Name> ParseSalient360FileName(const std::string& path);

struct Salient360Maps {
  Salient360Name name;
  std::vector<float> values;  // (max(frames, 1), H, W)
};
// Reads a .bin whose size must equal W·H·max(N, 1)·4 bytes; non-finite values are an
// error naming the frame. `max_bytes` bounds the file.
absl::StatusOr<Salient360Maps> ReadSalient360(const std::string& path, int64_t max_bytes = int64_t{8} << 30);
// One map (frame `frame`, 0-based) of such a file, reading only its bytes; the file's
// size must still match its name. (H·W values.)
absl::StatusOr<std::vector<float>> ReadSalient360Frame(const std::string& path, int64_t frame, Salient360Name* name);

class Salient360Writer {
 public:
  // Maps of (height, width) for DIR/STEM_WxHxN_32b.bin.
  static absl::StatusOr<Salient360Writer> Create(const std::string& dir, const std::string& stem, int height,
                                                 int width);
  absl::Status Append(const float* map);
  // Renames the file to its final name (with N = the maps appended) and returns that path.
  absl::StatusOr<std::string> Commit();
  int64_t frames() const { return frames_; }

 private:
  Salient360Writer(util::AtomicFile file, std::string dir, Salient360Name name)
      : file_(std::move(file)), dir_(std::move(dir)), name_(std::move(name)) {}
  util::AtomicFile file_;
  std::string dir_;
  Salient360Name name_;
  int64_t frames_ = 0;
};

}  // namespace sal360::data

#endif  // SAL360_DATA_SALIENT360_H_

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
#include "data/ground_truth.h"
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

// --- Fixation lists (head or head+eye scanpaths), the text files the Salient360!
// toolbox writes and reads for NSS/AUC: one fixation per line, comma-separated (or
// whitespace-separated when a line has no comma), longitude and latitude normalised to
// [0, 1] (longitude 0 = the left edge of the ERP frame, latitude 0 = its top row, the
// same origin as our gaze points: x = longitude, y = latitude). Lines starting with '#'
// are comments, except that the first line, with or without '#', may be the header;
// the header names the columns (case-insensitive; spaces, '_' and '-' ignored):
//   longitude: longitude | long | lon | longgaze | longeye | longhead
//   latitude:  latitude | lat | latgaze | lateye | lathead
//   start:     starttimestamp | fixtimestart | start | starttime  (ms)
//              startframe | fixframestart                         (frames, 0-based)
//   end:       endtimestamp | fixtimeend | end | endtime          (ms)
//              endframe | fixframeend                             (frames, inclusive)
//   duration:  duration | fixduration                             (ms)
// Other columns (idx, fix_index, dispersion, ...) are ignored. The first of several
// longitude (latitude) columns counts, so the toolbox's head+eye file (long_Gaze first)
// gives the gaze direction. A file without a header must have the column count of one
// of the two published layouts:
//   6 columns: Idx, longitude, latitude, start timestamp, duration, end timestamp
//              (Salient360! ICME'17 image challenge)
//   4 columns: Fix_index, long_Gaze, lat_Gaze, Fix_time_start (the toolbox's default
//              export, numpy.savetxt)
// One file holds the fixations of every observer of one stimulus (the index restarts
// per observer; we never need it). Values must be finite, coordinates in [0, 1], end ≥
// start, duration ≥ 0. Limits: max_bytes of file, at most 10^7 fixations.
struct Salient360Fixation {
  double lon = 0, lat = 0;  // normalised [0, 1]
  double start = 0, end = 0;  // in `unit`; both 0 when the list is untimed
};
struct Salient360FixationList {
  enum class Unit { kNone, kMilliseconds, kFrames };
  Unit unit = Unit::kNone;
  std::vector<Salient360Fixation> fixations;
};

absl::StatusOr<Salient360FixationList> ParseSalient360Fixations(const std::string& text, const std::string& name);
absl::StatusOr<Salient360FixationList> ReadSalient360Fixations(const std::string& path,
                                                               int64_t max_bytes = int64_t{256} << 20);
// .txt or .csv (any case).
bool IsFixationListFile(const std::string& path);

// The gaze points of video frame `frame` (0-based), or with frame = -1 every fixation
// (an image, whatever its timing). Untimed list: every fixation (`frame` must be -1 or
// 0). Frames: start ≤ frame ≤ end. Times
// (ms): frame k covers [1000·k/fps, 1000·(k+1)/fps); a fixation [start, end] counts in
// every frame it overlaps (a fixation without an end, i.e. only a start column, counts
// in the frame of its start). `fps` > 0 is needed for ms lists. Errors name `name`.
absl::StatusOr<std::vector<GazePoint>> FixationsOfFrame(const Salient360FixationList& list, int64_t frame,
                                                        double fps, const std::string& name);

}  // namespace sal360::data

#endif  // SAL360_DATA_SALIENT360_H_

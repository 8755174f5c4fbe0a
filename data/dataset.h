// The on-disk layout of the 360° video saliency dataset (Zhang, Xu et al., ECCV 2018),
// and an index of it.
//
//   ROOT/vinfo.pkl              pickle: {video: {'NNNN': [(x, y), ...]}} (one gaze point
//                               per viewer; see ground_truth.h for x, y)
//   ROOT/<video>/NNNN.jpg       frames, 4-digit zero-padded ids from 0001
//   ROOT/<video>/NNNN_gt.npy    optional cached ground truth (ground_truth.h)
//
// Rules applied by Dataset::Open:
//   - the set of sub-directories of ROOT (names not starting with '.') must equal the set
//     of vinfo.pkl's top-level keys; any difference is an error listing the names
//     missing on either side. Other entries of ROOT (zip files, an index) are ignored
//     and reported as notes.
//   - in a video folder, files named <digits>.jpg are frames (id = the number, ≥ 1); other
//     files (NNNN_gt.npy, ...) are ignored. A frame without a gaze entry is dropped and
//     reported as an error issue (the published VRSaliency loader dropped it with a
//     warning; VRVideo raised KeyError). Gaze entries without a .jpg are kept (they can
//     still give a previous map) and counted.
//   - vinfo.pkl must be a dict of str → dict of str ('NNNN', digits) → list/tuple of
//     (x, y) pairs (tuple or list of two numbers: int, float or bool). Any other shape is
//     an error naming the video, frame key and what was found. Points outside [0,1]² or
//     non-finite are kept but reported as error issues (check_data lists them; making a
//     ground-truth map from them fails with a message naming the frame).
// Video names sort by their UTF-8 bytes, which is Python's sorted() order for str.
//
// The generic layout (any 360° dataset, converted with a few lines of a script;
// docs/data.md): ROOT/gaze.csv instead of vinfo.pkl, the same ROOT/<video>/NNNN.jpg
// frames. gaze.csv is text, one gaze point per row, after the header line
//   video,frame,user,x,y
// video: the folder name (no comma, quote or newline); frame: the frame id (≥ 1, the
// NNNN of NNNN.jpg); user: any label without a comma (points of one frame keep the file's
// order); x, y ∈ [0,1] normalised ERP coordinates, origin at the top-left corner of the
// frame: x grows eastward from longitude −180° (the left edge), y southward from the north
// pole (the top edge) — the same convention as vinfo.pkl. Every other rule above applies
// (folders must equal the CSV's videos, frames without gaze are dropped and reported).
// A root with both files is an error (which one is meant?).
#ifndef SAL360_DATA_DATASET_H_
#define SAL360_DATA_DATASET_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/ground_truth.h"
#include "data/pickle.h"

namespace sal360::data {

// One frame of one video: the unit every sample, error and report refers to.
struct FrameRef {
  std::string video;
  int frame = 0;                 // 1-based frame id (file NNNN.jpg)
  std::string ToString() const;  // "video/0001"
  bool operator==(const FrameRef& o) const { return frame == o.frame && video == o.video; }
  bool operator<(const FrameRef& o) const {
    return video != o.video ? video < o.video : frame < o.frame;
  }
};

// "0001" (at least 4 digits, as '%04d').
std::string FrameKey(int frame);
// Parses "0001" → 1; false for anything but 1-9 decimal digits with value ≥ 1.
bool ParseFrameKey(const std::string& key, int* frame);

inline constexpr char kVinfoFileName[] = "vinfo.pkl";

// A problem or remark found while scanning (check_data prints them all).
struct DatasetIssue {
  enum class Severity { kNote, kError };
  Severity severity = Severity::kNote;
  std::string kind;     // short machine-readable tag, e.g. "frame_without_gaze"
  std::string path;     // the file or directory concerned
  std::string message;  // for people
};

struct DatasetOptions {
  int64_t max_pickle_bytes = int64_t{2} << 30;
  PickleLimits pickle_limits;
};

// Gaze of one vinfo.pkl (video → frame id → points), with its structure checked.
using GazeTable = std::map<std::string, std::map<int, std::vector<GazePoint>>>;
// Converts a parsed vinfo.pkl; errors name `name`, the video and the frame key.
absl::StatusOr<GazeTable> GazeTableFromPickle(const PyValue& vinfo, const std::string& name);
// The inverse (str keys, lists of (x, y) tuples; frames keyed by FrameKey).
PyValue GazeTableToPickle(const GazeTable& table);

inline constexpr char kGazeCsvFileName[] = "gaze.csv";
// gaze.csv (see above); errors name the file and line.
absl::StatusOr<GazeTable> ParseGazeCsv(const std::string& text, const std::string& name);
// The inverse: users numbered 0, 1, ... in each frame's order; x, y with 17 significant
// digits (exact round trip).
std::string GazeTableToCsv(const GazeTable& table);

class Dataset {
 public:
  // Reads ROOT/vinfo.pkl and scans the folders (no image is decoded). Fatal errors:
  // ROOT or vinfo.pkl missing/unreadable, vinfo.pkl malformed, folder/key mismatch.
  static absl::StatusOr<Dataset> Open(const std::string& root, const DatasetOptions& options = {});

  const std::string& root() const { return root_; }
  // All videos, sorted.
  const std::vector<std::string>& videos() const { return videos_; }
  bool HasVideo(const std::string& video) const { return frames_.count(video) != 0; }
  // Frame ids of `video` that have both a .jpg and a gaze entry, ascending (empty for an
  // unknown video).
  const std::vector<int>& frames(const std::string& video) const;
  // The frames of `videos` in the given video order, each video's frames ascending.
  // Unknown videos are an error.
  absl::StatusOr<std::vector<FrameRef>> FramesOf(const std::vector<std::string>& videos) const;
  int64_t num_frames() const { return num_frames_; }

  // Gaze points of a frame, or nullptr when vinfo.pkl has no entry for it.
  const std::vector<GazePoint>* gaze(const std::string& video, int frame) const;
  const GazeTable& gaze_table() const { return gaze_; }

  std::string FramePath(const FrameRef& f) const;    // ROOT/video/NNNN.jpg
  std::string GtCachePath(const FrameRef& f) const;  // ROOT/video/NNNN_gt.npy

  const std::vector<DatasetIssue>& issues() const { return issues_; }
  int64_t num_errors() const;  // issues with Severity::kError

 private:
  std::string root_;
  std::vector<std::string> videos_;
  std::map<std::string, std::vector<int>> frames_;
  GazeTable gaze_;
  std::vector<DatasetIssue> issues_;
  int64_t num_frames_ = 0;
};

}  // namespace sal360::data

#endif  // SAL360_DATA_DATASET_H_

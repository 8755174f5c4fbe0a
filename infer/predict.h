// predict's pipelines: saliency for the user's own frames — a video file, a directory of
// frames, or one image — streamed through the one inference loop (infer/sequence.h).
//
//   decode (data/video.h or data/image.h) → resize to the network size (longitude wraps,
//   data::ResizeToFloat) → SequenceRunner (batched, autoregressive) → outputs
//
// Peak memory does not grow with the video's length: the runner holds at most a batch,
// and the outputs are written as each map comes back. Outputs in the output directory
// (docs/video.md has the formats):
//   <stem>.npy          the map, float32 (H, W), the network's raw output   (--maps npy)
//   <stem>_map.png      the map, 16-bit greyscale, scaled so the frame's maximum is
//                       65535 (negatives 0)                                  (--maps png)
//   overlay.mp4         video input: the heatmap over each frame, each output frame at
//                       its input frame's time (from the first output frame)
//   <stem>_overlay.png  image input: the same, one picture per frame
//   <name>_<W>x<H>x<N>_32b.bin   Salient360!'s raw format: each map clipped at 0 and
//                       normalised to sum 1, float32, frame after frame
//   frames.csv          output index, source frame index, pts, time (s), stem
//   summary.json        input, selection, sizes, frame count, time shares, outputs, and
//                       the error if the input stopped early
// Stems: video frames are the 0-based source frame index, six digits ("000042"); image
// frames keep their file's stem. So the maps of frames decoded from a video and written
// as 000000.png, 000001.png, ... into a directory equal the video's maps bit for bit.
#ifndef SAL360_INFER_PREDICT_H_
#define SAL360_INFER_PREDICT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/source.h"
#include "data/video.h"
#include "nn/model.h"

namespace sal360::infer {

enum class Overlay { kBlend, kSideBySide, kNone };
// "blend" | "side_by_side" | "none"
absl::StatusOr<Overlay> ParseOverlay(const std::string& value);

struct PredictOutputs {
  bool npy = true;        // <stem>.npy
  bool png = false;       // <stem>_map.png (16-bit)
  Overlay overlay = Overlay::kBlend;
  data::VideoCodec codec = data::VideoCodec::kAuto;
  int overlay_max_width = 1920;  // overlay frames: the input's size, scaled down to this width
  bool salient360 = true;        // the _32b.bin file
  // report.html with the 360° viewer (data/viewer.h) over up to this many frames, evenly
  // spaced over the input (its frames in viewer/); 0: no report.
  int viewer_frames = 120;
};
// "--maps": a comma-separated subset of npy,png, or "none".
absl::Status ParseMaps(const std::string& value, PredictOutputs* outputs);

struct FrameSelection {
  int every = 1;              // every Nth frame of the window (the first one included)
  double start_s = 0;         // window start, seconds from frame 0
  double duration_s = -1;     // window length; < 0: to the end
  bool stretch = false;       // accept frames that are not 2:1 (resized anyway)
};

struct PredictRun {
  nn::SphericalUNet* model = nullptr;
  int height = 0, width = 0;          // network input size
  data::TemporalConfig temporal;      // --prev_interval, --first_frames
  int batch = 4;                      // frames per forward pass (SequenceOptions::max_batch)
  PredictOutputs outputs;
  FrameSelection selection;
  bool progress = true;               // the progress line on stderr
};

struct PredictStats {
  int64_t frames = 0;                 // maps written
  int64_t frames_decoded = 0;         // including skipped ones
  double decode_s = 0, infer_s = 0, write_s = 0, total_s = 0;
  std::string encoder;                // overlay video encoder, "" if none
  std::vector<std::string> files;     // the outputs (besides per-frame maps)
};

// A clear error unless `out_dir` is new or an empty directory (outputs never overwrite
// anything silently).
absl::Status CheckNewOutputDir(const std::string& out_dir);

// Whether the file name looks like a video by extension (mp4, mkv, mov, webm, avi, ...).
bool LooksLikeVideo(const std::string& path);

// A video file. On a decoding error after some frames (a truncated file), the frames
// before it are run and written, summary.json records the error, and the error (naming
// the file and frame) is returned; *stats is filled either way.
absl::Status PredictVideo(const PredictRun& run, const std::string& video_path, const std::string& out_dir,
                          PredictStats* stats);

// Image files in order, as one video (a directory of frames) or a single image. `name`
// names the .bin file.
absl::Status PredictImages(const PredictRun& run, const std::vector<std::string>& frames, const std::string& name,
                           const std::string& out_dir, PredictStats* stats);

// The 16-bit PNG and Salient360! encodings of one map, (H, W) (exposed for tests).
std::vector<uint16_t> MapToGray16(const float* map, int64_t pixels);
std::vector<float> MapToDistribution(const float* map, int64_t pixels);

}  // namespace sal360::infer

#endif  // SAL360_INFER_PREDICT_H_

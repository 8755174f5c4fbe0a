// Video in and out of files through Debian's FFmpeg libraries (libavformat demuxes and
// muxes, libavcodec decodes and encodes, libswscale converts pixels), and 16-bit
// greyscale PNG (stb_image_write writes 8-bit only; FFmpeg's PNG codec writes 16-bit).
//
// Reading. Any container and codec the installed libavformat/libavcodec decode; the
// first (best) video stream is read and the others (audio, subtitles) are ignored.
// Frames come in presentation order and are numbered 0, 1, 2, ... in that order; each
// carries its timestamp (best-effort pts in the stream's time base) and its time in
// seconds relative to frame 0, so variable-frame-rate video stays frame-accurate.
// Input is untrusted: only the local "file" protocol is allowed, demuxers that open
// other files or URLs (playlists, concat lists, image sequences) are refused, frame
// sizes are checked against VideoLimits before any frame is converted, and a stream that
// stops before the frame count its container states is reported as truncated, naming
// the frame at which decoding stopped (the frames before it were delivered).
//
// Writing. MP4 (or any container the output name's extension selects), yuv420p, H.264
// through libx264 where the encoder exists, else FFmpeg's MPEG-4 part 2; frames are
// RGB (H, W, 3) with even H and W and strictly increasing timestamps (any time base:
// variable frame rate is kept). The file appears atomically at Close (written to a
// temporary name, fsynced, renamed); a writer destroyed before Close leaves nothing.
#ifndef SAL360_DATA_VIDEO_H_
#define SAL360_DATA_VIDEO_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/image.h"

namespace sal360::data {

struct VideoLimits {
  int64_t max_pixels = int64_t{1} << 27;  // per frame (8192 x 16384), as DecodeLimits
  int64_t max_frames = int64_t{100} << 20;
};

struct Rational {
  int num = 0, den = 1;
  double value() const { return den == 0 ? 0.0 : static_cast<double>(num) / den; }
};

struct VideoInfo {
  std::string path;
  std::string container;    // demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  std::string codec;        // decoder name, e.g. "h264"
  int width = 0, height = 0;
  Rational time_base;       // of VideoFrame::pts
  Rational frame_rate;      // average frame rate as the container states ({0,1}: unknown)
  int64_t frames = -1;      // frame count as the container states (-1: unknown)
  double duration_s = -1;   // -1: unknown
};

struct VideoFrame {
  int64_t index = 0;   // 0-based, presentation order
  int64_t pts = 0;     // in VideoInfo::time_base
  double time_s = 0;   // (pts - pts of frame 0) in seconds
  Image image;         // RGB (height, width, 3); empty for frames Next did not convert
};

class VideoReader {
 public:
  // Errors name `path`: missing file, not a video (no demuxer recognises it, or it has
  // no video stream), a refused demuxer, no decoder for the codec, frames above the limit.
  static absl::StatusOr<std::unique_ptr<VideoReader>> Open(const std::string& path,
                                                           const VideoLimits& limits = {});
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const VideoInfo& info() const;
  // The next frame into *frame (true), or false at the end of the stream. When
  // `convert_if` is given, the pixels are converted only for frames it accepts (it sees
  // index, pts and time; frames that are only skipped stay cheap), else image is empty.
  // Errors name the file and the index of the frame that could not be decoded; after an
  // error, or at the end, Next keeps returning the same result.
  using ConvertIf = std::function<bool(const VideoFrame&)>;
  absl::StatusOr<bool> Next(VideoFrame* frame, const ConvertIf& convert_if = nullptr);
  int64_t frames_decoded() const;

 private:
  struct State;
  explicit VideoReader(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

enum class VideoCodec { kAuto, kH264, kMpeg4 };
// "auto" | "h264" | "mpeg4"
absl::StatusOr<VideoCodec> ParseVideoCodec(const std::string& name);
// Whether the installed libavcodec has an H.264 encoder (libx264).
bool HaveH264Encoder();

struct VideoWriterOptions {
  int width = 0, height = 0;  // even, >= 2
  Rational time_base{1, 25};  // of the pts given to Write
  Rational frame_rate{25, 1}; // nominal, for rate control and the container's metadata
  VideoCodec codec = VideoCodec::kAuto;  // kAuto: H.264 if available, else MPEG-4
  int quality = 20;           // H.264 CRF (0..51, lower is better); MPEG-4 maps it to a qscale
};

class VideoWriter {
 public:
  static absl::StatusOr<std::unique_ptr<VideoWriter>> Open(const std::string& path,
                                                           const VideoWriterOptions& options);
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // rgb: (height, width, 3). pts strictly increasing, in options.time_base.
  absl::Status Write(const uint8_t* rgb, int64_t pts);
  // Flushes the encoder, writes the trailer and moves the file into place.
  absl::Status Close();
  // "libx264" or "mpeg4".
  const std::string& encoder_name() const;
  int64_t frames_written() const;

 private:
  struct State;
  explicit VideoWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

// Frames (RGB images of one size) at a constant rate into a video file: frame k at
// time k / fps. Odd sizes are refused (yuv420p needs even ones).
absl::Status WriteVideo(const std::string& path, const std::vector<Image>& frames, Rational fps,
                        VideoCodec codec = VideoCodec::kAuto);

// 16-bit greyscale PNG: values (height, width) row-major. The reader takes any PNG
// FFmpeg's decoder reads and requires 16-bit greyscale; errors name `name`.
absl::StatusOr<std::string> EncodeGray16Png(const uint16_t* values, int height, int width);
absl::Status WriteGray16Png(const std::string& path, const uint16_t* values, int height, int width);
struct Gray16Image {
  int height = 0, width = 0;
  std::vector<uint16_t> values;
};
absl::StatusOr<Gray16Image> DecodeGray16Png(const std::string& bytes, const std::string& name);

}  // namespace sal360::data

#endif  // SAL360_DATA_VIDEO_H_

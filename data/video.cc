#include "data/video.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "util/file.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

namespace sal360::data {
namespace {

// FFmpeg prints its diagnostics to stderr by default. We keep the last error-level
// message instead and add it to our own error, which names the file and the frame.
std::mutex log_mutex;
std::string last_log;  // guarded by log_mutex

void LogCallback(void*, int level, const char* fmt, va_list args) {
  if (level > AV_LOG_ERROR) return;
  char line[512];
  std::vsnprintf(line, sizeof line, fmt, args);
  std::string s(line);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  std::lock_guard<std::mutex> lock(log_mutex);
  last_log = s;
}

void InstallLogger() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(LogCallback); });
}

std::string TakeLastLog() {
  std::lock_guard<std::mutex> lock(log_mutex);
  std::string s = std::move(last_log);
  last_log.clear();
  return s;
}

std::string AvError(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  std::string s = buf;
  const std::string log = TakeLastLog();
  if (!log.empty() && log != s) s += " (" + log + ")";
  return s;
}

// Demuxers that read other files or URLs named inside the input (playlists, concat
// lists, manifests, numbered image sequences): refused, since the input is untrusted.
bool RefusedDemuxer(const char* names) {
  static const char* const kRefused[] = {"hls", "applehttp", "concat", "dash", "image2", "imf",
                                         "webm_dash_manifest", "sdp", "rtsp", "rtp", "mpl2", "ffmetadata"};
  for (absl::string_view n : absl::StrSplit(names, ',')) {
    for (const char* r : kRefused) {
      if (n == r) return true;
    }
  }
  return false;
}

struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct CodecDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecDeleter>;

}  // namespace

// ------------------------------------------------------------------------ reader

struct VideoReader::State {
  VideoInfo info;
  VideoLimits limits;
  AVFormatContext* fmt = nullptr;
  CodecPtr dec;
  int stream = -1;
  PacketPtr packet{av_packet_alloc()};
  FramePtr frame{av_frame_alloc()};
  SwsContext* sws = nullptr;
  int sws_w = 0, sws_h = 0, sws_fmt = -1, sws_space = -1, sws_range = -1;
  std::vector<uint8_t> rgb_scratch;  // padded rows for swscale
  bool flushed = false;      // the decoder was sent the end of the stream
  bool done = false;         // Next returns `final`
  absl::Status final_status;
  std::string read_error;    // first demux/decode error; reported after the buffered frames
  int64_t decoded = 0;
  bool have_first = false;
  int64_t first_pts = 0, last_pts = 0;

  ~State() {
    sws_freeContext(sws);
    avformat_close_input(&fmt);
  }

  std::string Where() const { return absl::StrCat(info.path, ": frame ", decoded); }

  absl::Status Finish(absl::Status s) {
    done = true;
    final_status = std::move(s);
    return final_status;
  }

  absl::Status Convert(const AVFrame* f, Image* image) {
    const int space = f->colorspace == AVCOL_SPC_UNSPECIFIED ? AVCOL_SPC_BT470BG : f->colorspace;
    const int full_range = f->color_range == AVCOL_RANGE_JPEG ? 1 : 0;
    if (sws == nullptr || sws_w != f->width || sws_h != f->height || sws_fmt != f->format || sws_space != space ||
        sws_range != full_range) {
      sws_freeContext(sws);
      sws = sws_getContext(f->width, f->height, static_cast<AVPixelFormat>(f->format), f->width, f->height,
                           AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr,
                           nullptr, nullptr);
      if (sws == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(Where(), ": cannot convert pixel format ",
                                                       av_get_pix_fmt_name(static_cast<AVPixelFormat>(f->format))));
      }
      sws_setColorspaceDetails(sws, sws_getCoefficients(space), full_range, sws_getCoefficients(AVCOL_SPC_BT470BG),
                               1, 0, 1 << 16, 1 << 16);
      sws_w = f->width;
      sws_h = f->height;
      sws_fmt = f->format;
      sws_space = space;
      sws_range = full_range;
    }
    image->height = f->height;
    image->width = f->width;
    image->channels = 3;
    // swscale's SIMD paths may write a little past a row: convert into a padded, aligned
    // buffer and copy the rows out.
    const int row = f->width * 3;
    const int stride = (row + 63) / 64 * 64;
    rgb_scratch.resize(static_cast<size_t>(stride) * f->height + 64);
    uint8_t* dst[4] = {rgb_scratch.data(), nullptr, nullptr, nullptr};
    int dst_stride[4] = {stride, 0, 0, 0};
    sws_scale(sws, f->data, f->linesize, 0, f->height, dst, dst_stride);
    image->pixels.resize(static_cast<size_t>(row) * f->height);
    for (int y = 0; y < f->height; ++y) {
      std::memcpy(image->pixels.data() + static_cast<size_t>(y) * row, rgb_scratch.data() + static_cast<size_t>(y) * stride,
                  row);
    }
    return absl::OkStatus();
  }
};

VideoReader::VideoReader(std::unique_ptr<State> state) : s_(std::move(state)) {}
VideoReader::~VideoReader() = default;
const VideoInfo& VideoReader::info() const { return s_->info; }
int64_t VideoReader::frames_decoded() const { return s_->decoded; }

absl::StatusOr<std::unique_ptr<VideoReader>> VideoReader::Open(const std::string& path, const VideoLimits& limits) {
  InstallLogger();
  TakeLastLog();
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  auto s = std::make_unique<State>();
  s->info.path = path;
  s->limits = limits;
  // FFmpeg's demuxers allocate what a file's boxes declare (the video fuzzer found a
  // small mp4 whose atom made libavformat allocate 1.1 GB); av_malloc refuses anything
  // above av_max_alloc, so bound it by what a frame within our limits needs (a decoded
  // frame plus conversion planes, 4 bytes per pixel) plus 64 MiB. Process-wide: the
  // last reader opened sets it (every reader uses the default limits but the tests').
  av_max_alloc(static_cast<size_t>(
      std::min<int64_t>(std::max<int64_t>(limits.max_pixels, 1) * 4 + (int64_t{64} << 20), INT_MAX)));
  // Probe the format ourselves from the first bytes, so that a refused demuxer never
  // gets to read its header (where playlists open their entries).
  {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
    std::vector<uint8_t> head(size_t{1} << 20 | AVPROBE_PADDING_SIZE, 0);
    const ssize_t n = ::read(fd, head.data(), size_t{1} << 20);
    ::close(fd);
    if (n <= 0) return absl::InvalidArgumentError(absl::StrCat(path, ": not a video (the file is empty)"));
    AVProbeData pd{};
    pd.filename = path.c_str();
    pd.buf = head.data();
    pd.buf_size = static_cast<int>(n);
    const AVInputFormat* probed = av_probe_input_format(&pd, 1);
    if (probed == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": not a video (no demuxer recognises the data)"));
    }
    if (RefusedDemuxer(probed->name)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": refused: the '", probed->name,
                                                     "' format reads other files or URLs named inside it"));
    }
    AVDictionary* opts = nullptr;
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    const int rc = avformat_open_input(&s->fmt, path.c_str(), probed, &opts);
    av_dict_free(&opts);
    if (rc < 0) return absl::InvalidArgumentError(absl::StrCat(path, ": not a readable video: ", AvError(rc)));
  }
  s->info.container = s->fmt->iformat->name;
  if (const int rc = avformat_find_stream_info(s->fmt, nullptr); rc < 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read the stream info: ", AvError(rc)));
  }
  const AVCodec* codec = nullptr;
  s->stream = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (s->stream == AVERROR_DECODER_NOT_FOUND) {
    return absl::UnimplementedError(absl::StrCat(path, ": no decoder for its video codec in this FFmpeg"));
  }
  if (s->stream < 0) return absl::InvalidArgumentError(absl::StrCat(path, ": not a video (no video stream)"));
  AVStream* vs = s->fmt->streams[s->stream];
  if (vs->disposition & AV_DISPOSITION_ATTACHED_PIC) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a video (its only picture is a cover image)"));
  }
  for (unsigned i = 0; i < s->fmt->nb_streams; ++i) {
    if (static_cast<int>(i) != s->stream) s->fmt->streams[i]->discard = AVDISCARD_ALL;  // audio ignored
  }
  const AVCodecParameters* par = vs->codecpar;
  if (par->width <= 0 || par->height <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": the video stream has no frame size"));
  }
  if (int64_t{par->width} * par->height > limits.max_pixels) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": frames of ", par->width, "x", par->height,
                                                   " exceed the limit of ", limits.max_pixels, " pixels"));
  }
  s->dec.reset(avcodec_alloc_context3(codec));
  if (!s->dec) return absl::ResourceExhaustedError(absl::StrCat(path, ": cannot allocate a decoder"));
  if (const int rc = avcodec_parameters_to_context(s->dec.get(), par); rc < 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": bad codec parameters: ", AvError(rc)));
  }
  s->dec->pkt_timebase = vs->time_base;
  s->dec->thread_count = 0;  // FFmpeg's choice; frame threading returns the same frames
  if (const int rc = avcodec_open2(s->dec.get(), codec, nullptr); rc < 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open the ", codec->name, " decoder: ", AvError(rc)));
  }
  if (!s->packet || !s->frame) return absl::ResourceExhaustedError(absl::StrCat(path, ": out of memory"));
  VideoInfo& info = s->info;
  info.codec = codec->name;
  info.width = par->width;
  info.height = par->height;
  info.time_base = {vs->time_base.num, vs->time_base.den};
  const AVRational rate = vs->avg_frame_rate.num > 0 ? vs->avg_frame_rate : vs->r_frame_rate;
  if (rate.num > 0 && rate.den > 0) info.frame_rate = {rate.num, rate.den};
  info.frames = vs->nb_frames > 0 ? vs->nb_frames : -1;
  if (vs->duration != AV_NOPTS_VALUE && vs->duration > 0) {
    info.duration_s = vs->duration * av_q2d(vs->time_base);
  } else if (s->fmt->duration != AV_NOPTS_VALUE && s->fmt->duration > 0) {
    info.duration_s = static_cast<double>(s->fmt->duration) / AV_TIME_BASE;
  }
  if (info.frames > limits.max_frames) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", info.frames, " frames exceed the limit of ",
                                                   limits.max_frames));
  }
  return std::unique_ptr<VideoReader>(new VideoReader(std::move(s)));
}

absl::StatusOr<bool> VideoReader::Next(VideoFrame* out, const ConvertIf& convert_if) {
  State& s = *s_;
  if (s.done) {
    if (!s.final_status.ok()) return s.final_status;
    return false;
  }
  for (;;) {
    const int rc = avcodec_receive_frame(s.dec.get(), s.frame.get());
    if (rc == 0) {
      AVFrame* f = s.frame.get();
      if ((f->flags & AV_FRAME_FLAG_CORRUPT) || f->decode_error_flags != 0) {
        av_frame_unref(f);
        return s.Finish(absl::DataLossError(absl::StrCat(s.Where(), " is corrupt (the decoder concealed errors); ",
                                                         s.decoded, " frames decoded before it")));
      }
      if (f->width != s.info.width || f->height != s.info.height) {
        const std::string msg = absl::StrCat(s.Where(), " changes the frame size from ", s.info.width, "x",
                                             s.info.height, " to ", f->width, "x", f->height, " (unsupported)");
        av_frame_unref(f);
        return s.Finish(absl::InvalidArgumentError(msg));
      }
      if (s.decoded >= s.limits.max_frames) {
        av_frame_unref(f);
        return s.Finish(absl::InvalidArgumentError(
            absl::StrCat(s.info.path, ": more than ", s.limits.max_frames, " frames (the limit)")));
      }
      int64_t pts = f->best_effort_timestamp;
      if (pts == AV_NOPTS_VALUE || (s.have_first && pts <= s.last_pts)) {
        // No usable timestamp: one frame period (or one tick) after the previous one.
        int64_t step = 1;
        if (s.info.frame_rate.num > 0) {
          step = std::max<int64_t>(1, av_rescale_q(1, AVRational{s.info.frame_rate.den, s.info.frame_rate.num},
                                                   AVRational{s.info.time_base.num, s.info.time_base.den}));
        }
        pts = s.have_first ? s.last_pts + step : 0;
      }
      if (!s.have_first) {
        s.have_first = true;
        s.first_pts = pts;
      }
      s.last_pts = pts;
      out->index = s.decoded;
      out->pts = pts;
      out->time_s = static_cast<double>(pts - s.first_pts) * s.info.time_base.value();
      out->image = Image{};
      absl::Status cs = absl::OkStatus();
      if (!convert_if || convert_if(*out)) {
        cs = s.Convert(f, &out->image);
      }
      av_frame_unref(f);
      if (!cs.ok()) return s.Finish(cs);
      ++s.decoded;
      return true;
    }
    if (rc == AVERROR_EOF) {
      if (!s.read_error.empty()) {
        return s.Finish(absl::DataLossError(absl::StrCat(s.Where(), ": decoding stopped: ", s.read_error, "; ",
                                                         s.decoded, " frames decoded before it")));
      }
      if (s.info.frames > 0 && s.decoded < s.info.frames) {
        return s.Finish(absl::DataLossError(absl::StrCat(s.Where(), ": truncated: the container lists ",
                                                         s.info.frames, " frames, decoding stopped after ",
                                                         s.decoded)));
      }
      if (s.decoded == 0) {
        return s.Finish(absl::InvalidArgumentError(absl::StrCat(s.info.path, ": the video has no frames")));
      }
      s.done = true;
      return false;
    }
    if (rc != AVERROR(EAGAIN)) {
      return s.Finish(absl::DataLossError(absl::StrCat(s.Where(), ": cannot decode: ", AvError(rc), "; ", s.decoded,
                                                       " frames decoded before it")));
    }
    // The decoder wants input.
    if (s.flushed) {
      return s.Finish(absl::InternalError(absl::StrCat(s.Where(), ": the decoder wants input after the end")));
    }
    const int rr = av_read_frame(s.fmt, s.packet.get());
    if (rr < 0) {
      if (rr != AVERROR_EOF) s.read_error = AvError(rr);
      avcodec_send_packet(s.dec.get(), nullptr);  // drain the frames still in the decoder
      s.flushed = true;
      continue;
    }
    if (s.packet->stream_index != s.stream) {
      av_packet_unref(s.packet.get());
      continue;
    }
    if (s.packet->flags & AV_PKT_FLAG_CORRUPT) {  // e.g. cut short by the end of the file
      av_packet_unref(s.packet.get());
      s.read_error = "a damaged or incomplete packet";
      avcodec_send_packet(s.dec.get(), nullptr);
      s.flushed = true;
      continue;
    }
    const int sr = avcodec_send_packet(s.dec.get(), s.packet.get());
    av_packet_unref(s.packet.get());
    if (sr < 0 && sr != AVERROR(EAGAIN)) {
      s.read_error = AvError(sr);
      avcodec_send_packet(s.dec.get(), nullptr);
      s.flushed = true;
    }
  }
}

// ------------------------------------------------------------------------ writer

absl::StatusOr<VideoCodec> ParseVideoCodec(const std::string& name) {
  if (name == "auto") return VideoCodec::kAuto;
  if (name == "h264") return VideoCodec::kH264;
  if (name == "mpeg4") return VideoCodec::kMpeg4;
  return absl::InvalidArgumentError(absl::StrCat("video codec must be auto, h264 or mpeg4, not '", name, "'"));
}

bool HaveH264Encoder() { return avcodec_find_encoder_by_name("libx264") != nullptr; }

struct VideoWriter::State {
  std::string path, temp_path;
  VideoWriterOptions options;
  AVFormatContext* fmt = nullptr;
  CodecPtr enc;
  AVStream* stream = nullptr;
  SwsContext* sws = nullptr;
  FramePtr frame{av_frame_alloc()};
  PacketPtr packet{av_packet_alloc()};
  std::string encoder;
  std::vector<uint8_t> rgb_scratch;  // padded rows for swscale
  AVRational in_tb{1, 25};
  bool header_written = false, closed = false;
  bool have_last = false;
  int64_t last_pts = 0;
  int64_t written = 0;

  ~State() {
    sws_freeContext(sws);
    if (fmt != nullptr) {
      if (fmt->pb != nullptr) avio_closep(&fmt->pb);
      avformat_free_context(fmt);
    }
    if (!closed && !temp_path.empty()) ::unlink(temp_path.c_str());
  }

  absl::Status Drain() {
    for (;;) {
      const int rc = avcodec_receive_packet(enc.get(), packet.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return absl::OkStatus();
      if (rc < 0) return absl::InternalError(absl::StrCat(path, ": encoding failed: ", AvError(rc)));
      av_packet_rescale_ts(packet.get(), enc->time_base, stream->time_base);
      packet->stream_index = stream->index;
      const int wr = av_interleaved_write_frame(fmt, packet.get());
      if (wr < 0) return absl::DataLossError(absl::StrCat(path, ": cannot write: ", AvError(wr)));
    }
  }
};

VideoWriter::VideoWriter(std::unique_ptr<State> state) : s_(std::move(state)) {}
VideoWriter::~VideoWriter() = default;
const std::string& VideoWriter::encoder_name() const { return s_->encoder; }
int64_t VideoWriter::frames_written() const { return s_->written; }

absl::StatusOr<std::unique_ptr<VideoWriter>> VideoWriter::Open(const std::string& path,
                                                               const VideoWriterOptions& o) {
  InstallLogger();
  TakeLastLog();
  if (o.width < 2 || o.height < 2 || o.width % 2 != 0 || o.height % 2 != 0 || int64_t{o.width} * o.height > (1 << 27)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": video frames must have even sizes >= 2, got ", o.width, "x", o.height));
  }
  if (o.time_base.num <= 0 || o.time_base.den <= 0 || o.frame_rate.num <= 0 || o.frame_rate.den <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": time base and frame rate must be positive"));
  }
  if (o.quality < 0 || o.quality > 51) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": quality must be in 0..51"));
  }
  auto s = std::make_unique<State>();
  s->path = path;
  s->options = o;
  s->in_tb = AVRational{o.time_base.num, o.time_base.den};
  if (const int rc = avformat_alloc_output_context2(&s->fmt, nullptr, nullptr, path.c_str()); rc < 0 || !s->fmt) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no container for this file name: ", AvError(rc)));
  }
  const AVCodec* codec = nullptr;
  if (o.codec == VideoCodec::kH264 || o.codec == VideoCodec::kAuto) codec = avcodec_find_encoder_by_name("libx264");
  if (codec == nullptr && o.codec == VideoCodec::kH264) {
    return absl::UnimplementedError(absl::StrCat(path, ": this FFmpeg has no H.264 encoder (libx264)"));
  }
  if (codec == nullptr) codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  if (codec == nullptr) return absl::UnimplementedError(absl::StrCat(path, ": no MPEG-4 encoder in this FFmpeg"));
  s->encoder = codec->name;
  s->enc.reset(avcodec_alloc_context3(codec));
  if (!s->enc || !s->frame || !s->packet) return absl::ResourceExhaustedError(absl::StrCat(path, ": out of memory"));
  AVCodecContext* c = s->enc.get();
  c->width = o.width;
  c->height = o.height;
  c->pix_fmt = AV_PIX_FMT_YUV420P;
  c->colorspace = AVCOL_SPC_SMPTE170M;  // what swscale's default RGB->YUV matrix is
  c->color_range = AVCOL_RANGE_MPEG;
  c->framerate = AVRational{o.frame_rate.num, o.frame_rate.den};
  c->time_base = s->in_tb;
  c->thread_count = 0;
  if (codec->id == AV_CODEC_ID_MPEG4) {
    // MPEG-4 part 2 limits the time base's denominator to 16 bits.
    if (c->time_base.den > 65535) c->time_base = AVRational{1, 60000};
    c->flags |= AV_CODEC_FLAG_QSCALE;
    c->global_quality = FF_QP2LAMBDA * std::clamp(o.quality / 5, 2, 31);
  } else {
    av_opt_set(c->priv_data, "preset", "veryfast", 0);
    av_opt_set(c->priv_data, "crf", std::to_string(o.quality).c_str(), 0);
  }
  if (s->fmt->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (const int rc = avcodec_open2(c, codec, nullptr); rc < 0) {
    return absl::InternalError(absl::StrCat(path, ": cannot open the ", codec->name, " encoder: ", AvError(rc)));
  }
  s->stream = avformat_new_stream(s->fmt, nullptr);
  if (s->stream == nullptr) return absl::ResourceExhaustedError(absl::StrCat(path, ": out of memory"));
  s->stream->time_base = c->time_base;
  s->stream->avg_frame_rate = c->framerate;
  if (const int rc = avcodec_parameters_from_context(s->stream->codecpar, c); rc < 0) {
    return absl::InternalError(absl::StrCat(path, ": ", AvError(rc)));
  }
  // The muxer writes a temporary file (reopened by name for the fast-start pass), which
  // Close renames into place.
  std::string tmpl = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot create a temporary file: ", std::strerror(errno)));
  }
  ::close(fd);
  s->temp_path = tmpl;
  ::chmod(tmpl.c_str(), 0644);
  av_freep(&s->fmt->url);
  s->fmt->url = av_strdup(tmpl.c_str());
  if (const int rc = avio_open(&s->fmt->pb, tmpl.c_str(), AVIO_FLAG_WRITE); rc < 0) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open for writing: ", AvError(rc)));
  }
  AVDictionary* mux = nullptr;
  if (absl::StrContains(s->fmt->oformat->name, "mp4") || absl::StrContains(s->fmt->oformat->name, "mov")) {
    av_dict_set(&mux, "movflags", "+faststart", 0);  // the index first: a cut-off copy stays readable
  }
  const int rc = avformat_write_header(s->fmt, &mux);
  av_dict_free(&mux);
  if (rc < 0) return absl::InternalError(absl::StrCat(path, ": cannot write the header: ", AvError(rc)));
  s->header_written = true;
  s->frame->format = c->pix_fmt;
  s->frame->width = c->width;
  s->frame->height = c->height;
  if (av_frame_get_buffer(s->frame.get(), 0) < 0) {
    return absl::ResourceExhaustedError(absl::StrCat(path, ": out of memory"));
  }
  s->sws = sws_getContext(o.width, o.height, AV_PIX_FMT_RGB24, o.width, o.height, AV_PIX_FMT_YUV420P,
                          SWS_BICUBIC | SWS_ACCURATE_RND, nullptr, nullptr, nullptr);
  if (s->sws == nullptr) return absl::InternalError(absl::StrCat(path, ": cannot create the pixel converter"));
  return std::unique_ptr<VideoWriter>(new VideoWriter(std::move(s)));
}

absl::Status VideoWriter::Write(const uint8_t* rgb, int64_t pts) {
  State& s = *s_;
  if (s.closed) return absl::FailedPreconditionError(absl::StrCat(s.path, ": write after close"));
  int64_t codec_pts = av_rescale_q(pts, s.in_tb, s.enc->time_base);
  if (s.have_last && pts <= s.last_pts) {
    return absl::InvalidArgumentError(
        absl::StrCat(s.path, ": timestamps must increase (", pts, " after ", s.last_pts, ")"));
  }
  if (s.written > 0) {
    const int64_t prev_codec = av_rescale_q(s.last_pts, s.in_tb, s.enc->time_base);
    codec_pts = std::max(codec_pts, prev_codec + 1);  // coarser codec time base: keep order
  }
  if (av_frame_make_writable(s.frame.get()) < 0) {
    return absl::ResourceExhaustedError(absl::StrCat(s.path, ": out of memory"));
  }
  // Padded, aligned rows: swscale's SIMD paths may read a little past a row's end.
  const int row = s.options.width * 3;
  const int stride = (row + 63) / 64 * 64;
  s.rgb_scratch.resize(static_cast<size_t>(stride) * s.options.height + 64);
  for (int y = 0; y < s.options.height; ++y) {
    std::memcpy(s.rgb_scratch.data() + static_cast<size_t>(y) * stride, rgb + static_cast<size_t>(y) * row, row);
  }
  const uint8_t* src[4] = {s.rgb_scratch.data(), nullptr, nullptr, nullptr};
  const int src_stride[4] = {stride, 0, 0, 0};
  sws_scale(s.sws, src, src_stride, 0, s.options.height, s.frame->data, s.frame->linesize);
  s.frame->pts = codec_pts;
  if (const int rc = avcodec_send_frame(s.enc.get(), s.frame.get()); rc < 0) {
    return absl::InternalError(absl::StrCat(s.path, ": encoding frame ", s.written, " failed: ", AvError(rc)));
  }
  s.have_last = true;
  s.last_pts = pts;
  ++s.written;
  return s.Drain();
}

absl::Status VideoWriter::Close() {
  State& s = *s_;
  if (s.closed) return absl::OkStatus();
  if (const int rc = avcodec_send_frame(s.enc.get(), nullptr); rc < 0) {
    return absl::InternalError(absl::StrCat(s.path, ": flushing the encoder failed: ", AvError(rc)));
  }
  if (absl::Status d = s.Drain(); !d.ok()) return d;
  if (const int rc = av_write_trailer(s.fmt); rc < 0) {
    return absl::DataLossError(absl::StrCat(s.path, ": cannot write the trailer: ", AvError(rc)));
  }
  if (const int rc = avio_closep(&s.fmt->pb); rc < 0) {
    return absl::DataLossError(absl::StrCat(s.path, ": close failed: ", AvError(rc)));
  }
  s.closed = true;
  return util::CommitFile(s.temp_path, s.path);
}

absl::Status WriteVideo(const std::string& path, const std::vector<Image>& frames, Rational fps, VideoCodec codec) {
  if (frames.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no frames to write"));
  VideoWriterOptions o;
  o.width = frames[0].width;
  o.height = frames[0].height;
  o.time_base = Rational{fps.den, fps.num};
  o.frame_rate = fps;
  o.codec = codec;
  absl::StatusOr<std::unique_ptr<VideoWriter>> w = VideoWriter::Open(path, o);
  if (!w.ok()) return w.status();
  for (size_t k = 0; k < frames.size(); ++k) {
    const Image& f = frames[k];
    if (f.width != o.width || f.height != o.height || f.channels != 3) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": frame ", k, " is ", f.width, "x", f.height, "x",
                                                     f.channels, ", expected ", o.width, "x", o.height, "x3"));
    }
    if (absl::Status s = (*w)->Write(f.pixels.data(), static_cast<int64_t>(k)); !s.ok()) return s;
  }
  return (*w)->Close();
}

// ------------------------------------------------------------------ 16-bit PNG

absl::StatusOr<std::string> EncodeGray16Png(const uint16_t* values, int height, int width) {
  InstallLogger();
  if (height < 1 || width < 1 || int64_t{height} * width > (int64_t{1} << 28)) {
    return absl::InvalidArgumentError(absl::StrCat("16-bit PNG: bad size ", height, "x", width));
  }
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  if (codec == nullptr) return absl::UnimplementedError("16-bit PNG: this FFmpeg has no PNG encoder");
  CodecPtr c(avcodec_alloc_context3(codec));
  FramePtr f(av_frame_alloc());
  PacketPtr p(av_packet_alloc());
  if (!c || !f || !p) return absl::ResourceExhaustedError("16-bit PNG: out of memory");
  c->width = width;
  c->height = height;
  c->pix_fmt = AV_PIX_FMT_GRAY16BE;
  c->time_base = AVRational{1, 1};
  if (const int rc = avcodec_open2(c.get(), codec, nullptr); rc < 0) {
    return absl::InternalError(absl::StrCat("16-bit PNG: cannot open the encoder: ", AvError(rc)));
  }
  f->format = AV_PIX_FMT_GRAY16BE;
  f->width = width;
  f->height = height;
  if (av_frame_get_buffer(f.get(), 0) < 0) return absl::ResourceExhaustedError("16-bit PNG: out of memory");
  for (int y = 0; y < height; ++y) {
    uint8_t* row = f->data[0] + static_cast<ptrdiff_t>(y) * f->linesize[0];
    for (int x = 0; x < width; ++x) {
      const uint16_t v = values[static_cast<int64_t>(y) * width + x];
      row[2 * x] = static_cast<uint8_t>(v >> 8);
      row[2 * x + 1] = static_cast<uint8_t>(v & 0xff);
    }
  }
  f->pts = 0;
  if (const int rc = avcodec_send_frame(c.get(), f.get()); rc < 0) {
    return absl::InternalError(absl::StrCat("16-bit PNG: encoding failed: ", AvError(rc)));
  }
  avcodec_send_frame(c.get(), nullptr);
  if (const int rc = avcodec_receive_packet(c.get(), p.get()); rc < 0) {
    return absl::InternalError(absl::StrCat("16-bit PNG: encoding failed: ", AvError(rc)));
  }
  return std::string(reinterpret_cast<const char*>(p->data), static_cast<size_t>(p->size));
}

absl::Status WriteGray16Png(const std::string& path, const uint16_t* values, int height, int width) {
  absl::StatusOr<std::string> png = EncodeGray16Png(values, height, width);
  if (!png.ok()) return absl::Status(png.status().code(), absl::StrCat(path, ": ", png.status().message()));
  return util::WriteFileAtomically(path, *png);
}

absl::StatusOr<Gray16Image> DecodeGray16Png(const std::string& bytes, const std::string& name) {
  InstallLogger();
  TakeLastLog();
  // The header first: signature, then IHDR (width, height, bit depth, colour type).
  static const unsigned char kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() < 33 || std::memcmp(bytes.data(), kSig, 8) != 0 || bytes.compare(12, 4, "IHDR") != 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": not a PNG file"));
  }
  auto be32 = [&](size_t at) {
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data()) + at;
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  };
  const uint32_t width = be32(16), height = be32(20);
  const int depth = static_cast<unsigned char>(bytes[24]), colour = static_cast<unsigned char>(bytes[25]);
  if (depth != 16 || colour != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": not a 16-bit greyscale PNG (bit depth ", depth, ", colour type ", colour, ")"));
  }
  if (width == 0 || height == 0 || uint64_t{width} * height > (uint64_t{1} << 27)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": unsupported PNG size ", width, "x", height));
  }
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_PNG);
  if (codec == nullptr) return absl::UnimplementedError(absl::StrCat(name, ": this FFmpeg has no PNG decoder"));
  CodecPtr c(avcodec_alloc_context3(codec));
  FramePtr f(av_frame_alloc());
  PacketPtr p(av_packet_alloc());
  if (!c || !f || !p) return absl::ResourceExhaustedError(absl::StrCat(name, ": out of memory"));
  c->thread_count = 1;
  if (const int rc = avcodec_open2(c.get(), codec, nullptr); rc < 0) {
    return absl::InternalError(absl::StrCat(name, ": cannot open the PNG decoder: ", AvError(rc)));
  }
  if (av_new_packet(p.get(), static_cast<int>(bytes.size())) < 0) {
    return absl::ResourceExhaustedError(absl::StrCat(name, ": out of memory"));
  }
  std::memcpy(p->data, bytes.data(), bytes.size());
  int rc = avcodec_send_packet(c.get(), p.get());
  if (rc >= 0) {
    avcodec_send_packet(c.get(), nullptr);
    rc = avcodec_receive_frame(c.get(), f.get());
  }
  if (rc < 0) return absl::InvalidArgumentError(absl::StrCat(name, ": cannot decode the PNG: ", AvError(rc)));
  if (f->format != AV_PIX_FMT_GRAY16BE || f->width != static_cast<int>(width) ||
      f->height != static_cast<int>(height) || (f->flags & AV_FRAME_FLAG_CORRUPT) || f->decode_error_flags != 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": the PNG did not decode to ", width, "x", height,
                                                   " 16-bit greyscale (truncated or corrupt)"));
  }
  Gray16Image out;
  out.height = f->height;
  out.width = f->width;
  out.values.resize(static_cast<size_t>(out.height) * out.width);
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* row = f->data[0] + static_cast<ptrdiff_t>(y) * f->linesize[0];
    for (int x = 0; x < out.width; ++x) {
      out.values[static_cast<size_t>(y) * out.width + x] = static_cast<uint16_t>((row[2 * x] << 8) | row[2 * x + 1]);
    }
  }
  return out;
}

}  // namespace sal360::data

#include "data/image.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "stb/stb_image.h"
#include "stb/stb_image_write.h"
#include "util/file.h"

namespace sal360::data {

namespace {

bool IsJpeg(const std::string& b) {
  return b.size() >= 3 && static_cast<uint8_t>(b[0]) == 0xff &&
         static_cast<uint8_t>(b[1]) == 0xd8 && static_cast<uint8_t>(b[2]) == 0xff;
}
bool IsPng(const std::string& b) {
  static const char kSig[8] = {'\x89', 'P', 'N', 'G', '\r', '\n', '\x1a', '\n'};
  return b.size() >= 8 && std::memcmp(b.data(), kSig, 8) == 0;
}

// stb_image decodes a JPEG whose entropy-coded data is cut short without complaint
// (the missing blocks come out grey), so a truncated frame would train the model on
// garbage. A complete JPEG has an EOI marker (FF D9) after its first SOS segment;
// entropy-coded data cannot contain FF D9 (a data FF is stuffed as FF 00).
absl::Status CheckJpegComplete(const std::string& b, const std::string& name) {
  size_t pos = 2;  // after SOI
  const size_t n = b.size();
  while (true) {
    // Skip fill bytes (FF FF ...) before a marker.
    if (pos >= n) break;  // cut inside the headers
    if (static_cast<uint8_t>(b[pos]) != 0xff) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": corrupt JPEG: bad marker structure at byte ", pos));
    }
    while (pos < n && static_cast<uint8_t>(b[pos]) == 0xff) ++pos;
    if (pos >= n) break;
    const uint8_t marker = b[pos++];
    if (marker == 0xd9) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": corrupt JPEG: no image data"));
    }
    if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;  // no length
    if (pos + 2 > n) break;
    const size_t len = (static_cast<uint8_t>(b[pos]) << 8) | static_cast<uint8_t>(b[pos + 1]);
    if (len < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": corrupt JPEG: segment length ", len, " at byte ", pos));
    }
    if (pos + len > n) break;  // a segment cut short
    if (marker == 0xda) {      // SOS: entropy-coded data follows the header
      const size_t data_start = pos + len;
      for (size_t k = data_start; k + 1 < n; ++k) {
        if (static_cast<uint8_t>(b[k]) == 0xff && static_cast<uint8_t>(b[k + 1]) == 0xd9) {
          return absl::OkStatus();
        }
      }
      break;
    }
    pos += len;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": truncated JPEG: no end-of-image marker (the file was cut short; ",
                   b.size(), " bytes)"));
}

// stb_image trusts a scan's Huffman table selectors: a scan that names a table no DHT
// segment defined decodes with an all-zero table and trips an assertion in Debian's
// libstb (an abort), found by the image fuzzer (tests/fuzz/corpus/image_fuzzer/
// crash_jpeg_undefined_huffman_table.jpg: a baseline scan naming AC table 0 where only
// table 1 exists). Every scan must name tables defined before it: in a baseline scan
// both, in a progressive one the DC table for a first DC scan and the AC table for an AC
// scan (the tables stb_image reads). Walks every segment, skipping each scan's
// entropy-coded data; the structure itself was checked by CheckJpegComplete.
absl::Status CheckJpegHuffmanTables(const std::string& b, const std::string& name) {
  auto at = [&](size_t k) { return static_cast<uint8_t>(b[k]); };
  auto corrupt = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": corrupt JPEG: ", what));
  };
  const size_t n = b.size();
  uint8_t defined[2] = {0, 0};  // [class]: bit t set when DC (0) / AC (1) table t is defined
  bool progressive = false;
  size_t pos = 2;  // after SOI
  while (pos < n && at(pos) == 0xff) {
    while (pos < n && at(pos) == 0xff) ++pos;
    if (pos >= n) break;
    const uint8_t marker = at(pos++);
    if (marker == 0xd9) break;
    if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (pos + 2 > n) break;
    const size_t len = (size_t{at(pos)} << 8) | at(pos + 1);
    if (len < 2 || pos + len > n) break;
    const size_t seg = pos + 2, end = pos + len;
    if (marker == 0xc2 || marker == 0xc6 || marker == 0xca || marker == 0xce) progressive = true;
    if (marker == 0xc4) {  // DHT: one or more tables
      for (size_t k = seg; k < end;) {
        const int tc = at(k) >> 4, th = at(k) & 15;
        if (tc > 1 || th > 3) return corrupt(absl::StrCat("Huffman table id 0x", absl::Hex(at(k)), " at byte ", k));
        if (k + 17 > end) return corrupt(absl::StrCat("Huffman table cut short at byte ", k));
        size_t symbols = 0;
        for (int i = 1; i <= 16; ++i) symbols += at(k + i);
        if (k + 17 + symbols > end) return corrupt(absl::StrCat("Huffman table cut short at byte ", k));
        defined[tc] |= static_cast<uint8_t>(1u << th);
        k += 17 + symbols;
      }
    }
    if (marker == 0xda) {  // SOS
      const size_t ns = seg < end ? at(seg) : 0;
      if (ns < 1 || ns > 4 || seg + 1 + 2 * ns + 3 > end) {
        return corrupt(absl::StrCat("scan header at byte ", pos - 2));
      }
      const size_t tail = seg + 1 + 2 * ns;  // Ss, Se, Ah|Al
      const bool dc_scan = at(tail) == 0, dc_refinement = dc_scan && (at(tail + 2) >> 4) != 0;
      const bool need_dc = progressive ? dc_scan && !dc_refinement : true;
      const bool need_ac = progressive ? !dc_scan : true;
      for (size_t i = 0; i < ns; ++i) {
        const int td = at(seg + 2 + 2 * i) >> 4, ta = at(seg + 2 + 2 * i) & 15;
        if (need_dc && (td > 3 || !((defined[0] >> td) & 1))) {
          return corrupt(absl::StrCat("the scan at byte ", pos - 2, " uses DC Huffman table ", td,
                                      ", which no earlier DHT segment defines"));
        }
        if (need_ac && (ta > 3 || !((defined[1] >> ta) & 1))) {
          return corrupt(absl::StrCat("the scan at byte ", pos - 2, " uses AC Huffman table ", ta,
                                      ", which no earlier DHT segment defines"));
        }
      }
      // The entropy-coded data ends at the next marker: FF followed by neither a stuffed
      // 00, a restart marker D0-D7, nor a fill FF.
      size_t k = end;
      while (k + 1 < n && !(at(k) == 0xff && at(k + 1) != 0x00 && at(k + 1) != 0xff &&
                            !(at(k + 1) >= 0xd0 && at(k + 1) <= 0xd7))) {
        ++k;
      }
      pos = k;
      continue;
    }
    pos = end;
  }
  return absl::OkStatus();
}

absl::Status CheckPngComplete(const std::string& b, const std::string& name) {
  // The IEND chunk: length 0, "IEND", CRC AE 42 60 82, at the very end.
  static const char kIend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', '\xae', '\x42', '\x60', '\x82'};
  if (b.size() < 8 + 12 || std::memcmp(b.data() + b.size() - 12, kIend, 12) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": truncated PNG: no IEND chunk at the end (", b.size(), " bytes)"));
  }
  // Every chunk (length, type, data, CRC) must lie inside the file: stb_image grows its
  // compressed-data buffer to the lengths chunks declare before reading them, so a
  // 76-byte file declaring an 800 MB IDAT made it allocate 800 MB (found by fuzzing).
  size_t at = 8;
  while (at + 12 <= b.size()) {
    const uint32_t len = (uint32_t{static_cast<unsigned char>(b[at])} << 24) |
                         (uint32_t{static_cast<unsigned char>(b[at + 1])} << 16) |
                         (uint32_t{static_cast<unsigned char>(b[at + 2])} << 8) |
                         uint32_t{static_cast<unsigned char>(b[at + 3])};
    if (len > b.size() - at - 12) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": corrupt PNG: a chunk at byte ", at, " declares ",
                                                     len, " bytes, past the end of the file"));
    }
    at += 12 + size_t{len};
  }
  if (at != b.size()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": corrupt PNG: bytes after the last chunk"));
  }
  return absl::OkStatus();
}

// Taps of a 1-D resampling: output o reads `count` inputs from index[o·k...] with weights.
struct Taps {
  int out = 0, max_taps = 0;
  std::vector<int> index;     // (out, max_taps)
  std::vector<float> weight;  // (out, max_taps), unused taps have weight 0 and index 0
};

// in → out along one axis (see image.h). `wrap`: periodic (longitude) for bilinear.
Taps MakeTaps(int in, int out, bool wrap) {
  Taps t;
  t.out = out;
  if (out < in) {
    const double s = static_cast<double>(in) / out;
    t.max_taps = static_cast<int>(std::ceil(s)) + 1;
    t.index.assign(static_cast<size_t>(out) * t.max_taps, 0);
    t.weight.assign(static_cast<size_t>(out) * t.max_taps, 0.0f);
    for (int o = 0; o < out; ++o) {
      const double a = o * s, b = (o + 1) * s;
      int k = 0;
      for (int i = static_cast<int>(std::floor(a)); i < b && i < in; ++i) {
        const double overlap = std::min<double>(i + 1, b) - std::max<double>(i, a);
        if (overlap <= 0) continue;
        t.index[o * t.max_taps + k] = i;
        t.weight[o * t.max_taps + k] = static_cast<float>(overlap / s);
        ++k;
      }
    }
  } else {
    t.max_taps = 2;
    t.index.assign(static_cast<size_t>(out) * 2, 0);
    t.weight.assign(static_cast<size_t>(out) * 2, 0.0f);
    const double s = static_cast<double>(in) / out;
    for (int o = 0; o < out; ++o) {
      const double x = (o + 0.5) * s - 0.5;
      int i0 = static_cast<int>(std::floor(x));
      const double f = x - i0;
      int i1 = i0 + 1;
      if (wrap) {
        i0 = ((i0 % in) + in) % in;
        i1 = ((i1 % in) + in) % in;
      } else {
        i0 = std::clamp(i0, 0, in - 1);
        i1 = std::clamp(i1, 0, in - 1);
      }
      t.index[o * 2] = i0;
      t.index[o * 2 + 1] = i1;
      t.weight[o * 2] = static_cast<float>(1.0 - f);
      t.weight[o * 2 + 1] = static_cast<float>(f);
    }
  }
  return t;
}

// (h, w, c) of T → (h, ow, c) floats, scaled by `scale`. Channels accumulate together
// per tap (c ≤ 4), so each input pixel is read once per tap.
template <typename T>
void ResizeRows(const T* in, int h, int w, int c, const Taps& tx, float scale, float* out) {
  const int ow = tx.out;
  for (int y = 0; y < h; ++y) {
    const T* row = in + static_cast<size_t>(y) * w * c;
    float* orow = out + static_cast<size_t>(y) * ow * c;
    for (int o = 0; o < ow; ++o) {
      const int* idx = &tx.index[o * tx.max_taps];
      const float* wt = &tx.weight[o * tx.max_taps];
      float acc[4] = {0, 0, 0, 0};
      for (int k = 0; k < tx.max_taps; ++k) {
        const T* px = row + static_cast<size_t>(idx[k]) * c;
        for (int ch = 0; ch < c; ++ch) acc[ch] += wt[k] * static_cast<float>(px[ch]);
      }
      for (int ch = 0; ch < c; ++ch) orow[o * c + ch] = acc[ch] * scale;
    }
  }
}

// (h, ow, c) → (oh, ow, c).
void ResizeCols(const float* in, int ow, int c, const Taps& ty, float* out) {
  const size_t row_len = static_cast<size_t>(ow) * c;
  for (int o = 0; o < ty.out; ++o) {
    float* orow = out + o * row_len;
    std::fill(orow, orow + row_len, 0.0f);
    for (int k = 0; k < ty.max_taps; ++k) {
      const float wt = ty.weight[o * ty.max_taps + k];
      if (wt == 0.0f) continue;
      const float* irow = in + static_cast<size_t>(ty.index[o * ty.max_taps + k]) * row_len;
      for (size_t q = 0; q < row_len; ++q) orow[q] += wt * irow[q];
    }
  }
}

template <typename T>
std::vector<float> ResizeImpl(const T* in, int h, int w, int c, int oh, int ow, float scale) {
  if (c < 1 || c > 4 || h < 1 || w < 1 || oh < 1 || ow < 1) {
    std::fprintf(stderr, "data::Resize: invalid sizes %dx%dx%d -> %dx%d\n", h, w, c, oh, ow);
    std::abort();
  }
  std::vector<float> out(static_cast<size_t>(oh) * ow * c);
  if (h == oh && w == ow) {
    for (size_t k = 0; k < out.size(); ++k) out[k] = static_cast<float>(in[k]) * scale;
    return out;
  }
  std::vector<float> tmp(static_cast<size_t>(h) * ow * c);
  ResizeRows(in, h, w, c, MakeTaps(w, ow, /*wrap=*/true), scale, tmp.data());
  if (h == oh) return tmp;
  ResizeCols(tmp.data(), ow, c, MakeTaps(h, oh, /*wrap=*/false), out.data());
  return out;
}

void AppendToString(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
}

absl::Status CheckEncodable(const Image& image) {
  if (image.height < 1 || image.width < 1 ||
      (image.channels != 1 && image.channels != 3 && image.channels != 4) ||
      image.pixels.size() != static_cast<size_t>(image.height) * image.width * image.channels) {
    return absl::InvalidArgumentError(absl::StrCat("cannot encode a ", image.height, "x",
                                                   image.width, "x", image.channels, " image of ",
                                                   image.pixels.size(), " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ImageInfo(const std::string& bytes, const std::string& name, int* height, int* width) {
  if (bytes.empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": empty file"));
  if (!IsJpeg(bytes) && !IsPng(bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": not a JPEG or PNG image (unrecognised header)"));
  }
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": image file too large"));
  }
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                             static_cast<int>(bytes.size()), &w, &h, &comp)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": corrupt ",
                                                   IsJpeg(bytes) ? "JPEG" : "PNG", " header (",
                                                   stbi_failure_reason(), ")"));
  }
  *height = h;
  *width = w;
  return absl::OkStatus();
}

absl::StatusOr<Image> DecodeImage(const std::string& bytes, const std::string& name, int channels,
                                  const DecodeLimits& limits) {
  if (channels != 1 && channels != 3 && channels != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": cannot decode to ", channels, " channels"));
  }
  int h = 0, w = 0;
  if (auto s = ImageInfo(bytes, name, &h, &w); !s.ok()) return s;
  if (h < 1 || w < 1 || static_cast<int64_t>(h) * w > limits.max_pixels) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": image of ", w, "x", h,
                                                   " pixels exceeds the limit of ",
                                                   limits.max_pixels, " pixels"));
  }
  if (auto s = IsJpeg(bytes) ? CheckJpegComplete(bytes, name) : CheckPngComplete(bytes, name);
      !s.ok()) {
    return s;
  }
  if (IsJpeg(bytes)) {
    if (auto s = CheckJpegHuffmanTables(bytes, name); !s.ok()) return s;
  }
  int dw = 0, dh = 0, comp = 0;
  stbi_uc* px = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                      static_cast<int>(bytes.size()), &dw, &dh, &comp, channels);
  if (px == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": corrupt ",
                                                   IsJpeg(bytes) ? "JPEG" : "PNG",
                                                   " (decoder: ", stbi_failure_reason(), ")"));
  }
  Image img;
  img.height = dh;
  img.width = dw;
  img.channels = channels;
  img.pixels.assign(px, px + static_cast<size_t>(dh) * dw * channels);
  stbi_image_free(px);
  return img;
}

absl::StatusOr<Image> ReadImage(const std::string& path, int channels, const DecodeLimits& limits) {
  auto bytes = util::ReadFile(path, limits.max_file_bytes);
  if (!bytes.ok()) return bytes.status();
  return DecodeImage(*bytes, path, channels, limits);
}

std::vector<float> ResizeToFloat(const Image& image, int out_h, int out_w) {
  return ResizeImpl(image.pixels.data(), image.height, image.width, image.channels, out_h, out_w,
                    1.0f / 255.0f);
}

std::vector<float> ResizeFloat(const float* in, int h, int w, int channels, int out_h, int out_w) {
  return ResizeImpl(in, h, w, channels, out_h, out_w, 1.0f);
}

Image ResizeImage(const Image& image, int out_h, int out_w) {
  std::vector<float> f = ResizeImpl(image.pixels.data(), image.height, image.width, image.channels,
                                    out_h, out_w, 1.0f);
  Image out;
  out.height = out_h;
  out.width = out_w;
  out.channels = image.channels;
  out.pixels.resize(f.size());
  for (size_t k = 0; k < f.size(); ++k) {
    out.pixels[k] = static_cast<uint8_t>(std::clamp(std::lround(f[k]), 0L, 255L));
  }
  return out;
}

absl::StatusOr<std::string> EncodeJpeg(const Image& image, int quality) {
  if (auto s = CheckEncodable(image); !s.ok()) return s;
  if (quality < 1 || quality > 100) {
    return absl::InvalidArgumentError(absl::StrCat("JPEG quality ", quality, " not in 1..100"));
  }
  std::string out;
  if (!stbi_write_jpg_to_func(AppendToString, &out, image.width, image.height, image.channels,
                              image.pixels.data(), quality)) {
    return absl::InternalError("stb_image_write failed to encode a JPEG");
  }
  return out;
}

absl::StatusOr<std::string> EncodePngImage(const Image& image) {
  if (auto s = CheckEncodable(image); !s.ok()) return s;
  std::string out;
  if (!stbi_write_png_to_func(AppendToString, &out, image.width, image.height, image.channels,
                              image.pixels.data(), image.width * image.channels)) {
    return absl::InternalError("stb_image_write failed to encode a PNG");
  }
  return out;
}

absl::Status WriteImage(const std::string& path, const Image& image, int jpeg_quality) {
  auto ends_with = [&](const char* suffix) {
    const size_t n = std::strlen(suffix);
    if (path.size() < n) return false;
    for (size_t k = 0; k < n; ++k) {
      if (std::tolower(static_cast<unsigned char>(path[path.size() - n + k])) != suffix[k]) {
        return false;
      }
    }
    return true;
  };
  absl::StatusOr<std::string> bytes;
  if (ends_with(".jpg") || ends_with(".jpeg")) {
    bytes = EncodeJpeg(image, jpeg_quality);
  } else if (ends_with(".png")) {
    bytes = EncodePngImage(image);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": unknown image extension (use .jpg, .jpeg or .png)"));
  }
  if (!bytes.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", bytes.status().message()));
  return util::WriteFileAtomically(path, *bytes);
}

}  // namespace sal360::data

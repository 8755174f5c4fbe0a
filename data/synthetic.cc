#include "data/synthetic.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/dataset.h"
#include "data/pickle.h"
#include "sphere/erp.h"
#include "util/file.h"
#include "util/splitmix.h"

namespace sal360::data {

namespace fs = std::filesystem;

namespace {

using sphere::kPi;

// SplitMix64 stream; Uniform/Normal built on it so that the output is the same with
// every standard library.
struct Rng {
  uint64_t s;
  uint64_t Next() { return util::SplitMix64(s); }
  double Uniform() { return util::SplitMixUnit(s); }  // [0, 1)
  double Uniform(double a, double b) { return a + (b - a) * Uniform(); }
  double Normal() {  // Box–Muller
    const double u1 = 1.0 - Uniform(), u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * kPi * u2);
  }
};

// The scene's frame: directions (lat, lon) with lon in (-pi, pi], lon = 0 facing the
// middle of the panorama. Pixels and gaze points map to it through the one ERP
// convention of sphere/erp.h (image longitude phi = lon + pi).
using sphere::Vec3;
Vec3 Dir(double lat, double lon) { return sphere::UnitVector(lat, lon); }
double SceneLat(int i, int h) { return sphere::PixelLatitude(i, h); }
double SceneLon(int j, int w) { return sphere::PixelLongitude(j, w) - kPi; }

struct Rgb {
  float r, g, b;
};
Rgb Hsv(double h, double s, double v) {
  h = h - std::floor(h);
  const double c = v * s, hp = h * 6, x = c * (1 - std::abs(std::fmod(hp, 2.0) - 1)), m = v - c;
  double r = 0, g = 0, b = 0;
  if (hp < 1) {
    r = c, g = x;
  } else if (hp < 2) {
    r = x, g = c;
  } else if (hp < 3) {
    g = c, b = x;
  } else if (hp < 4) {
    g = x, b = c;
  } else if (hp < 5) {
    r = x, b = c;
  } else {
    r = c, b = x;
  }
  return {static_cast<float>(r + m), static_cast<float>(g + m), static_cast<float>(b + m)};
}

double SmoothStep(double e0, double e1, double x) {
  const double t = std::clamp((x - e0) / (e1 - e0), 0.0, 1.0);
  return t * t * (3 - 2 * t);
}

struct Object {
  bool salient = true;
  double lat0, lon0, vlon, amp, period, phase, radius;
  Rgb colour;
  double weight = 0;  // attractiveness (salient objects): ∝ area
  double Lat(int t) const { return lat0 + amp * std::sin(2 * kPi * t / period + phase); }
  double Lon(int t) const { return lon0 + vlon * t; }
};

struct Wave {
  Vec3 d;
  double freq, phase, amp;
  Rgb tint;
};

struct Scene {
  std::vector<Object> objects;    // distractors first, then salient ones
  std::vector<float> background;  // (H, W, 3), before panning
  double pan = 0;                 // columns per frame
};

uint64_t VideoSeed(uint64_t seed, int index) {
  Rng r{seed ^ 0x5a1360d47a5e7ULL};
  uint64_t s = r.Next();
  for (int k = 0; k <= index; ++k) s = r.Next() ^ (s * 0x9e3779b97f4a7c15ULL);
  return s;
}

std::vector<Object> MakeObjects(const SyntheticOptions& o, Rng& rng) {
  std::vector<Object> objects;  // distractors first (drawn below), then the salient ones
  auto make_object = [&](bool salient, bool anywhere) {
    Object ob;
    ob.salient = salient;
    ob.lat0 = anywhere ? rng.Uniform(-1.25, 1.25) : std::clamp(0.35 * rng.Normal(), -1.1, 1.1);
    ob.lon0 = rng.Uniform(-kPi, kPi);
    ob.vlon = rng.Uniform(0.04, 0.12) * (rng.Uniform() < 0.5 ? -1 : 1);
    ob.amp = rng.Uniform(0, 0.15);
    ob.period = rng.Uniform(20, 60);
    ob.phase = rng.Uniform(0, 2 * kPi);
    if (salient) {
      ob.radius = rng.Uniform(0.12, 0.22);
      ob.colour = Hsv(rng.Uniform(), rng.Uniform(0.75, 1.0), rng.Uniform(0.85, 1.0));
      ob.weight = ob.radius * ob.radius;
    } else {
      ob.radius = rng.Uniform(0.10, 0.25);
      ob.colour = Hsv(rng.Uniform(), rng.Uniform(0.0, 0.15), rng.Uniform(0.18, 0.42));
    }
    return ob;
  };
  for (int k = 0; k < o.distractors; ++k) objects.push_back(make_object(false, false));
  for (int k = 0; k < o.objects; ++k) {
    // One salient object per video may be anywhere (poles included): exercises the
    // distortion of shapes near the poles in the images and the maps.
    objects.push_back(make_object(true, k == o.objects - 1));
  }
  return objects;
}

// Background: sky above the horizon, ground below, low-saturation texture waves (each a
// function of the 3-D direction, so continuous across the seam and at the poles).
std::vector<float> MakeBackground(const SyntheticOptions& o, Rng& rng, double* pan) {
  const int h = o.height, w = o.width;
  const double hue = rng.Uniform();
  const Rgb sky = Hsv(hue, rng.Uniform(0.05, 0.2), rng.Uniform(0.42, 0.55));
  const Rgb ground =
      Hsv(hue + rng.Uniform(0.05, 0.2), rng.Uniform(0.1, 0.25), rng.Uniform(0.22, 0.34));
  std::vector<Wave> waves;
  for (int k = 0; k < 9; ++k) {
    const double lat = std::asin(rng.Uniform(-1, 1)), lon = rng.Uniform(-kPi, kPi);
    const bool fine = k >= 6;
    const double tint_h = hue + rng.Uniform(-0.1, 0.1);
    waves.push_back({Dir(lat, lon), fine ? rng.Uniform(25, 60) : rng.Uniform(2, 8),
                     rng.Uniform(0, 2 * kPi), fine ? 0.025 : 0.05, Hsv(tint_h, 0.2, 1.0)});
  }
  std::vector<float> bg(static_cast<size_t>(h) * w * 3);  // (H, W, 3)
  for (int i = 0; i < h; ++i) {
    const double lat = SceneLat(i, h);
    const double horizon = SmoothStep(-0.08, 0.08, lat);
    for (int j = 0; j < w; ++j) {
      const double lon = SceneLon(j, w);
      const Vec3 p = Dir(lat, lon);
      double r = ground.r + (sky.r - ground.r) * horizon;
      double g = ground.g + (sky.g - ground.g) * horizon;
      double b = ground.b + (sky.b - ground.b) * horizon;
      for (const Wave& wv : waves) {
        const double v =
            wv.amp * std::cos(wv.freq * (p.x * wv.d.x + p.y * wv.d.y + p.z * wv.d.z) + wv.phase);
        r += v * wv.tint.r;
        g += v * wv.tint.g;
        b += v * wv.tint.b;
      }
      float* px = &bg[(static_cast<size_t>(i) * w + j) * 3];
      px[0] = static_cast<float>(r);
      px[1] = static_cast<float>(g);
      px[2] = static_cast<float>(b);
    }
  }
  *pan = rng.Uniform(-0.6, 0.6);
  return bg;
}

void RenderFrame(const SyntheticOptions& o, const Scene& sc, int t, Image* out) {
  const int h = o.height, w = o.width;
  std::vector<float> img(static_cast<size_t>(h) * w * 3);
  // Camera pan: the background turns by `pan` columns per frame (linear interpolation).
  const double shift = sc.pan * t;
  const double fl = std::floor(shift);
  const float frac = static_cast<float>(shift - fl);
  const int s0 = static_cast<int>(((static_cast<int64_t>(fl) % w) + w) % w);
  for (int i = 0; i < h; ++i) {
    const float* row = &sc.background[static_cast<size_t>(i) * w * 3];
    float* orow = &img[static_cast<size_t>(i) * w * 3];
    for (int j = 0; j < w; ++j) {
      const int a = (j + s0) % w, b = (a + 1) % w;
      for (int c = 0; c < 3; ++c)
        orow[j * 3 + c] = (1 - frac) * row[a * 3 + c] + frac * row[b * 3 + c];
    }
  }
  const double aa = 0.5 * kPi / h;  // half a pixel of anti-aliasing
  for (const Object& ob : sc.objects) {
    const double lat_c = ob.Lat(t), lon_c = ob.Lon(t);
    const Vec3 c = Dir(lat_c, lon_c);
    const double outer = ob.radius + aa;
    const double cos_outer = std::cos(outer);
    for (int i = 0; i < h; ++i) {
      const double lat = SceneLat(i, h);
      if (std::abs(lat - lat_c) > outer) continue;
      for (int j = 0; j < w; ++j) {
        const double lon = SceneLon(j, w);
        const Vec3 p = Dir(lat, lon);
        const double dot = p.x * c.x + p.y * c.y + p.z * c.z;
        if (dot <= cos_outer) continue;
        const double ang = std::acos(std::min(1.0, dot));
        const double alpha = 1 - SmoothStep(ob.radius - aa, ob.radius + aa, ang);
        Rgb col = ob.colour;
        const double rel = ang / ob.radius;
        if (ob.salient && rel > 0.78) {
          col = {0.97f, 0.97f, 0.95f};  // white rim
        } else {
          const float shade = static_cast<float>(1 - 0.25 * rel * rel);
          col = {col.r * shade, col.g * shade, col.b * shade};
        }
        float* px = &img[(static_cast<size_t>(i) * w + j) * 3];
        const float a = static_cast<float>(alpha);
        px[0] = (1 - a) * px[0] + a * col.r;
        px[1] = (1 - a) * px[1] + a * col.g;
        px[2] = (1 - a) * px[2] + a * col.b;
      }
    }
  }
  out->height = h;
  out->width = w;
  out->channels = 3;
  out->pixels.resize(img.size());
  for (size_t k = 0; k < img.size(); ++k) {
    out->pixels[k] = static_cast<uint8_t>(std::clamp(std::lround(img[k] * 255.0f), 0L, 255L));
  }
}

GazePoint ToGaze(double lat, double lon) {
  const sphere::Point p = sphere::PointOf(lat, lon + kPi);
  return {p.x, p.y};
}

// The direction at tangent offsets (east, north) radians from (lat, lon).
GazePoint Offset(double lat, double lon, double east, double north) {
  const Vec3 c = Dir(lat, lon);
  const Vec3 e = {-std::sin(lon), std::cos(lon), 0};
  const Vec3 n = {-std::sin(lat) * std::cos(lon), -std::sin(lat) * std::sin(lon), std::cos(lat)};
  Vec3 q = {c.x + east * e.x + north * n.x, c.y + east * e.y + north * n.y,
            c.z + east * e.z + north * n.z};
  const double len = std::sqrt(q.x * q.x + q.y * q.y + q.z * q.z);
  q = {q.x / len, q.y / len, q.z / len};
  return ToGaze(std::asin(std::clamp(q.z, -1.0, 1.0)), std::atan2(q.y, q.x));
}

int PickSalient(const Scene& sc, Rng& rng) {
  double total = 0;
  for (const Object& ob : sc.objects) total += ob.weight;
  double u = rng.Uniform() * total;
  int last = -1;
  for (int k = 0; k < static_cast<int>(sc.objects.size()); ++k) {
    if (sc.objects[k].weight <= 0) continue;
    last = k;
    if (u < sc.objects[k].weight) return k;
    u -= sc.objects[k].weight;
  }
  return last;
}

absl::Status WritePlainFile(const std::string& path, const std::string& data) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::InternalError(absl::StrCat(path, ": cannot create"));
  const size_t n = std::fwrite(data.data(), 1, data.size(), f);
  const bool ok = n == data.size() && std::fclose(f) == 0;
  if (!ok) return absl::InternalError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace

absl::Status SyntheticOptions::Validate() const {
  auto bad = [](const std::string& m) {
    return absl::InvalidArgumentError("synthetic dataset: " + m);
  };
  if (videos < 1 || videos > 100000)
    return bad(absl::StrCat("videos=", videos, " not in [1, 100000]"));
  if (frames < 1 || frames > 9999) return bad(absl::StrCat("frames=", frames, " not in [1, 9999]"));
  if (height < 8 || width < 16 || height > 8192 || width > 16384) {
    return bad(absl::StrCat("size ", height, "x", width, " out of range (8..8192 x 16..16384)"));
  }
  if (viewers < 1 || viewers > 10000)
    return bad(absl::StrCat("viewers=", viewers, " not in [1, 10000]"));
  if (objects < 1 || objects > 64) return bad(absl::StrCat("objects=", objects, " not in [1, 64]"));
  if (distractors < 0 || distractors > 64)
    return bad(absl::StrCat("distractors=", distractors, " not in [0, 64]"));
  if (!(gaze_noise >= 0 && gaze_noise < 1)) return bad("gaze_noise must be in [0, 1) rad");
  if (!(explore_prob >= 0 && explore_prob <= 1)) return bad("explore_prob must be in [0, 1]");
  if (jpeg_quality < 1 || jpeg_quality > 100) return bad("jpeg_quality must be in [1, 100]");
  if (pickle_protocol < 2 || pickle_protocol > 4) return bad("pickle_protocol must be 2, 3 or 4");
  if (gt_cache && (gt_cache_height < 1 || gt_cache_width < 1 || gt_cache_height > 8192 ||
                   gt_cache_width > 16384)) {
    return bad("invalid gt cache size");
  }
  if (!(gt_options.sigma > 0)) return bad("sigma must be > 0");
  return absl::OkStatus();
}

std::string SyntheticOptions::Key() const {
  return absl::StrFormat("v%d_s%d_%dx%d_%dx%d_u%d_o%d_d%d_n%g_e%g_q%d_p%d_g%s_sig%g",
                         kSyntheticVersion, seed, videos, frames, height, width, viewers, objects,
                         distractors, gaze_noise, explore_prob, jpeg_quality, pickle_protocol,
                         gt_cache ? absl::StrCat(gt_cache_height, "x", gt_cache_width) : "0",
                         gt_options.sigma) +
         (gaze_csv ? "_csv" : "");
}

std::vector<SyntheticObject> SyntheticObjectsAt(const SyntheticOptions& o, int index, int frame) {
  Rng rng{VideoSeed(o.seed, index)};
  std::vector<SyntheticObject> out;
  for (const Object& ob : MakeObjects(o, rng)) {
    out.push_back({ob.salient, ob.Lat(frame - 1), std::remainder(ob.Lon(frame - 1), 2 * kPi),
                   ob.radius, ob.weight});
  }
  return out;
}

std::string SyntheticVideoName(int index) { return absl::StrFormat("syn%03d", index); }

std::vector<SyntheticFrame> RenderSyntheticVideo(const SyntheticOptions& o, int index) {
  Rng rng{VideoSeed(o.seed, index)};
  Scene sc;
  sc.objects = MakeObjects(o, rng);
  Rng bg_rng{rng.Next()}, gaze_rng{rng.Next()};
  sc.background = MakeBackground(o, bg_rng, &sc.pan);

  struct Viewer {
    int target;
    double off_e, off_n;
  };
  std::vector<Viewer> viewers(o.viewers);
  for (Viewer& v : viewers) {
    v.target = PickSalient(sc, gaze_rng);
    v.off_e = 0.02 * gaze_rng.Normal();
    v.off_n = 0.02 * gaze_rng.Normal();
  }
  std::vector<SyntheticFrame> frames(o.frames);
  for (int f = 0; f < o.frames; ++f) {
    const int t = f;  // frame id f + 1
    RenderFrame(o, sc, t, &frames[f].image);
    std::vector<GazePoint>& gaze = frames[f].gaze;
    for (Viewer& v : viewers) {
      if (gaze_rng.Uniform() < 0.08) {
        v.target = PickSalient(sc, gaze_rng);
        v.off_e = 0.02 * gaze_rng.Normal();
        v.off_n = 0.02 * gaze_rng.Normal();
      }
      if (gaze_rng.Uniform() < o.explore_prob) {
        // Looking around: the equator bias of free viewing.
        const double lat = std::clamp(0.3 * gaze_rng.Normal(), -kPi / 2, kPi / 2);
        gaze.push_back(ToGaze(lat, gaze_rng.Uniform(-kPi, kPi)));
        continue;
      }
      const Object& ob = sc.objects[v.target];
      gaze.push_back(Offset(ob.Lat(t), ob.Lon(t), v.off_e + o.gaze_noise * gaze_rng.Normal(),
                            v.off_n + o.gaze_noise * gaze_rng.Normal()));
    }
  }
  return frames;
}

absl::StatusOr<SyntheticStats> MakeSyntheticDataset(
    const std::string& out_dir, const SyntheticOptions& options,
    const std::function<void(int64_t, int64_t)>& progress) {
  if (auto s = options.Validate(); !s.ok()) return s;
  const auto start = std::chrono::steady_clock::now();
  if (auto s = util::MakeDirs(out_dir); !s.ok()) return s;
  std::error_code ec;
  if (fs::exists(out_dir + "/" + kVinfoFileName, ec) || fs::exists(out_dir + "/" + kGazeCsvFileName, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat(out_dir, ": already holds a dataset (vinfo.pkl); choose an empty directory"));
  }
  const int64_t total = static_cast<int64_t>(options.videos) * options.frames;
  GazeTable table;
  for (int v = 0; v < options.videos; ++v) table[SyntheticVideoName(v)];  // keys exist up front

  std::mutex mu;
  absl::Status first_error;
  std::atomic<int> next_video{0};
  int64_t done = 0, bytes = 0;
  auto worker = [&] {
    while (true) {
      const int v = next_video.fetch_add(1);
      if (v >= options.videos) return;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error.ok()) return;
      }
      const std::string name = SyntheticVideoName(v);
      const std::string dir = out_dir + "/" + name;
      absl::Status st = util::MakeDirs(dir);
      std::vector<SyntheticFrame> frames = RenderSyntheticVideo(options, v);
      std::map<int, std::vector<GazePoint>> gaze;
      int64_t video_bytes = 0;
      for (int f = 0; f < options.frames && st.ok(); ++f) {
        const int id = f + 1;
        auto jpg = EncodeJpeg(frames[f].image, options.jpeg_quality);
        if (!jpg.ok()) {
          st = jpg.status();
          break;
        }
        video_bytes += static_cast<int64_t>(jpg->size());
        st = WritePlainFile(absl::StrCat(dir, "/", FrameKey(id), ".jpg"), *jpg);
        if (st.ok() && options.gt_cache) {
          auto map = GroundTruthMap(frames[f].gaze, options.gt_cache_height, options.gt_cache_width,
                                    options.gt_options);
          st = map.ok() ? WriteGtCache(absl::StrCat(dir, "/", FrameKey(id), "_gt.npy"), *map,
                                       options.gt_cache_height, options.gt_cache_width)
                        : map.status();
        }
        gaze[id] = std::move(frames[f].gaze);
      }
      std::lock_guard<std::mutex> lock(mu);
      if (!st.ok()) {
        if (first_error.ok()) first_error = st;
        return;
      }
      table[name] = std::move(gaze);
      done += options.frames;
      bytes += video_bytes;
      if (progress) progress(done, total);
    }
  };
  const int n_threads = std::max(
      1, std::min<int>({options.videos, 4, static_cast<int>(std::thread::hardware_concurrency())}));
  std::vector<std::thread> threads;
  for (int k = 0; k < n_threads; ++k) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  if (!first_error.ok()) return first_error;

  // vinfo.pkl (or gaze.csv) last (atomically): its presence marks a complete dataset.
  absl::StatusOr<std::string> pkl =
      options.gaze_csv ? absl::StatusOr<std::string>(GazeTableToCsv(table))
                       : SerializePickle(GazeTableToPickle(table), options.pickle_protocol);
  if (!pkl.ok()) return pkl.status();
  if (auto s = util::WriteFileAtomically(out_dir + "/" + (options.gaze_csv ? kGazeCsvFileName : kVinfoFileName), *pkl);
      !s.ok()) {
    return s;
  }

  SyntheticStats stats;
  stats.videos = options.videos;
  stats.frames = total;
  stats.gaze_points = total * options.viewers;
  stats.bytes = bytes + static_cast<int64_t>(pkl->size());
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

std::string DefaultSyntheticCacheDir() {
  std::string base;
  if (const char* c = std::getenv("SAL360_CACHE"); c && *c) {
    base = c;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    base = absl::StrCat(x, "/sal360");
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    base = absl::StrCat(h, "/.cache/sal360");
  } else {
    base = "/tmp/sal360-cache";
  }
  return base + "/synthetic";
}

absl::StatusOr<std::string> EnsureSyntheticDataset(
    const SyntheticOptions& options, const std::string& cache_dir_in,
    const std::function<void(int64_t, int64_t)>& progress) {
  if (auto s = options.Validate(); !s.ok()) return s;
  const std::string cache_dir = cache_dir_in.empty() ? DefaultSyntheticCacheDir() : cache_dir_in;
  const std::string root = cache_dir + "/" + options.Key();
  const std::string marker = root + "/.complete";
  std::error_code ec;
  if (fs::exists(marker, ec)) return root;
  if (fs::exists(root, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        root, ": exists but is not a complete synthetic dataset (no .complete marker); delete it"));
  }
  if (auto s = util::MakeDirs(cache_dir); !s.ok()) return s;
  Rng r{static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
        static_cast<uint64_t>(::getpid())};
  const std::string tmp = absl::StrFormat("%s.tmp-%d-%016x", root, ::getpid(), r.Next());
  auto cleanup = [&] { fs::remove_all(tmp, ec); };
  auto stats = MakeSyntheticDataset(tmp, options, progress);
  if (!stats.ok()) {
    cleanup();
    return stats.status();
  }
  if (auto s = util::WriteFileAtomically(tmp + "/.complete", options.Key() + "\n"); !s.ok()) {
    cleanup();
    return s;
  }
  fs::rename(tmp, root, ec);
  if (ec) {
    // Another process may have finished first: use its copy.
    cleanup();
    if (fs::exists(marker)) return root;
    return absl::InternalError(absl::StrCat("cannot move ", tmp, " to ", root, ": ", ec.message()));
  }
  return root;
}

}  // namespace sal360::data

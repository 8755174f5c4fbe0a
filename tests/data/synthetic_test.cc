// Tests of the synthetic dataset (data/synthetic.h): determinism, drawing on the sphere,
// gaze that follows the objects, and saliency that is predictable from the pixels.
#include "data/synthetic.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "data/dataset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sal360::data {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr double kPi = 3.14159265358979323846;

std::string TmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

SyntheticOptions Opts(int h = 60, int w = 120) {
  SyntheticOptions o;
  o.height = h;
  o.width = w;
  o.frames = 12;
  o.videos = 6;
  return o;
}

double Geodesic(double lat1, double lon1, double lat2, double lon2) {
  const double c =
      std::sin(lat1) * std::sin(lat2) + std::cos(lat1) * std::cos(lat2) * std::cos(lon1 - lon2);
  return std::acos(std::clamp(c, -1.0, 1.0));
}

void Hsv(const uint8_t* p, double* s, double* v) {
  const double mx = std::max({p[0], p[1], p[2]}) / 255.0, mn = std::min({p[0], p[1], p[2]}) / 255.0;
  *v = mx;
  *s = mx > 0 ? (mx - mn) / mx : 0;
}

TEST(SyntheticTest, DeterministicFromTheSeed) {
  const SyntheticOptions o = Opts(24, 48);
  const auto a = RenderSyntheticVideo(o, 2), b = RenderSyntheticVideo(o, 2);
  ASSERT_EQ(a.size(), 12u);
  for (size_t f = 0; f < a.size(); ++f) {
    EXPECT_EQ(a[f].image.pixels, b[f].image.pixels);
    EXPECT_EQ(a[f].gaze, b[f].gaze);
  }
  SyntheticOptions o2 = o;
  o2.seed = 2;
  EXPECT_NE(RenderSyntheticVideo(o2, 2)[0].image.pixels, a[0].image.pixels);
  EXPECT_NE(RenderSyntheticVideo(o, 3)[0].gaze, a[0].gaze);
  EXPECT_NE(o.Key(), o2.Key());
  EXPECT_EQ(SyntheticVideoName(7), "syn007");
}

// Objects are caps on the sphere: every pixel whose centre lies within 0.7 radii of the
// topmost salient object's centre shows its saturated colour, wherever the cap is —
// across the seam and over a pole, where it covers many more columns.
TEST(SyntheticTest, ObjectsAreDrawnOnTheSphere) {
  const SyntheticOptions o = Opts();
  const int h = o.height, w = o.width;
  int seam_frames = 0, polar_frames = 0, rendered = 0;
  // Videos 0-1 plus later ones (up to 40) whose top object reaches |lat| > 1 rad or
  // crosses the seam, until both cases were seen in 3 frames.
  for (int v = 0; v < 40 && (polar_frames < 3 || seam_frames < 3 || v < 2); ++v) {
    bool wanted = v < 2;
    for (int f = 1; f <= o.frames; ++f) {
      const SyntheticObject top = SyntheticObjectsAt(o, v, f).back();
      wanted |= std::abs(top.lat) > 1.0 || std::abs(std::abs(top.lon) - kPi) < 0.7 * top.radius;
    }
    if (!wanted) continue;
    ++rendered;
    const auto frames = RenderSyntheticVideo(o, v);
    for (int f = 1; f <= o.frames; ++f) {
      const std::vector<SyntheticObject> obs = SyntheticObjectsAt(o, v, f);
      const SyntheticObject& top = obs.back();
      ASSERT_TRUE(top.salient);
      const Image& img = frames[f - 1].image;
      int inside = 0, cols_touched = 0;
      std::vector<bool> col_hit(w, false);
      for (int i = 0; i < h; ++i) {
        for (int j = 0; j < w; ++j) {
          const double lat = kPi / 2 - kPi * (i + 0.5) / h, lon = 2 * kPi * (j + 0.5) / w - kPi;
          if (Geodesic(lat, lon, top.lat, top.lon) > 0.7 * top.radius) continue;
          double s, val;
          Hsv(&img.pixels[(i * w + j) * 3], &s, &val);
          ASSERT_GT(s, 0.5) << "video " << v << " frame " << f << " pixel " << i << "," << j;
          ASSERT_GT(val, 0.55);
          ++inside;
          col_hit[j] = true;
        }
      }
      for (bool c : col_hit) cols_touched += c;
      if (std::abs(std::abs(top.lon) - kPi) < 0.7 * top.radius) ++seam_frames;
      if (std::abs(top.lat) > 1.0) {
        ++polar_frames;
        // At |lat| > 1 rad the cap spans more than 1/cos(1) ≈ 1.85 times the columns it
        // would at the equator (2 · 0.7r · w / 2π): the ERP stretch.
        EXPECT_GT(cols_touched, 1.5 * (1.4 * top.radius * w / (2 * kPi)));
      }
      EXPECT_GT(inside, 0);
    }
  }
  // The scenes do cross the seam and approach the poles.
  std::printf("%d videos: frames with the top object across the seam: %d, beyond 1 rad: %d\n",
              rendered, seam_frames, polar_frames);
  EXPECT_GT(seam_frames, 0);
  EXPECT_GT(polar_frames, 0);
}

// Gaze follows the salient objects: all but the exploring viewers look within a few
// noise widths of a salient object's cap.
TEST(SyntheticTest, GazeFollowsTheObjects) {
  const SyntheticOptions o = Opts(24, 48);
  int64_t near = 0, total = 0;
  for (int v = 0; v < o.videos; ++v) {
    const auto frames = RenderSyntheticVideo(o, v);
    for (int f = 1; f <= o.frames; ++f) {
      const auto obs = SyntheticObjectsAt(o, v, f);
      ASSERT_EQ(static_cast<int>(frames[f - 1].gaze.size()), o.viewers);
      for (const GazePoint& g : frames[f - 1].gaze) {
        ASSERT_TRUE(ValidateGaze({g}, "gaze").ok());
        const double lat = kPi / 2 - kPi * g.y, lon = 2 * kPi * g.x - kPi;
        bool close = false;
        for (const SyntheticObject& ob : obs) {
          if (ob.salient && Geodesic(lat, lon, ob.lat, ob.lon) < 4 * (o.gaze_noise + 0.02) * 1.5) {
            close = true;
          }
        }
        near += close;
        ++total;
      }
    }
  }
  const double frac = static_cast<double>(near) / total;
  EXPECT_GT(frac, 1 - o.explore_prob - 0.05);
  EXPECT_LT(frac, 1.0);  // some viewers explore
}

double Pearson(const std::vector<double>& a, const std::vector<float>& b) {
  double ma = 0, mb = 0;
  for (size_t k = 0; k < a.size(); ++k) ma += a[k], mb += b[k];
  ma /= a.size();
  mb /= b.size();
  double sab = 0, saa = 0, sbb = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    sab += (a[k] - ma) * (b[k] - mb);
    saa += (a[k] - ma) * (a[k] - ma);
    sbb += (b[k] - mb) * (b[k] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

// The point of the dataset: saliency is predictable from the pixels. A predictor that
// knows nothing but "bright, saturated pixels are salient" (blurred on the sphere) beats
// the best latitude-only prior (the mean ground truth of all frames, per row) by a wide
// margin in CC.
TEST(SyntheticTest, SaliencyIsPredictableFromPixels) {
  const SyntheticOptions o = Opts(30, 60);
  const int h = o.height, w = o.width;
  std::vector<std::vector<float>> gts;
  std::vector<std::vector<double>> preds;
  std::vector<double> row_mean(h, 0.0);
  for (int v = 0; v < o.videos; ++v) {
    for (const SyntheticFrame& fr : RenderSyntheticVideo(o, v)) {
      auto gt = GroundTruthMap(fr.gaze, h, w);
      ASSERT_TRUE(gt.ok());
      std::vector<GazePoint> salient_pixels;
      for (int i = 0; i < h; ++i) {
        for (int j = 0; j < w; ++j) {
          double s, val;
          Hsv(&fr.image.pixels[(i * w + j) * 3], &s, &val);
          if (s > 0.5 && val > 0.55) salient_pixels.push_back({(j + 0.5) / w, (i + 0.5) / h});
        }
      }
      ASSERT_FALSE(salient_pixels.empty());
      auto pred = GroundTruthMap(salient_pixels, h, w);
      ASSERT_TRUE(pred.ok());
      preds.emplace_back(pred->begin(), pred->end());
      for (int i = 0; i < h; ++i) {
        for (int j = 0; j < w; ++j) row_mean[i] += (*gt)[i * w + j];
      }
      gts.push_back(*std::move(gt));
    }
  }
  std::vector<double> equator(static_cast<size_t>(h) * w);
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < w; ++j) equator[i * w + j] = row_mean[i];
  }
  double cc_pixels = 0, cc_equator = 0;
  for (size_t k = 0; k < gts.size(); ++k) {
    cc_pixels += Pearson(preds[k], gts[k]);
    cc_equator += Pearson(equator, gts[k]);
  }
  cc_pixels /= gts.size();
  cc_equator /= gts.size();
  std::printf("CC: pixel predictor %.3f, latitude prior %.3f\n", cc_pixels, cc_equator);
  EXPECT_GT(cc_pixels, 0.5);
  EXPECT_GT(cc_pixels, cc_equator + 0.25);
}

TEST(SyntheticTest, WritesTheDatasetLayoutAndCachesIt) {
  SyntheticOptions o = Opts(16, 32);
  o.videos = 2;
  o.frames = 3;
  o.gt_cache = true;
  o.gt_cache_height = 8;
  o.gt_cache_width = 16;
  const std::string root = TmpDir() + "/made";
  int64_t last_done = 0;
  auto st = MakeSyntheticDataset(root, o, [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 6);
    last_done = done;
  });
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(last_done, 6);
  EXPECT_EQ(st->frames, 6);
  EXPECT_EQ(st->gaze_points, 6 * o.viewers);
  for (const char* f : {"vinfo.pkl", "syn000/0001.jpg", "syn001/0003.jpg", "syn001/0003_gt.npy"}) {
    EXPECT_TRUE(fs::exists(root + "/" + f)) << f;
  }
  auto d = Dataset::Open(root);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->num_frames(), 6);
  EXPECT_EQ(d->num_errors(), 0);
  auto cache = ReadGtCache(root + "/syn001/0002_gt.npy", 8, 16);
  ASSERT_TRUE(cache.ok()) << cache.status();
  EXPECT_EQ(*cache, *GroundTruthMap(*d->gaze("syn001", 2), 8, 16));
  // The frames on disk are the rendered ones (JPEG-compressed).
  auto img = ReadImage(root + "/syn000/0002.jpg");
  ASSERT_TRUE(img.ok());
  const std::vector<SyntheticFrame> rendered = RenderSyntheticVideo(o, 0);
  ASSERT_GE(rendered.size(), 2u);
  const Image& ref = rendered[1].image;
  ASSERT_EQ(img->pixels.size(), ref.pixels.size());
  double err = 0;
  for (size_t k = 0; k < ref.pixels.size(); ++k) err += std::abs(img->pixels[k] - ref.pixels[k]);
  EXPECT_LT(err / ref.pixels.size(), 8.0);
  // Never over an existing dataset.
  auto again = MakeSyntheticDataset(root, o);
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("already holds a dataset"));
  o.videos = 0;
  EXPECT_FALSE(MakeSyntheticDataset(TmpDir() + "/bad", o).ok());
}

TEST(SyntheticTest, EnsureGeneratesOnceIntoTheCache) {
  SyntheticOptions o = Opts(16, 32);
  o.videos = 2;
  o.frames = 2;
  const std::string cache = TmpDir() + "/cache";
  int calls = 0;
  auto root = EnsureSyntheticDataset(o, cache, [&](int64_t, int64_t) { ++calls; });
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(*root, cache + "/" + o.Key());
  EXPECT_TRUE(fs::exists(*root + "/.complete"));
  EXPECT_GT(calls, 0);
  calls = 0;
  auto again = EnsureSyntheticDataset(o, cache, [&](int64_t, int64_t) { ++calls; });
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *root);
  EXPECT_EQ(calls, 0);  // not regenerated
  EXPECT_TRUE(Dataset::Open(*root).ok());
  // No temporary directories left behind.
  int entries = 0;
  for (auto it = fs::directory_iterator(cache); it != fs::directory_iterator(); ++it) ++entries;
  EXPECT_EQ(entries, 1);
  // A half-made directory (no marker) is reported, not used.
  SyntheticOptions o2 = o;
  o2.seed = 9;
  fs::create_directories(cache + "/" + o2.Key());
  auto stale = EnsureSyntheticDataset(o2, cache);
  ASSERT_FALSE(stale.ok());
  EXPECT_THAT(std::string(stale.status().message()), HasSubstr("delete it"));
}

}  // namespace
}  // namespace sal360::data

// Loader throughput: frames/s of data::Loader at the model resolution, reading JPEGs
// of a synthetic dataset (generated into a temporary directory first).
//
//   bazel run -c opt //tools:bench_loader -- [--height=240 --width=480 --threads=2]
//
// Cases: ground truth generated from the gaze points (--gt=generate) and read from
// 128x256 _gt.npy caches (--gt=cache, bilinear upsampling), each with batch buffers
// recycled (Loader::Recycle) and without, plus JPEG decoding and ground truth alone.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/synthetic.h"

ABSL_FLAG(int, height, 240, "Model (and frame) height");
ABSL_FLAG(int, width, 480, "Model (and frame) width");
ABSL_FLAG(int, frame_height, 240, "Height of the generated JPEGs");
ABSL_FLAG(int, frame_width, 480, "Width of the generated JPEGs");
ABSL_FLAG(int, threads, 2, "Loader threads");
ABSL_FLAG(int, batch, 8, "Batch size");
ABSL_FLAG(int, videos, 4, "Videos of the generated dataset");
ABSL_FLAG(int, frames, 48, "Frames per video");
ABSL_FLAG(int, viewers, 16, "Viewers per frame");
ABSL_FLAG(int, epochs, 2, "Epochs timed per case (after one warm-up epoch)");
ABSL_FLAG(std::string, dir, "",
          "Where to generate (default: a temporary directory, removed after)");

namespace {

using Clock = std::chrono::steady_clock;
namespace data = sal360::data;

double Seconds(Clock::time_point a) {
  return std::chrono::duration<double>(Clock::now() - a).count();
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "bench_loader: %s\n", std::string(s.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::string dir = absl::GetFlag(FLAGS_dir);
  const bool temp = dir.empty();
  if (temp)
    dir =
        absl::StrCat(std::filesystem::temp_directory_path().string(), "/bench_loader_", ::getpid());
  data::SyntheticOptions so;
  so.videos = absl::GetFlag(FLAGS_videos);
  so.frames = absl::GetFlag(FLAGS_frames);
  so.height = absl::GetFlag(FLAGS_frame_height);
  so.width = absl::GetFlag(FLAGS_frame_width);
  so.viewers = absl::GetFlag(FLAGS_viewers);
  so.gt_cache = true;
  const auto t0 = Clock::now();
  auto stats = data::MakeSyntheticDataset(dir, so);
  if (!stats.ok()) return Fail(stats.status());
  std::printf("generated %lld frames of %dx%d (+ 128x256 caches) in %.2f s (%.0f frames/s)\n",
              static_cast<long long>(stats->frames), so.width, so.height, Seconds(t0),
              stats->frames / Seconds(t0));
  auto opened = data::Dataset::Open(dir);
  if (!opened.ok()) return Fail(opened.status());
  auto dataset = std::make_shared<const data::Dataset>(*std::move(opened));
  const std::vector<data::FrameRef> items = *dataset->FramesOf(dataset->videos());
  const int h = absl::GetFlag(FLAGS_height), w = absl::GetFlag(FLAGS_width);

  // Decoding alone, one thread.
  {
    const auto t = Clock::now();
    for (const data::FrameRef& f : items) {
      auto img = data::ReadImage(dataset->FramePath(f));
      if (!img.ok()) return Fail(img.status());
      volatile float sink = data::ResizeToFloat(*img, h, w)[0];
      (void)sink;
    }
    std::printf("decode+resize only, 1 thread:            %7.1f frames/s\n",
                items.size() / Seconds(t));
  }
  {
    const auto t = Clock::now();
    for (const data::FrameRef& f : items) {
      auto m = data::GroundTruthMap(*dataset->gaze(f.video, f.frame), h, w);
      if (!m.ok()) return Fail(m.status());
    }
    std::printf("ground truth from %d viewers, 1 thread:  %7.1f maps/s\n", so.viewers,
                items.size() / Seconds(t));
  }
  // Each case with batches handed back through Loader::Recycle (as a training loop
  // should) and without. The first run is a warm-up that is not reported (the first
  // multi-threaded run is slower whatever it is: allocator arenas, page cache).
  bool warm_up = true;
  for (auto [gt, recycle] : {std::pair{data::GtSource::kGenerate, true},
                             std::pair{data::GtSource::kGenerate, true},
                             std::pair{data::GtSource::kCache, true},
                             std::pair{data::GtSource::kGenerate, false},
                             std::pair{data::GtSource::kCache, false}}) {
    data::LoaderOptions lo;
    lo.sample.height = h;
    lo.sample.width = w;
    lo.sample.gt = gt;
    lo.batch = absl::GetFlag(FLAGS_batch);
    lo.threads = absl::GetFlag(FLAGS_threads);
    lo.prefetch = 4;
    auto loader = data::Loader::Create(dataset, items, lo);
    if (!loader.ok()) return Fail(loader.status());
    auto run_epoch = [&](int64_t epoch) -> absl::StatusOr<int64_t> {
      if (absl::Status s = (*loader)->Start(epoch, 0); !s.ok()) return s;
      int64_t n = 0;
      while (true) {
        auto b = (*loader)->Next();
        if (!b.ok()) return b.status();
        if (!b->has_value()) return n;
        n += (*b)->n;
        if (recycle) (*loader)->Recycle(std::move(**b));
      }
    };
    if (auto s = run_epoch(0); !s.ok()) return Fail(s.status());  // warm-up
    const auto t = Clock::now();
    const std::clock_t cpu0 = std::clock();  // CPU time of all threads
    int64_t n = 0;
    for (int e = 1; e <= absl::GetFlag(FLAGS_epochs); ++e) {
      auto k = run_epoch(e);
      if (!k.ok()) return Fail(k.status());
      n += *k;
    }
    if (warm_up) {
      warm_up = false;
      continue;
    }
    const double cpu_ms = 1e3 * static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC / n;
    std::printf("loader %dx%d, --gt=%-8s %d threads:   %7.1f frames/s, %.2f CPU-ms/frame (batch %d%s)\n",
                w, h, gt == data::GtSource::kGenerate ? "generate" : "cache", lo.threads,
                n / Seconds(t), cpu_ms, lo.batch, recycle ? ", recycled" : ", fresh buffers");
  }
  if (temp) std::filesystem::remove_all(dir);
  return 0;
}

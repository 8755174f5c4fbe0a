// Writes a pre-resized copy of a dataset in the same layout (docs/data.md), so training on
// the real 3840x1920 frames is not bound by JPEG decoding:
//
//   bazel run //tools:resize_dataset -- --data=ROOT --out=DIR [--height=480 --width=960]
//       [--jpeg_quality=95] [--threads=2] [--skip_bad] [--resume]
//
// - vinfo.pkl is copied byte for byte (gaze coordinates are normalised) and written LAST,
//   so an interrupted copy is not a dataset yet;
// - every frame of Dataset::Open (NNNN.jpg with a gaze entry) is decoded, area-averaged
//   (longitude wraps; data/image.h) and written as JPEG atomically;
// - every NNNN_gt.npy of a video folder is copied unchanged (resized at load time anyway);
// - other entries are ignored, as the loader ignores them.
// Refuses DIR = ROOT, DIR inside ROOT, and a DIR that already holds vinfo.pkl (unless
// --resume, and then only the same vinfo.pkl). With --resume, frames and caches already
// present in DIR are kept (their size is checked from the JPEG header).
// Prints one JSON line to stdout. Exit status: 0 success, 1 failure, 2 bad usage.
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "tools/flags.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "data/dataset.h"
#include "data/image.h"
#include "nlohmann/json.hpp"
#include "util/file.h"
#include "util/progress.h"

ABSL_FLAG(std::string, data, "", "Source dataset root (vinfo.pkl + <video>/NNNN.jpg)");
ABSL_FLAG(std::string, out, "", "Output directory (created; must not hold vinfo.pkl)");
ABSL_FLAG(int, height, 480, "Output frame height");
ABSL_FLAG(int, width, 960, "Output frame width");
ABSL_FLAG(int, jpeg_quality, 95, "JPEG quality 1..100");
ABSL_FLAG(int, threads, 2, "Decode/resize/encode threads");
ABSL_FLAG(bool, skip_bad, false, "Count unreadable frames and continue instead of failing");
ABSL_FLAG(bool, resume, false,
          "Continue an interrupted copy: keep frames/caches already in --out");

namespace {

namespace fs = std::filesystem;
using sal360::data::FrameKey;
using sal360::data::FrameRef;

constexpr int64_t kMaxGtBytes = int64_t{1} << 30;
constexpr int kMaxSide = 16384;

struct Job {
  bool is_frame = true;
  std::string src, dst;
};

struct Result {
  std::atomic<int64_t> frames{0}, resumed{0}, skipped{0}, gt_copied{0};
  std::atomic<int64_t> bytes_in{0}, bytes_out{0};
};

bool Exists(const std::string& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// Frame: decode, resize, encode, write atomically. Cache: copy. `*source_bad` is set when
// the failure is the source frame's (unreadable, corrupt, truncated): --skip_bad skips
// only those, never write errors.
absl::Status RunJob(const Job& job, int h, int w, int quality, bool resume, Result* r,
                    bool* source_bad) {
  *source_bad = false;
  if (resume && Exists(job.dst)) {
    if (job.is_frame) {
      auto bytes = sal360::util::ReadFile(job.dst, sal360::data::DecodeLimits{}.max_file_bytes);
      if (!bytes.ok()) return bytes.status();
      int oh = 0, ow = 0;
      if (auto s = sal360::data::ImageInfo(*bytes, job.dst, &oh, &ow); !s.ok()) return s;
      if (oh != h || ow != w) {
        return absl::FailedPreconditionError(
            absl::StrCat(job.dst, ": already present at ", ow, "x", oh, ", not ", w, "x", h,
                         " (--resume with different --height/--width?)"));
      }
    }
    r->resumed.fetch_add(1);
    return absl::OkStatus();
  }
  if (!job.is_frame) {
    auto bytes = sal360::util::ReadFile(job.src, kMaxGtBytes);
    if (!bytes.ok()) return bytes.status();
    if (auto s = sal360::util::WriteFileAtomically(job.dst, *bytes); !s.ok()) return s;
    r->gt_copied.fetch_add(1);
    r->bytes_in.fetch_add(static_cast<int64_t>(bytes->size()));
    r->bytes_out.fetch_add(static_cast<int64_t>(bytes->size()));
    return absl::OkStatus();
  }
  const sal360::data::DecodeLimits limits;
  auto bytes = sal360::util::ReadFile(job.src, limits.max_file_bytes);
  auto image = bytes.ok() ? sal360::data::DecodeImage(*bytes, job.src, 3, limits)
                          : absl::StatusOr<sal360::data::Image>(bytes.status());
  if (!image.ok()) {
    *source_bad = true;
    return image.status();
  }
  const sal360::data::Image small = sal360::data::ResizeImage(*image, h, w);
  auto jpeg = sal360::data::EncodeJpeg(small, quality);
  if (!jpeg.ok()) return absl::InternalError(absl::StrCat(job.dst, ": ", jpeg.status().message()));
  if (auto s = sal360::util::WriteFileAtomically(job.dst, *jpeg); !s.ok()) return s;
  r->frames.fetch_add(1);
  r->bytes_in.fetch_add(static_cast<int64_t>(bytes->size()));
  r->bytes_out.fetch_add(static_cast<int64_t>(jpeg->size()));
  return absl::OkStatus();
}

// True when `inner` is `outer` or lies below it (both made canonical as far as they exist).
bool IsSameOrInside(const std::string& inner, const std::string& outer) {
  std::error_code ec;
  const fs::path a = fs::weakly_canonical(inner, ec);
  if (ec) return false;
  const fs::path b = fs::weakly_canonical(outer, ec);
  if (ec) return false;
  auto ai = a.begin();
  for (auto bi = b.begin(); bi != b.end(); ++bi, ++ai) {
    if (bi->empty()) continue;  // trailing separator
    if (ai == a.end() || *ai != *bi) return false;
  }
  return true;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "resize_dataset: error: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Writes a pre-resized copy of a dataset (same layout): --data=ROOT --out=DIR "
      "[--height=480 --width=960 --jpeg_quality=95 --threads=2 --skip_bad --resume]; "
      "JSON to stdout.");
  ::sal360::tools::ParseCommandLine(argc, argv);
  std::string root = absl::GetFlag(FLAGS_data);
  std::string out = absl::GetFlag(FLAGS_out);
  const int h = absl::GetFlag(FLAGS_height), w = absl::GetFlag(FLAGS_width);
  const int quality = absl::GetFlag(FLAGS_jpeg_quality);
  const int threads = absl::GetFlag(FLAGS_threads);
  const bool skip_bad = absl::GetFlag(FLAGS_skip_bad), resume = absl::GetFlag(FLAGS_resume);
  std::string usage_error;
  if (root.empty() || out.empty()) {
    usage_error = "--data=ROOT and --out=DIR are required (see --help)";
  } else if (h < 1 || w < 1 || h > kMaxSide || w > kMaxSide) {
    usage_error = absl::StrCat("--height and --width must be in 1..", kMaxSide);
  } else if (quality < 1 || quality > 100) {
    usage_error = "--jpeg_quality must be in 1..100";
  } else if (threads < 1 || threads > 256) {
    usage_error = "--threads must be in 1..256";
  }
  if (!usage_error.empty()) {
    std::fprintf(stderr, "resize_dataset: %s\n", usage_error.c_str());
    return 2;
  }
  root = sal360::util::UserPath(root);
  out = sal360::util::UserPath(out);
  const auto start = std::chrono::steady_clock::now();
  // A full-size frame is ~22 MB of pixels plus resize buffers. glibc would mmap each such
  // block and unmap it when freed, so every frame faults its buffers in afresh (in this
  // VM that was ~25% of the time and 2.4x the wall time at 3840x1920). Keep them in the
  // heap instead: blocks up to 32 MB (glibc's maximum) come from the heap, and freed
  // memory is not trimmed back to the OS.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);

  // Refusals first: nothing is written before they pass.
  if (IsSameOrInside(out, root)) {
    return Fail(absl::StrCat("--out=", out, " is the source dataset ", root,
                             " or inside it; refusing (it would change the source)"));
  }
  auto dataset = sal360::data::Dataset::Open(root);
  if (!dataset.ok()) return Fail(std::string(dataset.status().message()));
  const std::string src_vinfo = absl::StrCat(root, "/", sal360::data::kVinfoFileName);
  const std::string dst_vinfo = absl::StrCat(out, "/", sal360::data::kVinfoFileName);
  auto vinfo = sal360::util::ReadFile(src_vinfo, sal360::data::DatasetOptions{}.max_pickle_bytes);
  if (!vinfo.ok()) return Fail(std::string(vinfo.status().message()));
  if (Exists(dst_vinfo)) {
    if (!resume) {
      return Fail(absl::StrCat(dst_vinfo, " exists: --out already holds a dataset; refusing "
                               "to overwrite it (choose an empty directory)"));
    }
    auto old = sal360::util::ReadFile(dst_vinfo, sal360::data::DatasetOptions{}.max_pickle_bytes);
    if (!old.ok()) return Fail(std::string(old.status().message()));
    if (*old != *vinfo) {
      return Fail(absl::StrCat(dst_vinfo, " differs from ", src_vinfo,
                               ": --out holds another dataset; refusing to --resume into it"));
    }
  }

  // The work list, in dataset order: frames, then each video's caches.
  std::vector<Job> jobs;
  int64_t num_frames = 0;
  for (const std::string& video : dataset->videos()) {
    if (auto s = sal360::util::MakeDirs(absl::StrCat(out, "/", video)); !s.ok()) {
      return Fail(std::string(s.message()));
    }
    for (int id : dataset->frames(video)) {
      const FrameRef f{video, id};
      jobs.push_back({true, dataset->FramePath(f), absl::StrCat(out, "/", video, "/", FrameKey(id), ".jpg")});
      ++num_frames;
    }
    std::vector<std::string> caches;
    std::error_code ec;
    for (fs::directory_iterator it(absl::StrCat(root, "/", video), ec), end; !ec && it != end;
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      constexpr char kSuffix[] = "_gt.npy";
      const size_t n = sizeof(kSuffix) - 1;
      if (name.size() <= n || name.compare(name.size() - n, n, kSuffix) != 0) continue;
      int id = 0;
      const std::string stem = name.substr(0, name.size() - n);
      if (!sal360::data::ParseFrameKey(stem, &id) || FrameKey(id) != stem) continue;
      if (!it->is_regular_file(ec)) continue;
      caches.push_back(name);
    }
    if (ec) return Fail(absl::StrCat(root, "/", video, ": cannot list: ", ec.message()));
    std::sort(caches.begin(), caches.end());
    for (const std::string& name : caches) {
      jobs.push_back({false, absl::StrCat(root, "/", video, "/", name),
                      absl::StrCat(out, "/", video, "/", name)});
    }
  }

  // Workers claim jobs in order; the first failure (without --skip_bad) stops them all.
  Result result;
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;  // guards the fields below and the progress line
  size_t first_error_index = jobs.size();
  std::string first_error;
  std::vector<std::string> bad;  // --skip_bad messages
  int64_t done = 0;
  sal360::util::ProgressLine bar("resize_dataset", static_cast<int64_t>(jobs.size()), "files");
  auto worker = [&] {
    for (;;) {
      if (stop.load()) return;
      const size_t i = next.fetch_add(1);
      if (i >= jobs.size()) return;
      bool source_bad = false;
      const absl::Status s = RunJob(jobs[i], h, w, quality, resume, &result, &source_bad);
      if (!s.ok() && skip_bad && source_bad) {
        std::error_code ec;
        fs::remove(jobs[i].dst, ec);  // a stale output of an earlier run must not stay
      }
      std::lock_guard<std::mutex> lock(mu);
      if (!s.ok()) {
        if (skip_bad && source_bad) {
          result.skipped.fetch_add(1);
          bad.push_back(std::string(s.message()));
        } else {
          if (i < first_error_index) {
            first_error_index = i;
            first_error = std::string(s.message());
          }
          stop.store(true);
          return;
        }
      }
      bar.Update(++done);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < std::min<int64_t>(threads, std::max<size_t>(jobs.size(), 1)); ++t) {
    pool.emplace_back(worker);
  }
  for (std::thread& t : pool) t.join();
  bar.Finish();
  for (size_t k = 0; k < bad.size() && k < 100; ++k) {
    std::fprintf(stderr, "resize_dataset: skipped: %s\n", bad[k].c_str());
  }
  if (bad.size() > 100) std::fprintf(stderr, "resize_dataset: ... %zu skipped in all\n", bad.size());
  if (!first_error.empty()) return Fail(first_error);

  // vinfo.pkl last: only a complete copy is a dataset.
  if (!Exists(dst_vinfo)) {
    if (auto s = sal360::util::WriteFileAtomically(dst_vinfo, *vinfo); !s.ok()) {
      return Fail(std::string(s.message()));
    }
  }
  // The copy must open like the source (catches e.g. stray folders already in --out).
  auto copy = sal360::data::Dataset::Open(out);
  if (!copy.ok()) {
    return Fail(absl::StrCat("the copy does not open as a dataset: ", copy.status().message()));
  }
  const int64_t skipped = result.skipped.load();
  if (copy->num_frames() != num_frames - skipped) {
    return Fail(absl::StrCat("the copy ", out, " has ", copy->num_frames(), " frames, expected ",
                             num_frames - skipped));
  }

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::ordered_json j;
  j["root"] = root;
  j["out"] = out;
  j["height"] = h;
  j["width"] = w;
  j["videos"] = dataset->videos().size();
  j["frames"] = result.frames.load();
  j["gt_caches"] = result.gt_copied.load();
  j["resumed"] = result.resumed.load();
  j["skipped"] = skipped;
  j["bytes_in"] = result.bytes_in.load() + static_cast<int64_t>(vinfo->size());
  j["bytes_out"] = result.bytes_out.load() + static_cast<int64_t>(vinfo->size());
  j["seconds"] = seconds;
  j["frames_per_second"] = seconds > 0 ? result.frames.load() / seconds : 0.0;
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

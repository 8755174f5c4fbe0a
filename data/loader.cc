#include "data/loader.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "util/splitmix.h"

namespace sal360::data {

absl::StatusOr<GtSource> ParseGtSource(const std::string& s) {
  if (s == "cache") return GtSource::kCache;
  if (s == "generate") return GtSource::kGenerate;
  return absl::InvalidArgumentError(absl::StrCat("--gt=", s, ": expected cache or generate"));
}

absl::StatusOr<FirstFramesPolicy> ParseFirstFramesPolicy(const std::string& s) {
  if (s == "centre" || s == "center") return FirstFramesPolicy::kCentrePrior;
  if (s == "zeros") return FirstFramesPolicy::kZeros;
  return absl::InvalidArgumentError(
      absl::StrCat("--first_frames=", s, ": expected centre or zeros"));
}

std::vector<float> FirstFramesMap(FirstFramesPolicy policy, int h, int w, const GroundTruthOptions& options) {
  return policy == FirstFramesPolicy::kCentrePrior ? CentrePriorMap(h, w, options)
                                                   : std::vector<float>(static_cast<size_t>(h) * w, 0.0f);
}

namespace {

absl::Status CheckSampleOptions(const SampleOptions& o) {
  if (o.height < 1 || o.width < 1 ||
      static_cast<int64_t>(o.height) * o.width > (int64_t{1} << 26)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid sample size ", o.height, "x", o.width));
  }
  if (o.prev_interval < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("prev_interval must be >= 1, got ", o.prev_interval));
  }
  if (!(o.gt_options.sigma > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("gaze sigma must be > 0, got ", o.gt_options.sigma));
  }
  return absl::OkStatus();
}

bool FileExists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

}  // namespace

absl::StatusOr<std::vector<float>> FrameGroundTruth(const Dataset& dataset, const FrameRef& ref,
                                                    int h, int w, const SampleOptions& options,
                                                    bool* from_cache) {
  if (from_cache) *from_cache = false;
  if (options.gt == GtSource::kCache) {
    const std::string path = dataset.GtCachePath(ref);
    if (FileExists(path)) {
      if (from_cache) *from_cache = true;
      return ReadGtCache(path, h, w);
    }
  }
  const std::vector<GazePoint>* gaze = dataset.gaze(ref.video, ref.frame);
  if (gaze == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(ref.ToString(), ": no gaze entry in ", dataset.root(), "/", kVinfoFileName,
                     options.gt == GtSource::kCache ? " and no _gt.npy cache" : ""));
  }
  auto map = GroundTruthMap(*gaze, h, w, options.gt_options);
  if (!map.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(ref.ToString(), " (", dataset.root(), "/",
                                                   kVinfoFileName, "): ", map.status().message()));
  }
  return map;
}

absl::StatusOr<bool> WriteFrameGtCache(const Dataset& dataset, const FrameRef& ref, int h, int w,
                                       const GroundTruthOptions& options, bool overwrite) {
  const std::string path = dataset.GtCachePath(ref);
  if (!overwrite && FileExists(path)) return false;
  SampleOptions so;
  so.gt = GtSource::kGenerate;
  so.gt_options = options;
  auto map = FrameGroundTruth(dataset, ref, h, w, so);
  if (!map.ok()) return map.status();
  if (auto s = WriteGtCache(path, *map, h, w); !s.ok()) return s;
  return true;
}

absl::StatusOr<Sample> LoadSample(const Dataset& dataset, const FrameRef& ref,
                                  const SampleOptions& options) {
  if (auto s = CheckSampleOptions(options); !s.ok()) return s;
  const int h = options.height, w = options.width;
  const std::vector<GazePoint>* gaze = dataset.gaze(ref.video, ref.frame);
  if (gaze == nullptr) {
    return absl::NotFoundError(absl::StrCat(ref.ToString(), ": not a frame of ", dataset.root(),
                                            " (no gaze entry in ", kVinfoFileName, ")"));
  }
  Sample s;
  s.ref = ref;
  auto image = ReadImage(dataset.FramePath(ref), 3, options.decode_limits);
  if (!image.ok()) return image.status();
  s.rgb = ResizeToFloat(*image, h, w);

  auto target = FrameGroundTruth(dataset, ref, h, w, options, &s.target_from_cache);
  if (!target.ok()) return target.status();
  s.target = *std::move(target);

  const int prev_id = ref.frame - options.prev_interval;
  if (prev_id <= 0) {
    s.prev = FirstFramesMap(options.first_frames, h, w, options.gt_options);
  } else {
    auto prev =
        FrameGroundTruth(dataset, FrameRef{ref.video, prev_id}, h, w, options, &s.prev_from_cache);
    if (!prev.ok()) {
      return absl::Status(prev.status().code(),
                          absl::StrCat("previous map of ", ref.ToString(), " (frame ",
                                       FrameKey(prev_id), "): ", prev.status().message()));
    }
    s.prev = *std::move(prev);
  }
  if (options.fixations) s.fixations = FixationMap(*gaze, h, w);
  return s;
}

// ---------------------------------------------------------------------------------------
// Loader

namespace {

uint64_t SplitMix64(uint64_t* state) { return util::SplitMix64(*state); }

// Unbiased integer in [0, n) by rejection.
uint64_t Bounded(uint64_t* state, uint64_t n) {
  const uint64_t limit = ~uint64_t{0} - (~uint64_t{0} % n);
  uint64_t r;
  do {
    r = SplitMix64(state);
  } while (r >= limit);
  return r % n;
}

}  // namespace

std::vector<int64_t> Loader::EpochOrder(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  if (!shuffle) return order;
  uint64_t state = seed;
  state = SplitMix64(&state) ^ (static_cast<uint64_t>(epoch) * 0xd1b54a32d192ed03ULL);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(Bounded(&state, static_cast<uint64_t>(i + 1)));
    std::swap(order[i], order[j]);
  }
  return order;
}

Loader::Loader(std::shared_ptr<const Dataset> dataset, std::vector<FrameRef> items,
               const LoaderOptions& options)
    : dataset_(std::move(dataset)), items_(std::move(items)), options_(options) {}

absl::StatusOr<std::unique_ptr<Loader>> Loader::Create(std::shared_ptr<const Dataset> dataset,
                                                       std::vector<FrameRef> items,
                                                       const LoaderOptions& options) {
  if (dataset == nullptr) return absl::InvalidArgumentError("loader: no dataset");
  if (auto s = CheckSampleOptions(options.sample); !s.ok()) return s;
  if (options.batch < 1 || options.threads < 1 || options.prefetch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("loader: batch (", options.batch, "), threads (",
                                                   options.threads, ") and prefetch (",
                                                   options.prefetch, ") must be >= 1"));
  }
  if (options.shard_count < 1 || options.shard_rank < 0 || options.shard_rank >= options.shard_count) {
    return absl::InvalidArgumentError(absl::StrCat("loader: shard ", options.shard_rank, " of ", options.shard_count));
  }
  for (const FrameRef& f : items) {
    if (dataset->gaze(f.video, f.frame) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("loader: ", f.ToString(), " is not a frame of ", dataset->root()));
    }
  }
  std::unique_ptr<Loader> l(new Loader(std::move(dataset), std::move(items), options));
  if (auto s = l->Start(options.epoch, options.start_batch); !s.ok()) return s;
  return l;
}

Loader::~Loader() { StopWorkers(); }

int64_t Loader::batches_per_epoch() const {
  const int64_t n = static_cast<int64_t>(items_.size()), b = options_.batch;
  if (options_.drop_last || (n % b != 0 && n % b < options_.shard_count)) return n / b;
  return (n + b - 1) / b;
}

int64_t Loader::skipped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return skipped_;
}

std::vector<std::string> Loader::skip_messages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return skip_messages_;
}

absl::Status Loader::Start(int64_t epoch, int64_t start_batch) {
  StopWorkers();
  const int64_t end = batches_per_epoch();
  if (epoch < 0 || start_batch < 0 || start_batch > end) {
    return absl::InvalidArgumentError(absl::StrCat("loader: cannot start epoch ", epoch,
                                                   " at batch ", start_batch, " (the epoch has ",
                                                   end, " batches)"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    epoch_ = epoch;
    order_ =
        EpochOrder(static_cast<int64_t>(items_.size()), options_.seed, epoch, options_.shuffle);
    next_claim_ = next_deliver_ = start_batch;
    end_batch_ = end;
    ready_.clear();
    stop_ = false;
    failed_ = false;
  }
  StartWorkers();
  return absl::OkStatus();
}

void Loader::StartWorkers() {
  for (int t = 0; t < options_.threads; ++t) workers_.emplace_back([this] { WorkerLoop(); });
}

void Loader::StopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void Loader::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] {
      return stop_ || next_claim_ >= end_batch_ || next_claim_ < next_deliver_ + options_.prefetch;
    });
    if (stop_ || next_claim_ >= end_batch_) return;
    const int64_t index = next_claim_++;
    Batch reuse;
    if (!pool_.empty()) {
      reuse = std::move(pool_.back());
      pool_.pop_back();
    }
    lock.unlock();
    std::vector<std::string> msgs;
    absl::StatusOr<Batch> batch = AssembleBatch(index, std::move(reuse), &msgs);
    lock.lock();
    if (stop_) return;
    if (batch.ok()) {
      skipped_ += batch->skipped;
      for (std::string& m : msgs) {
        if (skip_messages_.size() < 100) skip_messages_.push_back(std::move(m));
      }
    }
    ready_.emplace(index, std::move(batch));
    cv_.notify_all();
  }
}

void Loader::Recycle(Batch&& batch) {
  std::lock_guard<std::mutex> lock(mu_);
  if (pool_.size() < static_cast<size_t>(options_.threads + options_.prefetch)) {
    pool_.push_back(std::move(batch));
  }
}

absl::StatusOr<Batch> Loader::AssembleBatch(int64_t index, Batch reuse,
                                            std::vector<std::string>* skip_msgs) {
  const SampleOptions& so = options_.sample;
  const int h = so.height, w = so.width;
  const size_t hw = static_cast<size_t>(h) * w;
  const int64_t n_items = static_cast<int64_t>(items_.size());
  int64_t begin = index * options_.batch;
  int64_t end = std::min<int64_t>(begin + options_.batch, n_items);
  if (options_.shard_count > 1) {  // this rank's slice of the batch (loader.h)
    const int64_t m = end - begin, r = options_.shard_rank, R = options_.shard_count;
    end = begin + m * (r + 1) / R;
    begin = begin + m * r / R;
  }
  Batch b = std::move(reuse);  // keeps the capacity of recycled buffers
  b.refs.clear();
  b.input.clear();
  b.target.clear();
  b.fixations.clear();
  b.n = 0;
  b.skipped = 0;
  b.index = index;
  b.height = h;
  b.width = w;
  const size_t cap = static_cast<size_t>(end - begin);
  b.input.reserve(cap * hw * 4);
  b.target.reserve(cap * hw);
  if (so.fixations) b.fixations.reserve(cap * hw);
  const float scale = options_.map_scale;
  for (int64_t p = begin; p < end; ++p) {
    const FrameRef& ref = items_[order_[p]];
    absl::StatusOr<Sample> s = LoadSample(*dataset_, ref, so);
    if (!s.ok()) {
      if (!options_.skip_bad) return s.status();
      ++b.skipped;
      skip_msgs->push_back(std::string(s.status().message()));
      continue;
    }
    b.refs.push_back(ref);
    // input (n, H, W, 4): r, g, b, prev·scale
    const size_t base = b.input.size();
    b.input.resize(base + hw * 4);
    float* in = &b.input[base];
    for (size_t k = 0; k < hw; ++k) {
      in[4 * k + 0] = s->rgb[3 * k + 0];
      in[4 * k + 1] = s->rgb[3 * k + 1];
      in[4 * k + 2] = s->rgb[3 * k + 2];
      in[4 * k + 3] = s->prev[k] * scale;
    }
    for (size_t k = 0; k < hw; ++k) b.target.push_back(s->target[k] * scale);
    if (so.fixations)
      b.fixations.insert(b.fixations.end(), s->fixations.begin(), s->fixations.end());
    ++b.n;
  }
  return b;
}

absl::StatusOr<std::optional<Batch>> Loader::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (failed_) {
    return absl::FailedPreconditionError(
        "loader: stopped after an error (call Start() to restart)");
  }
  while (true) {
    if (next_deliver_ >= end_batch_) return std::optional<Batch>();
    cv_.wait(lock, [&] { return ready_.count(next_deliver_) != 0; });
    auto it = ready_.find(next_deliver_);
    absl::StatusOr<Batch> b = std::move(it->second);
    ready_.erase(it);
    ++next_deliver_;
    cv_.notify_all();  // a worker may claim the next batch now
    if (!b.ok()) {
      failed_ = true;
      stop_ = true;
      cv_.notify_all();
      return b.status();
    }
    if (b->n == 0 && options_.shard_count == 1) continue;  // every sample was skipped
    return std::optional<Batch>(*std::move(b));
  }
}

}  // namespace sal360::data

// Tests of samples and the prefetching loader (data/loader.h) on a generated dataset.
#include "data/loader.h"

#include <cstdlib>
#include <filesystem>
#include <set>

#include "data/synthetic.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/synthetic_copy.h"
#include "util/file.h"

namespace sal360::data {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;


SyntheticOptions Small() {
  SyntheticOptions o;
  o.videos = 3;
  o.frames = 8;
  o.height = 16;
  o.width = 32;
  o.viewers = 6;
  o.seed = 5;
  return o;
}

std::string MakeCopy(const std::string& name) { return ::sal360::testing::SyntheticCopy(name, Small()); }

std::shared_ptr<const Dataset> Open(const std::string& root) {
  auto d = Dataset::Open(root);
  EXPECT_TRUE(d.ok()) << d.status();
  return std::make_shared<const Dataset>(*std::move(d));
}

std::vector<FrameRef> AllFrames(const Dataset& d) { return *d.FramesOf(d.videos()); }

// A sample is exactly: the decoded JPEG / 255, G of the frame, G of frame − interval
// (or the centre prior / zeros for the first frames), and the fixation map.
TEST(SampleTest, SampleMatchesItsDefinition) {
  auto d = Open(MakeCopy("sample"));
  SampleOptions so;
  so.height = 16;
  so.width = 32;
  so.prev_interval = 3;
  for (int frame : {1, 3, 4, 8}) {
    const FrameRef ref{"syn001", frame};
    auto s = LoadSample(*d, ref, so);
    ASSERT_TRUE(s.ok()) << s.status();
    auto img = ReadImage(d->FramePath(ref));
    ASSERT_TRUE(img.ok());
    ASSERT_EQ(s->rgb.size(), 16u * 32u * 3u);
    for (size_t k = 0; k < s->rgb.size(); ++k) ASSERT_FLOAT_EQ(s->rgb[k], img->pixels[k] / 255.0f);
    auto target = GroundTruthMap(*d->gaze("syn001", frame), 16, 32);
    ASSERT_TRUE(target.ok());
    EXPECT_EQ(s->target, *target);
    EXPECT_FALSE(s->target_from_cache);
    if (frame <= 3) {
      EXPECT_EQ(s->prev, CentrePriorMap(16, 32));
    } else {
      EXPECT_EQ(s->prev, *GroundTruthMap(*d->gaze("syn001", frame - 3), 16, 32));
    }
    EXPECT_EQ(s->fixations, FixationMap(*d->gaze("syn001", frame), 16, 32));
  }
  so.first_frames = FirstFramesPolicy::kZeros;
  auto s = LoadSample(*d, {"syn000", 2}, so);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->prev, std::vector<float>(16 * 32, 0.0f));
  // Another resolution: the image is resized (area for shrinking).
  so.height = 8;
  so.width = 16;
  s = LoadSample(*d, {"syn000", 2}, so);
  ASSERT_TRUE(s.ok());
  auto img = ReadImage(d->FramePath({"syn000", 2}));
  EXPECT_EQ(s->rgb, ResizeToFloat(*img, 8, 16));
  EXPECT_EQ(s->target.size(), 8u * 16u);
}

TEST(SampleTest, CachesAreUsedWhenAskedAndResized) {
  const std::string root = MakeCopy("cache");
  auto d = Open(root);
  for (const FrameRef& f : AllFrames(*d)) {
    auto wrote = WriteFrameGtCache(*d, f, 8, 16, {}, false);
    ASSERT_TRUE(wrote.ok()) << wrote.status();
    EXPECT_TRUE(*wrote);
  }
  EXPECT_FALSE(*WriteFrameGtCache(*d, {"syn000", 1}, 8, 16, {}, false));  // kept
  SampleOptions so;
  so.height = 16;
  so.width = 32;
  auto s = LoadSample(*d, {"syn002", 7}, so);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->target_from_cache);
  EXPECT_TRUE(s->prev_from_cache);
  const std::vector<float> small = *GroundTruthMap(*d->gaze("syn002", 7), 8, 16);
  const std::vector<float> want = ResizeFloat(small.data(), 8, 16, 1, 16, 32);
  for (size_t k = 0; k < want.size(); ++k) ASSERT_NEAR(s->target[k], want[k], 1e-6);
  so.gt = GtSource::kGenerate;
  s = LoadSample(*d, {"syn002", 7}, so);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->target_from_cache);
  EXPECT_EQ(s->target, *GroundTruthMap(*d->gaze("syn002", 7), 16, 32));
}

TEST(SampleTest, CorruptInputsGiveFileNamingErrors) {
  const std::string root = MakeCopy("corrupt");
  auto d = Open(root);
  SampleOptions so;
  so.height = 16;
  so.width = 32;
  // Truncated JPEG.
  const std::string jpg = root + "/syn000/0004.jpg";
  auto bytes = util::ReadFile(jpg, 1 << 20);
  ASSERT_TRUE(util::WriteFileAtomically(jpg, bytes->substr(0, bytes->size() / 2)).ok());
  auto s = LoadSample(*d, {"syn000", 4}, so);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr(jpg + ": truncated JPEG"));
  // Missing frame.
  fs::remove(root + "/syn000/0005.jpg");
  s = LoadSample(*d, {"syn000", 5}, so);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("syn000/0005.jpg"));
  // Malformed cache: an error with --gt=cache (never a silent zero map), ignored with
  // --gt=generate.
  ASSERT_TRUE(util::WriteFileAtomically(root + "/syn001/0002_gt.npy", "garbage").ok());
  s = LoadSample(*d, {"syn001", 2}, so);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("syn001/0002_gt.npy"));
  // ... also when it is only the previous frame's map.
  so.prev_interval = 1;
  s = LoadSample(*d, {"syn001", 3}, so);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("previous map of syn001/0003 (frame 0002)"));
  so.gt = GtSource::kGenerate;
  EXPECT_TRUE(LoadSample(*d, {"syn001", 3}, so).ok());
  // Not a frame of the dataset.
  s = LoadSample(*d, {"syn001", 99}, so);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("syn001/0099: not a frame"));
}

TEST(SampleTest, PreviousFrameWithoutGazeIsAnError) {
  const std::string root = MakeCopy("prevgaze");
  auto d0 = Open(root);
  GazeTable t = d0->gaze_table();
  t["syn002"].erase(2);
  fs::remove(root + "/syn002/0002.jpg");
  ASSERT_TRUE(WritePickle(root + "/vinfo.pkl", GazeTableToPickle(t)).ok());
  auto d = Open(root);
  SampleOptions so;
  so.height = 16;
  so.width = 32;
  so.prev_interval = 5;
  auto s = LoadSample(*d, {"syn002", 7}, so);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("previous map of syn002/0007 (frame 0002): syn002/0002: no gaze entry"));
}

LoaderOptions Opts() {
  LoaderOptions o;
  o.sample.height = 16;
  o.sample.width = 32;
  o.batch = 5;
  o.threads = 2;
  o.prefetch = 2;
  return o;
}

std::vector<Batch> Drain(Loader& l) {
  std::vector<Batch> out;
  while (true) {
    auto b = l.Next();
    EXPECT_TRUE(b.ok()) << b.status();
    if (!b.ok() || !b->has_value()) break;
    out.push_back(**b);
  }
  return out;
}

// Unshuffled, one pass: every frame once, in order, each batch the packed samples.
TEST(LoaderTest, RoundTripsAGeneratedDataset) {
  auto d = Open(MakeCopy("loader"));
  const std::vector<FrameRef> items = AllFrames(*d);
  LoaderOptions o = Opts();
  o.shuffle = false;
  o.map_scale = 10;
  auto l = Loader::Create(d, items, o);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ((*l)->batches_per_epoch(), 5);  // 24 frames / 5, last batch of 4
  const std::vector<Batch> batches = Drain(**l);
  ASSERT_EQ(batches.size(), 5u);
  size_t next = 0;
  const size_t hw = 16 * 32;
  for (const Batch& b : batches) {
    EXPECT_EQ(b.index, static_cast<int64_t>(&b - &batches[0]));
    ASSERT_EQ(b.input.size(), b.n * hw * 4);
    ASSERT_EQ(b.target.size(), b.n * hw);
    ASSERT_EQ(b.fixations.size(), b.n * hw);
    for (int k = 0; k < b.n; ++k, ++next) {
      ASSERT_EQ(b.refs[k], items[next]);
      auto s = LoadSample(*d, items[next], o.sample);
      ASSERT_TRUE(s.ok());
      for (size_t q = 0; q < hw; ++q) {
        ASSERT_EQ(b.input[(k * hw + q) * 4 + 0], s->rgb[q * 3 + 0]);
        ASSERT_EQ(b.input[(k * hw + q) * 4 + 2], s->rgb[q * 3 + 2]);
        ASSERT_EQ(b.input[(k * hw + q) * 4 + 3], s->prev[q] * 10);
        ASSERT_EQ(b.target[k * hw + q], s->target[q] * 10);
        ASSERT_EQ(b.fixations[k * hw + q], s->fixations[q]);
      }
    }
  }
  EXPECT_EQ(next, items.size());
  EXPECT_EQ(batches.back().n, 4);
  // The epoch is over until restarted.
  auto end = (*l)->Next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
  ASSERT_TRUE((*l)->Start(0, 0).ok());
  EXPECT_EQ(Drain(**l).size(), 5u);
}

std::vector<std::string> Trace(const std::vector<Batch>& batches) {
  std::vector<std::string> t;
  for (const Batch& b : batches) {
    for (const FrameRef& r : b.refs) t.push_back(r.ToString());
  }
  return t;
}

// The order depends on (seed, epoch) only: not on threads, prefetch or timing.
TEST(LoaderTest, DeterministicShuffleAndResume) {
  auto d = Open(MakeCopy("order"));
  const std::vector<FrameRef> items = AllFrames(*d);
  LoaderOptions o = Opts();
  o.seed = 42;
  o.epoch = 3;
  o.threads = 1;
  o.prefetch = 1;
  auto a = Loader::Create(d, items, o);
  o.threads = 3;
  o.prefetch = 4;
  auto b = Loader::Create(d, items, o);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::vector<Batch> ba = Drain(**a), bb = Drain(**b);
  ASSERT_EQ(ba.size(), bb.size());
  for (size_t k = 0; k < ba.size(); ++k) {
    EXPECT_EQ(ba[k].refs, bb[k].refs);
    EXPECT_EQ(ba[k].input, bb[k].input);
    EXPECT_EQ(ba[k].target, bb[k].target);
  }
  const std::vector<std::string> ta = Trace(ba);
  EXPECT_EQ(std::set<std::string>(ta.begin(), ta.end()).size(), items.size());  // a permutation
  // Another epoch, another order; the same epoch again, the same order.
  ASSERT_TRUE((*a)->Start(4, 0).ok());
  EXPECT_NE(Trace(Drain(**a)), ta);
  ASSERT_TRUE((*a)->Start(3, 0).ok());
  EXPECT_EQ(Trace(Drain(**a)), ta);
  // Resume at batch 2: the rest of the epoch is identical.
  o.start_batch = 2;
  auto c = Loader::Create(d, items, o);
  ASSERT_TRUE(c.ok());
  const std::vector<Batch> bc = Drain(**c);
  ASSERT_EQ(bc.size(), ba.size() - 2);
  for (size_t k = 0; k < bc.size(); ++k) {
    EXPECT_EQ(bc[k].index, ba[k + 2].index);
    EXPECT_EQ(bc[k].refs, ba[k + 2].refs);
    EXPECT_EQ(bc[k].input, ba[k + 2].input);
  }
  EXPECT_FALSE((*c)->Start(3, 6).ok());  // past the end
}

// Recycled batches (whole, or with buffers moved out by the consumer) give the same
// contents as fresh ones, and their buffers are reused.
TEST(LoaderTest, RecycledBuffersGiveIdenticalBatches) {
  auto d = Open(MakeCopy("recycle"));
  const std::vector<FrameRef> items = AllFrames(*d);
  LoaderOptions o = Opts();
  o.seed = 9;
  auto fresh = Loader::Create(d, items, o);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  const std::vector<Batch> want = Drain(**fresh);
  auto l = Loader::Create(d, items, o);
  ASSERT_TRUE(l.ok()) << l.status();
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE((*l)->Start(0, 0).ok());
    size_t k = 0;
    while (true) {
      auto b = (*l)->Next();
      ASSERT_TRUE(b.ok()) << b.status();
      if (!b->has_value()) break;
      Batch& got = **b;
      ASSERT_LT(k, want.size());
      EXPECT_EQ(got.index, want[k].index);
      EXPECT_EQ(got.n, want[k].n);
      EXPECT_EQ(got.refs, want[k].refs);
      EXPECT_EQ(got.input, want[k].input);
      EXPECT_EQ(got.target, want[k].target);
      EXPECT_EQ(got.fixations, want[k].fixations);
      ++k;
      if (k % 2 == 0) std::vector<float> taken = std::move(got.input);  // the consumer kept it
      (*l)->Recycle(std::move(got));
    }
    EXPECT_EQ(k, want.size());
  }

  // With one worker, the first batch after a restart is assembled in the last recycled
  // buffer.
  o.threads = 1;
  auto one = Loader::Create(d, items, o);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(Drain(**one).size(), want.size());
  Batch spare;
  spare.input.reserve(want[0].input.size() + 7);
  spare.target.reserve(want[0].target.size() + 7);
  const float* input_buffer = spare.input.data();
  const float* target_buffer = spare.target.data();
  (*one)->Recycle(std::move(spare));
  ASSERT_TRUE((*one)->Start(0, 0).ok());
  auto first = (*one)->Next();
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->input.data(), input_buffer);
  EXPECT_EQ((*first)->target.data(), target_buffer);
  EXPECT_EQ((*first)->input, want[0].input);
  EXPECT_EQ((*first)->refs, want[0].refs);
}

TEST(LoaderTest, EpochOrderIsAPermutationFixedByItsInputs) {
  for (int64_t n : {0, 1, 2, 17, 1000}) {
    const std::vector<int64_t> p = Loader::EpochOrder(n, 7, 1, true);
    std::vector<int64_t> sorted = p;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(sorted[i], i);
    EXPECT_EQ(p, Loader::EpochOrder(n, 7, 1, true));
  }
  EXPECT_NE(Loader::EpochOrder(1000, 7, 1, true), Loader::EpochOrder(1000, 7, 2, true));
  EXPECT_NE(Loader::EpochOrder(1000, 7, 1, true), Loader::EpochOrder(1000, 8, 1, true));
  const std::vector<int64_t> id = Loader::EpochOrder(5, 7, 1, false);
  EXPECT_EQ(id, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  // Uniform-ish: over many epochs every item visits the first position.
  std::vector<int> first(10, 0);
  for (int e = 0; e < 2000; ++e) ++first[Loader::EpochOrder(10, 1, e, true)[0]];
  for (int c : first) EXPECT_GT(c, 120);
}

TEST(LoaderTest, BadSamplesFailOrAreSkipped) {
  const std::string root = MakeCopy("skip");
  auto d = Open(root);
  const std::string jpg = root + "/syn001/0003.jpg";
  auto bytes = util::ReadFile(jpg, 1 << 20);
  ASSERT_TRUE(util::WriteFileAtomically(jpg, bytes->substr(0, bytes->size() - 10)).ok());
  const std::vector<FrameRef> items = AllFrames(*d);
  LoaderOptions o = Opts();
  o.shuffle = false;
  auto l = Loader::Create(d, items, o);
  ASSERT_TRUE(l.ok());
  // items[10] = syn001/0003 is in batch 2: batches 0 and 1 come, then the error.
  ASSERT_TRUE((*l)->Next().ok());
  ASSERT_TRUE((*l)->Next().ok());
  auto e = (*l)->Next();
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.status().message()), HasSubstr(jpg));
  EXPECT_FALSE((*l)->Next().ok());  // stays failed
  o.skip_bad = true;
  auto s = Loader::Create(d, items, o);
  ASSERT_TRUE(s.ok());
  const std::vector<Batch> batches = Drain(**s);
  ASSERT_EQ(batches.size(), 5u);
  EXPECT_EQ(batches[2].n, 4);
  EXPECT_EQ(batches[2].skipped, 1);
  EXPECT_EQ((*s)->skipped(), 1);
  ASSERT_EQ((*s)->skip_messages().size(), 1u);
  EXPECT_THAT((*s)->skip_messages()[0], HasSubstr("truncated JPEG"));
  EXPECT_EQ(Trace(batches).size(), items.size() - 1);
}

TEST(LoaderTest, OptionsAndItemsAreChecked) {
  auto d = Open(MakeCopy("opts"));
  LoaderOptions o = Opts();
  o.batch = 0;
  EXPECT_FALSE(Loader::Create(d, AllFrames(*d), o).ok());
  o = Opts();
  auto l = Loader::Create(d, {{"syn000", 77}}, o);
  ASSERT_FALSE(l.ok());
  EXPECT_THAT(std::string(l.status().message()), HasSubstr("syn000/0077 is not a frame"));
  o.drop_last = true;
  auto dl = Loader::Create(d, AllFrames(*d), o);
  ASSERT_TRUE(dl.ok());
  EXPECT_EQ((*dl)->batches_per_epoch(), 4);
  EXPECT_EQ(Drain(**dl).size(), 4u);
  auto empty = Loader::Create(d, {}, Opts());
  ASSERT_TRUE(empty.ok());
  auto none = (*empty)->Next();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_TRUE(ParseGtSource("cache").ok());
  EXPECT_FALSE(ParseGtSource("zeros").ok());
  EXPECT_TRUE(ParseFirstFramesPolicy("zeros").ok());
  EXPECT_FALSE(ParseFirstFramesPolicy("x").ok());
}

// Destroying a loader mid-epoch (workers blocked on a full queue) returns promptly.
TEST(LoaderTest, DestroyMidEpoch) {
  auto d = Open(MakeCopy("destroy"));
  LoaderOptions o = Opts();
  o.batch = 1;
  o.threads = 3;
  auto l = Loader::Create(d, AllFrames(*d), o);
  ASSERT_TRUE(l.ok());
  ASSERT_TRUE((*l)->Next().ok());
  l->reset();
}

}  // namespace
}  // namespace sal360::data

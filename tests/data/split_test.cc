// Tests of the CPython random reproduction and the splits (data/split.h).
//
// Reference values and where each comes from:
//  (a) MT19937 init_genrand: std::mt19937 (an independent implementation of the same
//      algorithm definition) — compared over 5000 outputs.
//  (b) init_by_array({0x123, 0x234, 0x345, 0x456}): the first outputs listed in
//      mt19937ar.out, the test output distributed with the reference mt19937ar.c by
//      Matsumoto and Nishimura ("1067595299 955945823 477289528 4107218783 4228976476 ...").
//  (c) CPython values, obtained with CPython 3.11.7 by the command quoted at each use.
#include "data/split.h"

#include <random>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sal360::data {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

TEST(PythonRandomTest, InitGenrandMatchesStdMt19937) {
  PythonRandom r = PythonRandom::FromInitGenrand(5489);
  std::mt19937 ref(5489);
  for (int k = 0; k < 5000; ++k) ASSERT_EQ(r.GenRandUint32(), ref()) << k;
  PythonRandom r2 = PythonRandom::FromInitGenrand(367643);
  std::mt19937 ref2(367643);
  for (int k = 0; k < 1000; ++k) ASSERT_EQ(r2.GenRandUint32(), ref2()) << k;
}

TEST(PythonRandomTest, InitByArrayMatchesReferenceOutput) {
  // (b) mt19937ar.out, first 10 of "1000 outputs of genrand_int32()".
  PythonRandom r = PythonRandom::FromInitByArray({0x123, 0x234, 0x345, 0x456});
  std::vector<uint32_t> got;
  for (int k = 0; k < 10; ++k) got.push_back(r.GenRandUint32());
  EXPECT_THAT(got, ElementsAre(1067595299u, 955945823u, 477289528u, 4107218783u, 4228976476u,
                               3344332714u, 3355579695u, 227628506u, 810200273u, 2591290167u));
}

TEST(PythonRandomTest, IntSeedsUseTheir32BitWordsLeastSignificantFirst) {
  // CPython's rule: random.Random(n) == init_by_array(words of abs(n)).
  PythonRandom a(367643), b = PythonRandom::FromInitByArray({367643});
  const int64_t big = (int64_t{0x234} << 32) | 0x123;
  PythonRandom c(big), d = PythonRandom::FromInitByArray({0x123, 0x234});
  PythonRandom e(-367643);
  for (int k = 0; k < 100; ++k) {
    const uint32_t va = a.GenRandUint32();
    ASSERT_EQ(va, b.GenRandUint32());
    ASSERT_EQ(va, e.GenRandUint32());  // negative seeds use abs()
    ASSERT_EQ(c.GenRandUint32(), d.GenRandUint32());
  }
}

TEST(PythonRandomTest, MatchesCPythonOutputs) {
  // python3 -c "import random; r=random.Random(367643); print([r.getrandbits(32) for _ in
  // range(5)])"
  {
    PythonRandom r(367643);
    std::vector<uint32_t> got;
    for (int k = 0; k < 5; ++k) got.push_back(r.GenRandUint32());
    EXPECT_THAT(got, ElementsAre(3838154527u, 2274445141u, 3723528288u, 1381316288u, 3183724575u));
  }
  // python3 -c "import random; r=random.Random(367643); print([r.getrandbits(k) for k in
  // (1,7,31,33,48,64)])"
  {
    PythonRandom r(367643);
    std::vector<uint64_t> got;
    for (int k : {1, 7, 31, 33, 48, 64}) got.push_back(r.GetRandBits(k));
    EXPECT_THAT(got, ElementsAre(1u, 67u, 1861764144u, 5676283584ull, 124497801485566ull,
                                 8894186053289371105ull));
  }
  // python3 -c "import random; r=random.Random(367643); print(repr(r.random()), repr(r.random()))"
  {
    PythonRandom r(367643);
    EXPECT_EQ(r.Random(), 0.8936399856922069);
    EXPECT_EQ(r.Random(), 0.866951490354633);
  }
  // python3 -c "import random; r=random.Random(367643); print([r._randbelow(n) for n in
  // (1,2,3,5,100,2**40+1)])"
  {
    PythonRandom r(367643);
    std::vector<uint64_t> got;
    for (uint64_t n : {uint64_t{1}, uint64_t{2}, uint64_t{3}, uint64_t{5}, uint64_t{100},
                       (uint64_t{1} << 40) + 1}) {
      got.push_back(r.RandBelow(n));
    }
    EXPECT_THAT(got, ElementsAre(0u, 1u, 2u, 3u, 10u, 1080405523914ull));
  }
  // python3 -c "import random; print(random.Random(2**62+2**40+17).getrandbits(32))"
  {
    PythonRandom r((int64_t{1} << 62) + (int64_t{1} << 40) + 17);
    EXPECT_EQ(r.GenRandUint32(), 1360458731u);
  }
}

// getrandbits(k ≤ 32) is the top k bits of one output; (32, 64] is two outputs, low word
// first, the second keeping its top k − 32 bits (the algorithm's definition in CPython).
TEST(PythonRandomTest, GetRandBitsWordLayout) {
  for (int k : {1, 5, 31, 32, 33, 40, 63, 64}) {
    PythonRandom a(99), b(99);
    const uint64_t got = a.GetRandBits(k);
    uint64_t want;
    if (k <= 32) {
      want = b.GenRandUint32() >> (32 - k);
    } else {
      const uint64_t lo = b.GenRandUint32();
      want = lo | (static_cast<uint64_t>(b.GenRandUint32() >> (64 - k)) << 32);
    }
    EXPECT_EQ(got, want) << k;
  }
}

TEST(PythonRandomTest, SampleStrategyThreshold) {
  // setsize = 21 + 4**ceil(log(3k, 4)) for k > 5: k = 80 → 21 + 4**4 = 277.
  EXPECT_TRUE(PythonRandom::SampleUsesPool(277, 80));
  EXPECT_FALSE(PythonRandom::SampleUsesPool(278, 80));
  EXPECT_TRUE(PythonRandom::SampleUsesPool(104, 80));
  // k ≤ 5: setsize = 21.
  EXPECT_TRUE(PythonRandom::SampleUsesPool(21, 2));
  EXPECT_FALSE(PythonRandom::SampleUsesPool(22, 2));
  // k = 6: 4**ceil(log4 18) = 4**3 = 64 → 85; k = 22: log4 66 > 3 → 4**4 → 277.
  EXPECT_TRUE(PythonRandom::SampleUsesPool(85, 6));
  EXPECT_FALSE(PythonRandom::SampleUsesPool(86, 6));
  EXPECT_TRUE(PythonRandom::SampleUsesPool(85, 21));  // log4 63 < 3
  EXPECT_FALSE(PythonRandom::SampleUsesPool(86, 21));
  EXPECT_TRUE(PythonRandom::SampleUsesPool(277, 22));  // log4 66 > 3
}

std::vector<std::string> Names(const char* fmt, int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i <= to; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), fmt, i);
    v.push_back(buf);
  }
  return v;
}

TEST(PythonRandomTest, PublishedSampleOnNumberedNames) {
  // python3 -c "import random; names=['%03d'%i for i in range(1,105)];
  //             print(random.Random(367643).sample(sorted(names), 80))"
  const std::vector<std::string> want = {
      "068", "042", "095", "057", "073", "062", "011", "012", "071", "063", "017", "077",
      "044", "033", "094", "076", "003", "038", "014", "036", "078", "103", "102", "054",
      "001", "018", "089", "060", "024", "081", "025", "080", "043", "005", "040", "070",
      "029", "007", "050", "015", "072", "051", "008", "079", "046", "064", "074", "052",
      "021", "086", "099", "101", "006", "082", "065", "059", "041", "020", "104", "093",
      "096", "037", "092", "009", "049", "053", "035", "026", "091", "066", "019", "022",
      "031", "047", "067", "058", "016", "013", "055", "069"};
  std::vector<std::string> names = Names("%03d", 1, 104);
  std::reverse(names.begin(), names.end());  // input order must not matter (sorted first)
  EXPECT_THAT(PublishedSample(names, 367643, 80), ElementsAreArray(want));
}

TEST(PythonRandomTest, PublishedSampleSortsLikePython) {
  // python3 -c "import random; n=['video_%d'%i for i in range(104)];
  //             print(random.Random(367643).sample(sorted(n), 80)[:10])"
  // ('video_10' < 'video_2': string order, not numeric.)
  std::vector<std::string> names = Names("video_%d", 0, 103);
  std::vector<std::string> got = PublishedSample(names, 367643, 80);
  got.resize(10);
  EXPECT_THAT(got, ElementsAre("video_66", "video_42", "video_90", "video_56", "video_70",
                               "video_60", "video_14", "video_15", "video_69", "video_61"));
}

TEST(PythonRandomTest, SetStrategyMatchesCPython) {
  // python3 -c "import random; print(random.Random(367643).sample(range(1000), 10))"
  PythonRandom r(367643);
  EXPECT_THAT(r.SampleIndices(1000, 10),
              ElementsAre(915, 542, 887, 329, 759, 924, 452, 578, 493, 81));
  // python3 -c "import random; print(random.Random(367643).sample(range(30), 2))"
  PythonRandom r2(367643);
  EXPECT_THAT(r2.SampleIndices(30, 2), ElementsAre(28, 16));
  // python3 -c "import random; print(random.Random(0).sample(range(1000), 3),
  //                                  random.Random(2**32+5).sample(range(1000), 3))"
  PythonRandom r3(0), r4((int64_t{1} << 32) + 5);
  EXPECT_THAT(r3.SampleIndices(1000, 3), ElementsAre(864, 394, 776));
  EXPECT_THAT(r4.SampleIndices(1000, 3), ElementsAre(161, 497, 289));
}

TEST(PythonRandomTest, SampleIsAPermutationPrefix) {
  for (int64_t n : {1, 5, 30, 300}) {
    for (int64_t k : {int64_t{0}, int64_t{1}, n / 2, n}) {
      PythonRandom r(n * 31 + k);
      std::vector<int64_t> s = r.SampleIndices(n, k);
      ASSERT_EQ(static_cast<int64_t>(s.size()), k);
      std::set<int64_t> uniq(s.begin(), s.end());
      EXPECT_EQ(static_cast<int64_t>(uniq.size()), k);
      for (int64_t v : s) EXPECT_TRUE(v >= 0 && v < n);
    }
  }
}

TEST(SplitTest, SeedSplitOfThePublishedSize) {
  const std::vector<std::string> names = Names("%03d", 1, 104);
  auto split = SeedSplit(names);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->train.size(), 80u);
  EXPECT_EQ(split->test.size(), 24u);
  EXPECT_TRUE(split->val.empty());
  std::vector<std::string> want_train = PublishedSample(names, 367643, 80);
  std::sort(want_train.begin(), want_train.end());
  EXPECT_EQ(split->train, want_train);
  std::set<std::string> all(split->train.begin(), split->train.end());
  for (const auto& t : split->test) EXPECT_TRUE(all.insert(t).second) << t;
  EXPECT_EQ(all.size(), 104u);
  EXPECT_TRUE(std::is_sorted(split->test.begin(), split->test.end()));
}

TEST(SplitTest, ValidationSubsetAndSmallDatasets) {
  const std::vector<std::string> names = Names("%03d", 1, 104);
  SeedSplitOptions o;
  o.val_videos = 8;
  auto split = SeedSplit(names, o);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->train.size(), 72u);
  EXPECT_EQ(split->val.size(), 8u);
  std::vector<std::string> want_val = PublishedSample(PublishedSample(names, 367643, 80), 1, 8);
  std::sort(want_val.begin(), want_val.end());
  EXPECT_EQ(split->val, want_val);
  // Synthetic default (8 videos): round(80 · 8 / 104) = 6 training videos.
  auto small = SeedSplit(Names("syn%03d", 0, 7));
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->train.size(), 6u);
  EXPECT_EQ(small->test.size(), 2u);
  // Errors.
  SeedSplitOptions too_many;
  too_many.train_videos = 104;
  EXPECT_THAT(std::string(SeedSplit(names, too_many).status().message()), HasSubstr("only 104"));
  EXPECT_FALSE(SeedSplit({"a"}).ok());
  EXPECT_FALSE(SeedSplit({"a", "a", "b"}).ok());
}

TEST(SplitTest, SplitFilesRoundTripAndRejectMistakes) {
  Split s{{"a", "b"}, {"c"}, {"d"}};
  auto back = ParseSplitJson(SplitToJson(s), "s.json", {"a", "b", "c", "d"});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->train, s.train);
  EXPECT_EQ(back->val, s.val);
  EXPECT_EQ(back->test, s.test);
  EXPECT_EQ(SplitToJson(s), R"({"train":["a","b"],"val":["c"],"test":["d"]})");
  struct Case {
    const char* json;
    const char* want;
  };
  for (const Case& c : std::vector<Case>{
           {"[1]", "expected a JSON object"},
           {"{", "not valid JSON"},
           {R"({"train":["a"],"test":["a"]})", "listed twice"},
           {R"({"train":["a"],"test":["zz"]})", "\"zz\" (in \"test\") is not in the dataset"},
           {R"({"train":["a"],"test":[],"extra":[]})", "unknown key \"extra\""},
           {R"({"train":["a"]})", "needs both"},
           {R"({"train":[1],"test":[]})", "non-string"},
           {R"({"train":[],"test":["a"]})", "\"train\" is empty"},
       }) {
    auto r = ParseSplitJson(c.json, "s.json", {"a", "b", "c", "d"});
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.want)) << c.json;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("s.json: "));
  }
}

TEST(SplitTest, SplitModeFromFlags) {
  EXPECT_EQ(*ResolveSplitMode("", ""), "seed");
  EXPECT_EQ(*ResolveSplitMode("", "s.json"), "file");  // --split_file alone
  EXPECT_EQ(*ResolveSplitMode("seed", ""), "seed");
  EXPECT_EQ(*ResolveSplitMode("file", "s.json"), "file");
  const struct {
    const char *split, *file, *want;
  } bad[] = {
      {"seed", "s.json", "contradict"},  // a split file is never silently ignored
      {"file", "", "--split=file needs --split_file"},
      {"random", "", "--split must be seed or file, not 'random'"},
  };
  for (const auto& c : bad) {
    auto r = ResolveSplitMode(c.split, c.file);
    ASSERT_FALSE(r.ok()) << c.split << " " << c.file;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.want));
  }
}

}  // namespace
}  // namespace sal360::data

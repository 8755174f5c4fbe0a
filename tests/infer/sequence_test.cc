// The one autoregressive loop (infer/sequence.h) against a frame-by-frame reference
// written here with the model directly: the temporal input of each mode, the
// first-frames map, the x10 scale, the batching rule, and its errors.
#include "infer/sequence.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "nn/init.h"
#include "nn/model.h"

namespace sal360::infer {
namespace {

constexpr int kH = 16, kW = 32;
constexpr int64_t kPixels = int64_t{kH} * kW;

std::vector<float> Pattern(int seed, int64_t n, float scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = scale * float((i * 7919 + seed * 104729) % 1000) / 1000.0f;
  return v;
}

struct Video {
  std::vector<int> ids;
  std::vector<std::vector<float>> rgb, gt;  // gt: the predecessor's ground truth (data scale)
};

Video MakeVideo(const std::vector<int>& ids) {
  Video v;
  v.ids = ids;
  for (int id : ids) {
    v.rgb.push_back(Pattern(id, kPixels * 3, 1.0f));
    v.gt.push_back(Pattern(1000 + id, kPixels, 0.01f));
  }
  return v;
}

class SequenceTest : public ::testing::Test {
 protected:
  SequenceTest() : model_(nn::Device::kCpu, nn::ModelConfig()) {
    nn::Rng rng(7);
    model_.Initialize(rng);
  }

  // The reference: one frame at a time, the rule written out.
  std::vector<std::vector<float>> Reference(const Video& v, const SequenceOptions& o) {
    std::vector<std::vector<float>> out;
    for (size_t k = 0; k < v.ids.size(); ++k) {
      std::vector<float> prev(static_cast<size_t>(kPixels), 0.0f);
      if (o.input == TemporalInput::kGroundTruth) {
        for (int64_t p = 0; p < kPixels; ++p) prev[p] = v.gt[k][p] * nn::kMapScale;
      } else if (o.input == TemporalInput::kPrediction) {
        int found = -1;
        for (size_t j = 0; j < k; ++j) {
          if (v.ids[j] == v.ids[k] - o.interval) found = static_cast<int>(j);
        }
        for (int64_t p = 0; p < kPixels; ++p) {
          prev[p] = found >= 0 ? out[found][p] : o.first_frames_map[p] * nn::kMapScale;
        }
      }
      std::vector<float> input(static_cast<size_t>(kPixels) * 4);
      PackInput(v.rgb[k].data(), prev.data(), kH, kW, input.data());
      out.push_back(ForwardHost(model_, input, 1, kH, kW));
    }
    return out;
  }

  absl::StatusOr<std::vector<std::vector<float>>> Run(const Video& v, const SequenceOptions& o) {
    std::vector<std::vector<float>> out(v.ids.size());
    int64_t expected = 0;
    absl::Status order = absl::OkStatus();
    SequenceRunner runner(model_, kH, kW, o, [&](int64_t index, int id, const float* map) {
      if (index != expected++ || id != v.ids[static_cast<size_t>(index)]) {
        order = absl::InternalError("outputs out of order");
      }
      out[static_cast<size_t>(index)].assign(map, map + kPixels);
      return absl::OkStatus();
    });
    for (size_t k = 0; k < v.ids.size(); ++k) {
      if (absl::Status s = runner.Push(v.ids[k], v.rgb[k].data(), v.gt[k].data()); !s.ok()) return s;
    }
    if (absl::Status s = runner.Finish(); !s.ok()) return s;
    if (!order.ok()) return order;
    return out;
  }

  nn::SphericalUNet model_;
};

double MaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = a.size() == b.size() ? 0.0 : INFINITY;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
  return m;
}

TEST_F(SequenceTest, EachTemporalInputMatchesTheFrameByFrameReference) {
  // Gaps in the ids: frame 9's predecessor (7 with interval 2) is missing, so it gets
  // the first-frames map like frames 1 and 2.
  const Video v = MakeVideo({1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15});
  for (TemporalInput input : {TemporalInput::kPrediction, TemporalInput::kGroundTruth, TemporalInput::kNone}) {
    for (int max_batch : {1, 3, 8}) {
      SequenceOptions o;
      o.input = input;
      o.interval = 2;
      o.max_batch = max_batch;
      o.first_frames_map = Pattern(5, kPixels, 0.02f);
      const std::vector<std::vector<float>> want = Reference(v, o);
      absl::StatusOr<std::vector<std::vector<float>>> got = Run(v, o);
      ASSERT_TRUE(got.ok()) << got.status();
      for (size_t k = 0; k < want.size(); ++k) {
        if (max_batch == 1) {
          EXPECT_EQ((*got)[k], want[k]) << TemporalInputName(input) << " frame " << v.ids[k];
        } else {
          // Batched GEMMs may round differently from single-image ones.
          EXPECT_LT(MaxDiff((*got)[k], want[k]), 1e-4)
              << TemporalInputName(input) << " batch " << max_batch << " frame " << v.ids[k];
        }
      }
    }
  }
}

TEST_F(SequenceTest, FirstFramesMapReachesTheOutput) {
  // With the prediction input, frames 1..interval see the first-frames map: two maps
  // must give two different outputs for frame 1, and the same for a frame-1-only video.
  const Video v = MakeVideo({1, 2, 3});
  SequenceOptions a;
  a.interval = 5;
  a.first_frames_map = std::vector<float>(static_cast<size_t>(kPixels), 0.0f);
  SequenceOptions b = a;
  b.first_frames_map = Pattern(3, kPixels, 0.05f);
  absl::StatusOr<std::vector<std::vector<float>>> ra = Run(v, a), rb = Run(v, b);
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_GT(MaxDiff((*ra)[0], (*rb)[0]), 1e-4);
  // Zeros as the first-frames map is the "none" input for those frames.
  SequenceOptions none = a;
  none.input = TemporalInput::kNone;
  absl::StatusOr<std::vector<std::vector<float>>> rn = Run(v, none);
  ASSERT_TRUE(rn.ok());
  EXPECT_EQ((*ra)[0], (*rn)[0]);
}

TEST_F(SequenceTest, Errors) {
  const Video v = MakeVideo({3, 2});
  SequenceOptions o;
  o.first_frames_map = std::vector<float>(static_cast<size_t>(kPixels), 0.0f);
  absl::StatusOr<std::vector<std::vector<float>>> r = Run(v, o);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("increase"), std::string::npos) << r.status();
  SequenceRunner gt(model_, kH, kW, SequenceOptions{TemporalInput::kGroundTruth, 5, {}, 8},
                    [](int64_t, int, const float*) { return absl::OkStatus(); });
  EXPECT_FALSE(gt.Push(1, v.rgb[0].data(), nullptr).ok());
  SequenceRunner no_map(model_, kH, kW, SequenceOptions{}, [](int64_t, int, const float*) { return absl::OkStatus(); });
  EXPECT_FALSE(no_map.Push(1, v.rgb[0].data()).ok());  // prediction input without a first-frames map
  EXPECT_FALSE(ParseTemporalInput("future").ok());
  EXPECT_EQ(*ParseTemporalInput("gt"), TemporalInput::kGroundTruth);
}

TEST_F(SequenceTest, ResetStartsANewVideo) {
  const Video v = MakeVideo({1, 2, 3, 4, 5, 6, 7});
  SequenceOptions o;
  o.interval = 1;
  o.first_frames_map = Pattern(9, kPixels, 0.01f);
  o.max_batch = 1;
  std::vector<std::vector<float>> out;
  SequenceRunner runner(model_, kH, kW, o, [&](int64_t, int, const float* map) {
    out.emplace_back(map, map + kPixels);
    return absl::OkStatus();
  });
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t k = 0; k < v.ids.size(); ++k) ASSERT_TRUE(runner.Push(v.ids[k], v.rgb[k].data()).ok());
    ASSERT_TRUE(runner.Finish().ok());
    runner.Reset();
  }
  ASSERT_EQ(out.size(), 2 * v.ids.size());
  for (size_t k = 0; k < v.ids.size(); ++k) EXPECT_EQ(out[k], out[k + v.ids.size()]) << k;
}

}  // namespace
}  // namespace sal360::infer

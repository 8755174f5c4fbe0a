#include <string>

#include "gtest/gtest.h"
#include "nn/context.h"
#include "nn/device.h"
#include "nn/tensor.h"

namespace sal360::nn {
namespace {

TEST(Device, ResolveCpuAlwaysWorks) {
  auto d = ResolveDevice("cpu");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, Device::kCpu);
}

TEST(Device, AutoMatchesProbe) {
  std::string why;
  const int n = CudaDeviceCount(&why);
  auto d = ResolveDevice("auto");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, n > 0 ? Device::kCuda : Device::kCpu);
  if (n == 0) {
    EXPECT_FALSE(why.empty()) << "a missing device must come with a reason";
  }
}

TEST(Device, CudaWithoutDeviceIsAnError) {
  if (CudaDeviceCount() > 0) GTEST_SKIP() << "a CUDA device is present";
  auto d = ResolveDevice("cuda");
  EXPECT_FALSE(d.ok());
  EXPECT_NE(std::string(d.status().message()).find("no CUDA device"), std::string::npos);
}

TEST(Device, UnknownNameRejected) {
  auto d = ResolveDevice("tpu");
  EXPECT_FALSE(d.ok());
  EXPECT_NE(std::string(d.status().message()).find("tpu"), std::string::npos);
}

TEST(Buffer, MoveTransfersOwnership) {
  Buffer a(Device::kCpu, 100);
  void* p = a.data();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  Buffer b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  Buffer c;
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(c.bytes(), 100u);
}

TEST(Tensor, RoundTripsValues) {
  const Shape s{2, 3, 4, 5};
  std::vector<float> v(s.numel());
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.5f - 3.0f;
  Tensor t = Tensor::FromVector(s, v, Device::kCpu);
  EXPECT_EQ(t.shape(), s);
  EXPECT_EQ(t.ToVector(), v);
  Tensor u = t.Clone();
  t.SetZero();
  EXPECT_EQ(u.ToVector(), v);
  EXPECT_EQ(t.ToVector(), std::vector<float>(v.size(), 0.0f));
}

TEST(Arena, GrowsOnceThenStopsAllocating) {
  Arena arena(Device::kCpu);
  void* a = arena.Alloc(1000);
  void* b = arena.Alloc(5000);  // forces a second chunk
  EXPECT_NE(a, b);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 256, 0u);
  const size_t high = arena.high_water();
  EXPECT_GE(high, 6000u);
  arena.Reset();  // merges into one chunk of the high-water size
  const size_t cap = arena.capacity();
  EXPECT_EQ(cap, high);
  arena.Alloc(1000);
  arena.Alloc(5000);
  EXPECT_EQ(arena.capacity(), cap) << "second pass of the same sizes must not grow";
}

}  // namespace
}  // namespace sal360::nn

namespace sal360::nn {
namespace {
TEST(Arena, ScopeReleasesItsAllocations) {
  Arena arena(Device::kCpu);
  void* a = arena.Alloc(512);
  void* inner = nullptr;
  {
    Arena::Scope scope(arena);
    inner = arena.Alloc(1024);
    EXPECT_NE(inner, a);
  }
  EXPECT_EQ(arena.Alloc(1024), inner) << "the scope's memory is handed out again";
}
}  // namespace
}  // namespace sal360::nn

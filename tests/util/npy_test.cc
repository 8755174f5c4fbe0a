// Tests of the .npy reader/writer against numpy.lib.format's written definition:
// golden bytes assembled by hand (what numpy.save writes), round trips of every dtype,
// and hostile input (every truncation, bad headers, wrong sizes, unsupported dtypes).
#include "util/npy.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sal360::util {
namespace {

// numpy.save(np.array([[1, 2, 3]], dtype='<f4')) writes exactly this: version 1.0, a
// header dict padded with spaces to a 64-byte boundary and ending in '\n'.
std::string Golden() {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }";
  dict.append(128 - 10 - dict.size() - 1, ' ');  // 60 + 1 + 10 bytes round up to 128
  dict += "\n";
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(dict.size()));
  out.push_back(0);
  out += dict;
  const float v[3] = {1, 2, 3};
  out.append(reinterpret_cast<const char*>(v), sizeof v);
  return out;
}

TEST(Npy, WriterMatchesNumpyBytes) {
  EXPECT_EQ(SerializeNpy(NpyArray::FromFloat32({1, 3}, {1, 2, 3})), Golden());
}

TEST(Npy, ReadsGoldenBytes) {
  auto a = ParseNpy(Golden(), "g.npy");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->dtype, DType::kFloat32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(a->ToFloats(), (std::vector<float>{1, 2, 3}));
}

TEST(Npy, OneDimensionalShapeHasTrailingComma) {
  const std::string s = SerializeNpy(NpyArray::FromInt32({2}, {7, -8}));
  EXPECT_NE(s.find("'shape': (2,)"), std::string::npos);
  EXPECT_EQ(s.size() % 64, 8u);  // 64-byte header + 8 data bytes
  auto a = ParseNpy(s, "x");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->ToDoubles(), (std::vector<double>{7, -8}));
}

TEST(Npy, HeaderVariantsNumpyAccepts) {
  // Double quotes, no trailing comma, keys in another order, version 2.0, a scalar.
  for (const std::string& dict :
       {std::string("{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<i2\"}\n"),
        std::string("{'descr':'<i2','fortran_order':False,'shape':(2,)}")}) {
    for (int version : {1, 2}) {
      std::string s = std::string("\x93NUMPY", 6);
      s.push_back(static_cast<char>(version));
      s.push_back(0);
      const uint32_t n = dict.size();
      s.push_back(static_cast<char>(n & 0xff));
      s.push_back(static_cast<char>(n >> 8));
      if (version == 2) s += std::string(2, '\0');
      s += dict;
      const int16_t v[2] = {-3, 300};
      s.append(reinterpret_cast<const char*>(v), 4);
      auto a = ParseNpy(s, "v");
      ASSERT_TRUE(a.ok()) << dict << " v" << version << ": " << a.status();
      EXPECT_EQ(a->dtype, DType::kInt16);
      EXPECT_EQ(a->ToDoubles(), (std::vector<double>{-3, 300}));
    }
  }
  auto scalar = ParseNpy(SerializeNpy(NpyArray::FromFloat64({}, {2.5})), "s");
  ASSERT_TRUE(scalar.ok());
  EXPECT_TRUE(scalar->shape.empty());
  EXPECT_EQ(scalar->ToDoubles(), std::vector<double>{2.5});
  auto empty = ParseNpy(SerializeNpy(NpyArray::FromFloat32({0, 5}, {})), "e");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->numel(), 0);
}

TEST(Npy, RoundTripsAndFileIo) {
  const std::string path = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") + "/rt.npy";
  const NpyArray a = NpyArray::FromFloat64({2, 2, 1}, {0.5, -1e300, 3, 4});
  ASSERT_TRUE(WriteNpy(path, a).ok());
  auto b = ReadNpy(path);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->shape, a.shape);
  EXPECT_EQ(b->bytes, a.bytes);
  auto small = ReadNpy(path, 64);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(std::string(small.status().message()).find("rt.npy"), std::string::npos);
  EXPECT_FALSE(ReadNpy(path + ".missing").ok());
}

TEST(Npy, EveryTruncationIsAnErrorNamingTheFile) {
  const std::string full = SerializeNpy(NpyArray::FromFloat32({2, 3}, {1, 2, 3, 4, 5, 6}));
  for (size_t n = 0; n < full.size(); ++n) {
    auto r = ParseNpy(full.substr(0, n), "cut.npy");
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(std::string(r.status().message()).rfind("cut.npy: ", 0), 0u) << r.status();
  }
  auto extra = ParseNpy(full + "x", "extra.npy");
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(std::string(extra.status().message()).find("trailing"), std::string::npos);
}

std::string WithDict(const std::string& dict, const std::string& data = std::string(4, '\0')) {
  std::string s = std::string("\x93NUMPY\x01\x00", 8);
  s.push_back(static_cast<char>(dict.size() & 0xff));
  s.push_back(static_cast<char>(dict.size() >> 8));
  return s + dict + data;
}

TEST(Npy, HostileHeadersAreRejectedWithTheReason) {
  struct Case {
    std::string dict, want;
  };
  const std::vector<Case> cases = {
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "big-endian"},
      {"{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", "not supported"},
      {"{'descr': 'O', 'fortran_order': False, 'shape': (1,), }", "not supported"},
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", "Fortran"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "non-negative"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", "unexpected key"},
      {"{'descr': '<f4', 'shape': (1,), }", "lacks"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", "duplicate"},
      {"__import__('os').system('true')", "does not start"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } junk", "trailing characters"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", "too large"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }", "truncated"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "truncated"},
  };
  for (const Case& c : cases) {
    auto r = ParseNpy(WithDict(c.dict), "h.npy");
    ASSERT_FALSE(r.ok()) << c.dict;
    EXPECT_NE(std::string(r.status().message()).find(c.want), std::string::npos)
        << c.dict << " -> " << r.status();
  }
  std::string bad_version = SerializeNpy(NpyArray::FromFloat32({1}, {1}));
  bad_version[6] = 9;
  EXPECT_FALSE(ParseNpy(bad_version, "v").ok());
}

TEST(Npy, ConvertsEveryDType) {
  struct Case {
    const char* descr;
    std::string data;
    std::vector<double> want;
  };
  const uint8_t u8[2] = {0, 255};
  const int8_t i8[2] = {-128, 5};
  const uint16_t u16[2] = {65535, 1};
  const uint32_t u32[2] = {4000000000u, 2};
  const int64_t i64[2] = {-(int64_t{1} << 40), 9};
  const uint64_t u64[2] = {uint64_t{1} << 50, 3};
  const uint8_t b1[2] = {1, 0};
  auto raw = [](const void* p, size_t n) { return std::string(static_cast<const char*>(p), n); };
  const std::vector<Case> cases = {
      {"|u1", raw(u8, 2), {0, 255}},
      {"|i1", raw(i8, 2), {-128, 5}},
      {"<u2", raw(u16, 4), {65535, 1}},
      {"<u4", raw(u32, 8), {4000000000.0, 2}},
      {"<i8", raw(i64, 16), {-1099511627776.0, 9}},
      {"<u8", raw(u64, 16), {1125899906842624.0, 3}},
      {"|b1", raw(b1, 2), {1, 0}},
  };
  for (const Case& c : cases) {
    auto r = ParseNpy(WithDict(std::string("{'descr': '") + c.descr +
                                   "', 'fortran_order': False, 'shape': (2,), }",
                               c.data),
                      "d.npy");
    ASSERT_TRUE(r.ok()) << c.descr << ": " << r.status();
    EXPECT_EQ(r->ToDoubles(), c.want) << c.descr;
  }
}

}  // namespace
}  // namespace sal360::util

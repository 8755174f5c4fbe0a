// Tests of the safetensors reader/writer against the format's written definition
// (https://github.com/huggingface/safetensors, "Format"): golden bytes made by hand,
// round trips, and hostile input (every truncation, bad JSON, bad offsets, bad dtypes).
#include "util/safetensors.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sal360::util {
namespace {

std::string U64Le(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

std::string FloatBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

// A file assembled by hand from the format definition: header length, header, data.
std::string HandMade(const std::string& header, const std::string& data) {
  return U64Le(header.size()) + header + data;
}

Safetensors Sample() {
  Safetensors st;
  st.tensors["conv1.weight"] =
      SafetensorsTensor::FromFloat32({2, 1, 3, 3}, std::vector<float>{
                                                       1, 2, 3, 4, 5, 6, 7, 8, 9,  //
                                                       -1, -2, -3, -4, -5, -6, -7, -8, 0.5f});
  st.tensors["bn1.num_batches_tracked"] = SafetensorsTensor::FromInt64({}, {12345678901234});
  st.tensors["empty"] = SafetensorsTensor::FromFloat32({0, 3}, std::vector<float>{});
  SafetensorsTensor d;
  d.dtype = DType::kFloat64;
  d.shape = {2};
  const double dv[2] = {3.25, -1e300};
  d.bytes.assign(reinterpret_cast<const char*>(dv), 16);
  st.tensors["double"] = d;
  SafetensorsTensor i32;
  i32.dtype = DType::kInt32;
  i32.shape = {3};
  const int32_t iv[3] = {-7, 0, 2147483647};
  i32.bytes.assign(reinterpret_cast<const char*>(iv), 12);
  st.tensors["ints"] = i32;
  SafetensorsTensor u8;
  u8.dtype = DType::kUint8;
  u8.shape = {5};
  u8.bytes = std::string("\x00\x01\xfe\xff\x7f", 5);
  st.tensors["bytes"] = u8;
  st.metadata["format"] = "sal360-checkpoint";
  st.metadata["config"] = "{\"lr\": 0.001, \"quote\": \"\\\"\"}";
  return st;
}

void ExpectSame(const Safetensors& a, const Safetensors& b) {
  EXPECT_EQ(a.metadata, b.metadata);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    auto it = b.tensors.find(name);
    ASSERT_NE(it, b.tensors.end()) << name;
    EXPECT_EQ(t.dtype, it->second.dtype) << name;
    EXPECT_EQ(t.shape, it->second.shape) << name;
    EXPECT_EQ(t.bytes, it->second.bytes) << name;
  }
}

TEST(SafetensorsTest, ParsesHandMadeFile) {
  const std::string header =
      R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
      R"("a":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
      R"("__metadata__":{"k":"v"}}   )";  // trailing spaces are legal padding
  const std::string data = U64Le(42) + FloatBytes({1.5f, -2.0f});
  absl::StatusOr<Safetensors> st = ParseSafetensors(HandMade(header, data), "hand.st");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->metadata.at("k"), "v");
  absl::StatusOr<std::vector<float>> b = st->GetFloat32("hand.st", "b", {2});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*b, (std::vector<float>{1.5f, -2.0f}));
  absl::StatusOr<std::vector<int64_t>> a = st->GetInt64("hand.st", "a", {});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, (std::vector<int64_t>{42}));
}

TEST(SafetensorsTest, RoundTripsEveryDType) {
  const Safetensors st = Sample();
  const std::string bytes = SerializeSafetensors(st);
  absl::StatusOr<Safetensors> back = ParseSafetensors(bytes, "mem");
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(st, *back);
  // Serialising again gives identical bytes (deterministic writer).
  EXPECT_EQ(SerializeSafetensors(*back), bytes);
}

TEST(SafetensorsTest, WriterLayoutFollowsTheFormat) {
  const std::string bytes = SerializeSafetensors(Sample());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  ASSERT_LE(8 + n, bytes.size());
  EXPECT_EQ((8 + n) % 8, 0u) << "header padded so the data area is 8-byte aligned";
  EXPECT_EQ(bytes[8], '{');
  // The 8-byte dtypes come first, so every tensor is aligned to its item size.
  const std::string header = bytes.substr(8, n);
  EXPECT_NE(header.find(R"("bn1.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]})"),
            std::string::npos)
      << header;
  EXPECT_NE(header.find(R"("double":{"dtype":"F64","shape":[2],"data_offsets":[8,24]})"),
            std::string::npos)
      << header;
  // The raw data of the int64 scalar sits right after the header.
  int64_t v = 0;
  std::memcpy(&v, bytes.data() + 8 + n, 8);
  EXPECT_EQ(v, 12345678901234);
}

TEST(SafetensorsTest, EveryTruncationIsAnError) {
  const std::string bytes = SerializeSafetensors(Sample());
  for (size_t len = 0; len < bytes.size(); ++len) {
    absl::StatusOr<Safetensors> st = ParseSafetensors(bytes.substr(0, len), "trunc.st");
    ASSERT_FALSE(st.ok()) << "prefix of " << len << " bytes parsed";
    EXPECT_NE(st.status().message().find("trunc.st"), absl::string_view::npos) << st.status();
  }
  EXPECT_FALSE(ParseSafetensors(bytes + "x", "long.st").ok()) << "trailing byte";
}

TEST(SafetensorsTest, CorruptedBytesNeverCrash) {
  // Every byte of the header area replaced by a few hostile values: either a clean
  // error or a valid parse (e.g. a changed digit inside a metadata string).
  const std::string bytes = SerializeSafetensors(Sample());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  int errors = 0;
  for (size_t pos = 0; pos < 8 + n; ++pos) {
    for (char c : {'\0', '{', '"', '9', '\xff', ']'}) {
      std::string bad = bytes;
      if (bad[pos] == c) continue;
      bad[pos] = c;
      absl::StatusOr<Safetensors> st = ParseSafetensors(bad, "x");
      if (!st.ok()) ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}

struct BadCase {
  const char* label;
  std::string file;
  const char* expect_in_message;
};

TEST(SafetensorsTest, RejectsHostileHeaders) {
  const std::string f8 = FloatBytes({1, 2});  // 8 data bytes
  auto entry = [](const std::string& fields) { return "{\"t\":{" + fields + "}}"; };
  const std::vector<BadCase> cases = {
      {"short", "abc", "too short"},
      {"huge header length", U64Le(uint64_t{1} << 40) + "{}", "exceeds the limit"},
      {"header past end", U64Le(100) + "{}", "past the end"},
      {"not json", HandMade("{nope", ""), "not valid JSON"},
      {"not object", HandMade("[1,2]", ""), "does not start with '{'"},
      {"deep nesting", HandMade(std::string(50, '{'), ""), "nested deeper"},
      {"deep arrays", HandMade("{\"t\":{\"shape\":[[[[1]]]]}}", ""), "nested deeper"},
      {"entry not object", HandMade("{\"t\":3}", ""), "not a JSON object"},
      {"missing dtype", HandMade(entry(R"("shape":[2],"data_offsets":[0,8])"), f8), "dtype"},
      {"unknown dtype", HandMade(entry(R"("dtype":"Q9","shape":[2],"data_offsets":[0,8])"), f8),
       "unknown dtype"},
      {"unsupported dtype",
       HandMade(entry(R"("dtype":"F16","shape":[4],"data_offsets":[0,8])"), f8), "F16"},
      {"unknown field",
       HandMade(entry(R"("dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1)"), f8),
       "unknown header field"},
      {"negative dim", HandMade(entry(R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])"), f8),
       "non-negative"},
      {"float dim", HandMade(entry(R"("dtype":"F32","shape":[2.0],"data_offsets":[0,8])"), f8),
       "non-negative"},
      {"string dim", HandMade(entry(R"("dtype":"F32","shape":["2"],"data_offsets":[0,8])"), f8),
       "non-negative"},
      {"offsets length", HandMade(entry(R"("dtype":"F32","shape":[2],"data_offsets":[0])"), f8),
       "data_offsets"},
      {"offsets reversed", HandMade(entry(R"("dtype":"F32","shape":[0],"data_offsets":[8,0])"), f8),
       "begin > end"},
      {"offsets past end", HandMade(entry(R"("dtype":"F32","shape":[4],"data_offsets":[0,16])"), f8),
       "past the data area"},
      {"size mismatch", HandMade(entry(R"("dtype":"F64","shape":[1],"data_offsets":[0,4])"), f8),
       "needs 8"},
      {"shape too large", HandMade(entry(R"("dtype":"F64","shape":[2],"data_offsets":[0,8])"), f8),
       "larger than"},
      {"overflowing shape",
       HandMade(entry(R"("dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,8])"),
                f8),
       "larger than"},
      {"gap", HandMade(entry(R"("dtype":"F32","shape":[1],"data_offsets":[4,8])"), f8), "tile"},
      {"trailing data", HandMade(entry(R"("dtype":"F32","shape":[1],"data_offsets":[0,4])"), f8),
       "trailing"},
      {"overlap",
       HandMade(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                f8),
       "overlap"},
      {"metadata not object", HandMade(R"({"__metadata__":[1]})", ""), "__metadata__"},
      {"metadata not string", HandMade(R"({"__metadata__":{"a":1}})", ""), "not a string"},
      {"bad utf8", HandMade("{\"\xff\":1}", ""), "not valid JSON"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<Safetensors> st = ParseSafetensors(c.file, "bad.st");
    ASSERT_FALSE(st.ok()) << c.label;
    const std::string msg(st.status().message());
    EXPECT_NE(msg.find("bad.st"), std::string::npos) << c.label << ": " << msg;
    EXPECT_NE(msg.find(c.expect_in_message), std::string::npos) << c.label << ": " << msg;
  }
}

TEST(SafetensorsTest, StrictTypedAccessNamesTensorAndShapes) {
  absl::StatusOr<Safetensors> st = ParseSafetensors(SerializeSafetensors(Sample()), "ck.st");
  ASSERT_TRUE(st.ok());
  absl::StatusOr<std::vector<float>> w = st->GetFloat32("ck.st", "conv1.weight", {2, 1, 3, 3});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)[17], 0.5f);

  const absl::Status shape = st->GetFloat32("ck.st", "conv1.weight", {2, 4, 3, 3}).status();
  EXPECT_EQ(shape.message(),
            "ck.st: tensor 'conv1.weight' has shape (2, 1, 3, 3), expected (2, 4, 3, 3)");
  const absl::Status missing = st->GetFloat32("ck.st", "conv2.weight", {3}).status();
  EXPECT_EQ(missing.message(), "ck.st: missing tensor 'conv2.weight' (expected F32 (3))");
  EXPECT_TRUE(absl::IsNotFound(missing));
  const absl::Status dtype = st->GetFloat32("ck.st", "bn1.num_batches_tracked", {}).status();
  EXPECT_EQ(dtype.message(), "ck.st: tensor 'bn1.num_batches_tracked' has dtype I64, expected F32");
  EXPECT_FALSE(st->GetMetadata("ck.st", "nope").ok());
  EXPECT_EQ(*st->GetMetadata("ck.st", "format"), "sal360-checkpoint");
}

TEST(SafetensorsTest, WritesAtomicallyAndReadsBack) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/round.safetensors";
  ASSERT_TRUE(WriteSafetensors(path, Sample()).ok());
  absl::StatusOr<Safetensors> back = ReadSafetensors(path);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(Sample(), *back);
  // The size limit applies before reading.
  EXPECT_FALSE(ReadSafetensors(path, 16).ok());
  EXPECT_FALSE(ReadSafetensors(dir + "/missing.safetensors").ok());
  EXPECT_FALSE(WriteSafetensors(dir + "/no/such/dir/x.safetensors", Sample()).ok());
}

}  // namespace
}  // namespace sal360::util

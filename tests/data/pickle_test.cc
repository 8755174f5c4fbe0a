// Tests of the safe pickle reader/writer (data/pickle.h).
//
// Fixtures in tests/data/testdata were written once by CPython 3.11.7's pickle module:
//   cd tests/data/testdata && python3 make_pickle_fixtures.py
// KitchenSink(), Vinfo() and BigList() below rebuild the same values in C++.
#include "data/pickle.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/file.h"

namespace sal360::data {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using V = PyValue;

std::string Fixture(const std::string& name) {
  auto bytes = util::ReadFile("tests/data/testdata/" + name, 1 << 20);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

V Str(const char* s) { return V::FromStr(s); }
V Int(int64_t i) { return V::FromInt(i); }
V F(double d) { return V::FromFloat(d); }
V List(std::vector<V> v) { return V::FromList(std::move(v)); }
V Tuple(std::vector<V> v) { return V::FromTuple(std::move(v)); }
V Dict(std::vector<std::pair<V, V>> v) { return V::FromDict(std::move(v)); }

// make_pickle_fixtures.py: kitchen_sink(with_bytes).
V KitchenSink(bool with_bytes) {
  std::vector<V> ints;
  for (int64_t i :
       {int64_t{0}, int64_t{1}, int64_t{255}, int64_t{256}, int64_t{65535}, int64_t{65536},
        int64_t{-1}, int64_t{-255}, int64_t{-256}, int64_t{2147483647}, int64_t{-2147483648LL},
        int64_t{2147483648LL}, int64_t{-2147483649LL}, (int64_t{1} << 40) + 7,
        std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}) {
    ints.push_back(Int(i));
  }
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<V> floats = {F(0.0), F(-0.0), F(0.1), F(-2.5), F(1e300), F(5e-324), F(inf), F(-inf)};
  std::vector<V> strs = {Str(""),
                         Str("a"),
                         Str("caf\xc3\xa9"),
                         Str("\xe6\x97\xa5\xe6\x9c\xac"),
                         Str("\xf0\x9f\x98\x80"),
                         V::FromStr(std::string(300, 'x')),
                         Str("quote'\"\\back\nline")};
  std::vector<V> tuples = {Tuple({}),
                           Tuple({Int(1)}),
                           Tuple({Int(1), Int(2)}),
                           Tuple({Int(1), Int(2), Int(3)}),
                           Tuple({Int(1), Int(2), Int(3), Int(4)}),
                           Tuple({Tuple({Int(1)}), List({Int(2)})})};
  V nested = Dict(
      {{Str("a"), Dict({{Str("b"), Dict({{Str("c"), List({List({}), Dict({}), Tuple({})})}})}})}});
  V shared = List({Int(1), Int(2), Int(3)});
  std::vector<V> long_list;
  for (int i = 0; i < 1500; ++i) long_list.push_back(Int(i));
  std::vector<std::pair<V, V>> items = {
      {Str("none"), V::FromNone()},
      {Str("true"), V::FromBool(true)},
      {Str("false"), V::FromBool(false)},
      {Str("ints"), List(ints)},
      {Str("floats"), List(floats)},
      {Str("strs"), List(strs)},
      {Str("tuples"), List(tuples)},
      {Str("nested"), nested},
      {Str("shared"), List({shared, shared, Dict({{Str("again"), shared}})})},
      {Str("long_list"), List(long_list)},
      {Str("int_keys"), Dict({{Int(1), Str("one")},
                              {Int(-2), Str("minus two")},
                              {Tuple({Int(3), Int(4)}), Str("tuple key")}})},
  };
  if (with_bytes) {
    items.push_back({Str("bytes"), List({V::FromBytes(""), V::FromBytes(std::string("\x00\xff", 2)),
                                         V::FromBytes(std::string(300, 'y'))})});
  }
  return Dict(items);
}

// make_pickle_fixtures.py: vinfo() (same float expressions, same evaluation order).
V Vinfo() {
  std::vector<std::pair<V, V>> videos;
  const char* names[] = {"001", "002", "abc"};
  for (int vi = 0; vi < 3; ++vi) {
    std::vector<std::pair<V, V>> frames;
    for (int f = 1; f < 4; ++f) {
      char key[8];
      std::snprintf(key, sizeof(key), "%04d", f);
      std::vector<V> points;
      for (int k = 0; k < 3; ++k) {
        const double x = std::fmod(vi * 0.1 + f * 0.01 + k * 0.001, 1.0);
        points.push_back(Tuple({F(x), F(0.5 - 0.01 * k)}));
      }
      frames.push_back({Str(key), List(points)});
    }
    videos.push_back({Str(names[vi]), Dict(frames)});
  }
  return Dict(videos);
}

V BigList() {
  std::vector<V> items;
  for (int i = 0; i < 8000; ++i) items.push_back(F(i * 0.5));
  return List(items);
}

TEST(PickleTest, ReadsCPythonKitchenSinkAllProtocols) {
  for (int proto = 0; proto <= 5; ++proto) {
    SCOPED_TRACE(proto);
    const std::string name = "kitchen_sink_p" + std::to_string(proto) + ".pkl";
    auto v = ParsePickle(Fixture(name), name);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(*v, KitchenSink(proto >= 3)) << v->DebugString(2000);
    // -0.0 keeps its sign.
    const auto& floats = v->dict_items()[4].second.items();
    EXPECT_TRUE(std::signbit(floats[1].as_float()));
  }
}

TEST(PickleTest, ReadsCPythonVinfoAndBigList) {
  for (int proto = 2; proto <= 4; ++proto) {
    const std::string name = "vinfo_p" + std::to_string(proto) + ".pkl";
    auto v = ParsePickle(Fixture(name), name);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(*v, Vinfo());
  }
  auto v = ParsePickle(Fixture("big_list_p4.pkl"), "big_list_p4.pkl");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, BigList());
}

// For values without shared sub-objects our writer emits CPython's exact bytes,
// including memo puts, 1000-item batches and protocol 4's 64 KiB frames.
TEST(PickleTest, WriterMatchesCPythonBytes) {
  for (int proto = 2; proto <= 4; ++proto) {
    auto bytes = SerializePickle(Vinfo(), proto);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    EXPECT_EQ(*bytes, Fixture("vinfo_p" + std::to_string(proto) + ".pkl")) << proto;
  }
  auto bytes = SerializePickle(BigList(), 4);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, Fixture("big_list_p4.pkl"));
}

// Deterministic random values of every kind.
struct Gen {
  uint64_t s;
  uint64_t Next() {
    s += 0x9e3779b97f4a7c15ULL;
    uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  V Value(int depth, bool bytes) {
    const int kinds = depth > 3 ? 6 : 9;
    switch (Next() % kinds) {
      case 0:
        return V::FromNone();
      case 1:
        return V::FromBool(Next() & 1);
      case 2: {
        const int shift = Next() % 64;
        return Int(static_cast<int64_t>(Next()) >> shift);
      }
      case 3: {
        uint64_t bits = Next();
        double d;
        std::memcpy(&d, &bits, 8);
        return F(d);  // includes NaNs, infinities, denormals
      }
      case 4: {
        std::string s;
        const int n = Next() % (Next() % 8 == 0 ? 400 : 12);
        for (int k = 0; k < n; ++k) s.push_back(static_cast<char>('a' + Next() % 26));
        if (Next() % 3 == 0) s += "\xc3\xa9\xf0\x9f\x98\x80";
        return V::FromStr(s);
      }
      case 5: {
        if (!bytes) return V::FromNone();
        std::string s;
        const int n = Next() % 300;
        for (int k = 0; k < n; ++k) s.push_back(static_cast<char>(Next()));
        return V::FromBytes(s);
      }
      case 6:
      case 7: {
        std::vector<V> items;
        const int n = Next() % (depth == 0 && Next() % 4 == 0 ? 1200 : 6);
        for (int k = 0; k < n; ++k) items.push_back(Value(depth + 1, bytes));
        return Next() & 1 ? List(items) : Tuple(items);
      }
      default: {
        std::vector<std::pair<V, V>> items;
        const int n = Next() % 6;
        for (int k = 0; k < n; ++k) items.push_back({Int(k), Value(depth + 1, bytes)});
        return Dict(items);
      }
    }
  }
};

TEST(PickleTest, RoundTripsRandomValues) {
  for (int proto = 2; proto <= 4; ++proto) {
    Gen g{static_cast<uint64_t>(proto)};
    for (int trial = 0; trial < 200; ++trial) {
      const V v = g.Value(0, proto >= 3);
      auto bytes = SerializePickle(v, proto);
      ASSERT_TRUE(bytes.ok()) << bytes.status();
      auto back = ParsePickle(*bytes, "rt");
      ASSERT_TRUE(back.ok()) << back.status();
      ASSERT_EQ(*back, v) << v.DebugString();
    }
  }
}

TEST(PickleTest, WriterRefusesBytesAtProtocol2AndBadProtocols) {
  auto b = SerializePickle(V::FromBytes("x"), 2);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("protocol >= 3"));
  EXPECT_FALSE(SerializePickle(V::FromNone(), 1).ok());
  EXPECT_FALSE(SerializePickle(V::FromNone(), 5).ok());
}

// Every prefix of a valid pickle is an error, never a crash or a value.
TEST(PickleTest, EveryTruncationIsRejected) {
  for (const char* name : {"kitchen_sink_p0.pkl", "kitchen_sink_p2.pkl", "kitchen_sink_p4.pkl",
                           "kitchen_sink_p5.pkl", "vinfo_p3.pkl"}) {
    const std::string data = Fixture(name);
    ASSERT_FALSE(data.empty());
    for (size_t n = 0; n < data.size(); ++n) {
      auto v = ParsePickle(data.substr(0, n), name);
      ASSERT_FALSE(v.ok()) << name << " prefix " << n;
      ASSERT_THAT(std::string(v.status().message()), StartsWith(name));
    }
  }
  // A protocol-4 frame cut short says so.
  const std::string big = Fixture("big_list_p4.pkl");
  auto v = ParsePickle(big.substr(0, 1000), "big");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("FRAME at byte 2 announces"));
}

std::string P2(const std::string& body) { return std::string("\x80\x02", 2) + body; }

TEST(PickleTest, ForbiddenOpcodesNamedWithOffset) {
  const std::vector<std::pair<uint8_t, const char*>> forbidden = {
      {'c', "GLOBAL"},      {0x93, "STACK_GLOBAL"}, {'R', "REDUCE"},          {'b', "BUILD"},
      {'i', "INST"},        {'o', "OBJ"},           {0x81, "NEWOBJ"},         {0x92, "NEWOBJ_EX"},
      {'P', "PERSID"},      {'Q', "BINPERSID"},     {0x82, "EXT1"},           {0x83, "EXT2"},
      {0x84, "EXT4"},       {0x8f, "EMPTY_SET"},    {0x90, "ADDITEMS"},       {0x91, "FROZENSET"},
      {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"},  {0x98, "READONLY_BUFFER"}};
  for (const auto& [op, opname] : forbidden) {
    // NONE first so that the opcode sits at byte 3 with a value under it.
    auto v = ParsePickle(P2(std::string("N") + static_cast<char>(op) + "xxxxxxxxxxxxx."), "f.pkl");
    ASSERT_FALSE(v.ok()) << opname;
    char want[128];
    std::snprintf(want, sizeof(want), "f.pkl: unsupported pickle opcode 0x%02x (%s) at byte 3", op,
                  opname);
    EXPECT_THAT(std::string(v.status().message()), StartsWith(want));
    EXPECT_STREQ(PickleOpcodeName(op), opname);
  }
  auto v = ParsePickle(P2("N\xff."), "f.pkl");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()),
              StartsWith("f.pkl: unknown pickle opcode 0xff at byte 3"));
}

// Payloads as CPython writes them:
//   python3 -c "import pickle,collections; print(pickle.dumps(collections.OrderedDict(a=1), 2))"
//   python3 -c "import pickle,collections; print(pickle.dumps(collections.OrderedDict(a=1), 4))"
// (pickletools.dis shows GLOBAL at byte 2 and STACK_GLOBAL at byte 39) and the classic
// protocol-0 os.system payload.
TEST(PickleTest, RejectsRealCodeExecutingPickles) {
  const std::string p2(
      "\x80\x02"
      "ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00aq\x02K\x01s.",
      45);
  auto v = ParsePickle(p2, "od2.pkl");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()),
              StartsWith("od2.pkl: unsupported pickle opcode 0x63 (GLOBAL) at byte 2"));
  const std::string p4(
      "\x80\x04\x95)\x00\x00\x00\x00\x00\x00\x00\x8c\x0b"
      "collections\x94\x8c\x0bOrderedDict"
      "\x94\x93\x94)R\x94\x8c\x01"
      "a\x94K\x01s.",
      52);
  v = ParsePickle(p4, "od4.pkl");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()),
              StartsWith("od4.pkl: unsupported pickle opcode 0x93 (STACK_GLOBAL) at byte 39"));
  v = ParsePickle("cos\nsystem\n(S'echo pwned'\ntR.", "evil.pkl");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()),
              StartsWith("evil.pkl: unsupported pickle opcode 0x63 (GLOBAL) at byte 0"));
}

TEST(PickleTest, HostileStructuresAreBounded) {
  // 1000 nested lists: ] ] ] ... a a a .
  std::string deep = P2(std::string(1000, ']') + std::string(999, 'a') + ".");
  auto v = ParsePickle(deep, "deep");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("nested deeper than 64"));

  // A list that contains itself: ] q0 h0 a .
  v = ParsePickle(P2(std::string("]q\x00h\x00"
                                 "a.",
                                 7)),
                  "cycle");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("nested deeper"));

  // L_{k+1} = [L_k, L_k] through the memo, 60 levels: 2^60 values when expanded.
  std::string dag = "]q\x00";
  dag.resize(3);
  dag[2] = 0;
  for (int k = 0; k < 60; ++k) {
    std::string s = "(";
    s += "h";
    s.push_back(static_cast<char>(k));
    s += "h";
    s.push_back(static_cast<char>(k));
    s += "lq";
    s.push_back(static_cast<char>(k + 1));
    dag += s;
  }
  // Leave only the last list: pop the earlier ones by building inside a final tuple.
  std::string prog = P2("(" + dag + "t.");
  v = ParsePickle(prog, "dag");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("after expanding shared references"));

  // A str claiming 2^40 bytes.
  v = ParsePickle(P2(std::string("\x8d\x00\x00\x00\x00\x00\x01\x00\x00", 9) + "abc."), "huge");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("exceeds the limit"));
}

TEST(PickleTest, StructuralErrors) {
  struct Case {
    std::string data;
    const char* want;
  };
  const std::vector<Case> cases = {
      {"", "empty pickle"},
      {P2("h\x05."), "memo key 5 was never stored"},
      {P2("NN."), "STOP with 2 values"},
      {P2("(N."), "STOP with an open MARK"},
      {P2("."), "STOP with 0 values"},
      {P2("N.x"), "1 bytes of garbage after STOP"},
      {P2("e."), "no MARK"},
      {P2("Na."), "stack underflow"},
      {P2("N(Ne."), "append to a None"},
      {P2("}(K\x01u."), "odd number of items"},
      {P2("}]Ns."), "unhashable dict key of type list"},
      {P2(std::string("X\x02\x00\x00\x00\xc3\x28.", 9)), "invalid UTF-8"},
      {P2(std::string("\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.", 12)),
       "does not fit in 64 bits"},
      {P2("I12x\n."), "malformed integer '12x'"},
      {P2("I99999999999999999999\n."), "does not fit in 64 bits"},
      {P2("Fabc\n."), "malformed float 'abc'"},
      {P2("S'abc\n."), "not quoted"},
      {std::string("\x80\x06N.", 4), "unsupported protocol 6"},
      // FRAME of 2 bytes, then a BINUNICODE whose data runs past the frame end.
      {std::string("\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00\x8c\x03"
                   "abc.",
                   17),
       "straddles the end of the frame"},
      // A FRAME inside a frame.
      {std::string("\x80\x04\x95\x0a\x00\x00\x00\x00\x00\x00\x00\x95\x01\x00\x00\x00\x00\x00\x00"
                   "\x00N.",
                   21),
       "new frame begins before the end"},
  };
  for (const Case& c : cases) {
    auto v = ParsePickle(c.data, "bad.pkl");
    ASSERT_FALSE(v.ok()) << c.want;
    EXPECT_THAT(std::string(v.status().message()), HasSubstr(c.want));
    EXPECT_THAT(std::string(v.status().message()), StartsWith("bad.pkl: "));
  }
}

TEST(PickleTest, Protocol0TextForms) {
  // Python 2 style: INT bools, LONG with L suffix, quoted STRING escapes, UNICODE escapes,
  // PUT/GET text memo.
  const std::string p0 =
      "(lp0\nI01\naI00\naL123456789012L\naS'a\\'b\\x41\\n\\101'\naVx\\u00e9\\U0001f600\np1\n"
      "ag1\naF-0.5\na.";
  auto v = ParsePickle(p0, "p0");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v,
            List({V::FromBool(true), V::FromBool(false), Int(123456789012LL), Str("a'bA\nA"),
                  Str("x\xc3\xa9\xf0\x9f\x98\x80"), Str("x\xc3\xa9\xf0\x9f\x98\x80"), F(-0.5)}));
}

TEST(PickleTest, MemoAliasesMutatedContainers) {
  // An empty list is memoized, filled later by APPENDS; a later GET must see it filled
  // (CPython's behaviour, here via the real fixture's 'shared' entry).
  auto v = ParsePickle(Fixture("kitchen_sink_p2.pkl"), "ks");
  ASSERT_TRUE(v.ok());
  const V& shared = v->dict_items()[8].second;
  ASSERT_EQ(shared.items().size(), 3u);
  EXPECT_EQ(shared.items()[0], shared.items()[1]);
  EXPECT_EQ(shared.items()[0].items().size(), 3u);
}

TEST(PickleTest, FileErrorsNameThePath) {
  auto v = ReadPickle("/nonexistent/vinfo.pkl");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("/nonexistent/vinfo.pkl"));
}

TEST(PickleTest, DebugStringIsPythonLike) {
  EXPECT_EQ(Dict({{Str("a"), Tuple({Int(1)})}, {Int(2), List({V::FromNone(), V::FromBool(true)})}})
                .DebugString(),
            "{'a': (1,), 2: [None, True]}");
  EXPECT_EQ(List(std::vector<V>(100, Int(12345))).DebugString(20).size(), 23u);
}

}  // namespace
}  // namespace sal360::data

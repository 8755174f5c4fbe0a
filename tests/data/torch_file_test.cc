// data/torch_file.h on files written by PyTorch 1.13 (testdata/torch/make_fixtures.py,
// versions.txt): both torch.save formats, a real-shaped state dict of the network with
// DataParallel names, views (offset, transposed strides), the published table layout;
// and hostile variants: every truncation offset, a forbidden global, lying sizes.
#include "data/torch_file.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "util/file.h"

extern "C" {
#include <zip.h>
}

namespace sal360::data {
namespace {

std::string Fixture(const std::string& name) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/" + std::getenv("TEST_WORKSPACE") + "/tests/data/testdata/torch/" +
         name;
}

std::string Bytes(const std::string& name) {
  absl::StatusOr<std::string> b = util::ReadFile(Fixture(name), int64_t{1} << 30);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *b : "";
}

// The generator's formulas (make_fixtures.py).
float Value(int64_t i, int t) { return static_cast<float>(((i * 7 + t * 13) % 1000) - 500) / 1024.0f; }

void ExpectUnet(const std::string& file) {
  SCOPED_TRACE(file);
  absl::StatusOr<TorchFile> f = ReadTorchFile(Fixture(file));
  ASSERT_TRUE(f.ok()) << f.status();
  absl::StatusOr<std::vector<std::pair<std::string, TorchTensor>>> sd = TorchStateDict(*f);
  ASSERT_TRUE(sd.ok()) << sd.status();
  ASSERT_EQ(sd->size(), 7u * 2 + 6u * 5);
  const int cin[] = {4, 64, 128, 256, 512, 256, 128}, cout[] = {64, 128, 256, 256, 128, 64, 1};
  size_t t = 0;
  for (int l = 0; l < 7; ++l) {
    const std::string conv = "conv" + std::to_string(l + 1);
    EXPECT_EQ((*sd)[t].first, conv + ".weight");
    EXPECT_EQ((*sd)[t].second.shape, (std::vector<int64_t>{cout[l], cin[l], 3, 3}));
    EXPECT_EQ((*sd)[t + 1].first, conv + ".bias");
    t += 2;
    if (l < 6) {
      const std::string bn = "bn" + std::to_string(l + 1);
      EXPECT_EQ((*sd)[t + 3].first, bn + ".running_var");
      EXPECT_EQ((*sd)[t + 4].first, bn + ".num_batches_tracked");
      EXPECT_TRUE((*sd)[t + 4].second.shape.empty());
      EXPECT_EQ((*sd)[t + 4].second.dtype, TorchDType::kInt64);
      EXPECT_EQ((*sd)[t + 4].second.ToInt64s(), std::vector<int64_t>{1000 + static_cast<int64_t>(t + 4)});
      const std::vector<float> var = (*sd)[t + 3].second.ToFloats();
      for (size_t i = 0; i < var.size(); ++i) ASSERT_EQ(var[i], 1.0f + ((i + t + 3) % 7) / 8.0f);
      t += 5;
    }
  }
  // Every element of every plain tensor.
  for (size_t k = 0; k < sd->size(); ++k) {
    const std::string& name = (*sd)[k].first;
    if (name.find("running_var") != std::string::npos || name.find("num_batches") != std::string::npos) continue;
    const std::vector<float> v = (*sd)[k].second.ToFloats();
    for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], Value(static_cast<int64_t>(i), static_cast<int>(k))) << name;
  }
}

TEST(TorchFile, RealShapedStateDictBothFormats) {
  ExpectUnet("unet_legacy.pth.tar");
  ExpectUnet("unet_zip.pth");
  absl::StatusOr<TorchFile> legacy = ReadTorchFile(Fixture("unet_legacy.pth.tar"));
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(legacy->format, "legacy");
  // The checkpoint dict around it: epoch and iter are plain values.
  ASSERT_TRUE(legacy->root.is_dict());
  EXPECT_EQ(legacy->root.dict_items()[0].first.as_str(), "epoch");
  EXPECT_EQ(legacy->root.dict_items()[0].second.as_int(), 20);
}

void ExpectSmall(const TorchFile& f) {
  absl::StatusOr<std::vector<std::pair<std::string, TorchTensor>>> sd = TorchStateDict(f);
  ASSERT_TRUE(sd.ok()) << sd.status();
  ASSERT_EQ(sd->size(), 3u);
  EXPECT_EQ((*sd)[0].second.shape, (std::vector<int64_t>{4, 3}));  // base.t(): stride (1, 4)
  std::vector<float> want_a;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 3; ++j) want_a.push_back(static_cast<float>(j * 4 + i));
  }
  EXPECT_EQ((*sd)[0].second.ToFloats(), want_a);
  EXPECT_EQ((*sd)[1].second.ToFloats(), (std::vector<float>{4, 5, 6, 7}));  // base[1]: offset 4
  EXPECT_EQ((*sd)[2].second.ToInt64s(), std::vector<int64_t>{7});
}

TEST(TorchFile, ViewsOfOneStorage) {
  for (const char* name : {"small_legacy.pth", "small_zip.pth"}) {
    SCOPED_TRACE(name);
    absl::StatusOr<TorchFile> f = ReadTorchFile(Fixture(name));
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->storages.size(), 2u);
    ExpectSmall(*f);
  }
}

TEST(TorchFile, PublishedTableLayout) {
  absl::StatusOr<TorchFile> f = ReadTorchFile(Fixture("30x60.pt"));
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(f->IsTensor(f->root));
  absl::StatusOr<TorchTensor> t = f->Tensor(f->root, "table");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype, TorchDType::kInt64);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{30, 60, 2, 8}));
}

TEST(TorchFile, EveryTruncationIsAnError) {
  for (const char* name : {"small_legacy.pth", "small_zip.pth"}) {
    const std::string full = Bytes(name);
    ASSERT_FALSE(full.empty());
    for (size_t n = 0; n < full.size(); ++n) {
      absl::StatusOr<TorchFile> f = ParseTorchFile(full.substr(0, n), name);
      ASSERT_FALSE(f.ok()) << name << " cut at " << n;
      ASSERT_NE(std::string(f.status().message()).find(name), std::string::npos) << f.status();
    }
  }
  // The real-shaped files at 300 offsets each.
  for (const char* name : {"unet_legacy.pth.tar", "unet_zip.pth"}) {
    const std::string full = Bytes(name);
    for (size_t k = 0; k < 300; ++k) {
      const size_t n = full.size() * k / 300;
      EXPECT_FALSE(ParseTorchFile(full.substr(0, n), name).ok()) << name << " cut at " << n;
    }
  }
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << "pattern not in the fixture";
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(TorchFile, ForbiddenGlobalIsRefusedByName) {
  const std::string bytes = Bytes("small_legacy.pth");
  const size_t at = bytes.find("collections\nOrderedDict");
  ASSERT_NE(at, std::string::npos);
  const std::string evil = Replace(bytes, "collections\nOrderedDict", "subprocess\ncheck_output");  // same length
  absl::StatusOr<TorchFile> f = ParseTorchFile(evil, "evil.pth");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(std::string(f.status().message())
                .find("refused global 'subprocess.check_output' at byte " + std::to_string(at - 1)),
            std::string::npos)
      << f.status();
  // Opcodes that build arbitrary objects stay refused even in allow-list mode.
  const std::string newobj = Replace(bytes, "\x89h\x03)R", "\x89h\x03)\x81");  // REDUCE -> NEWOBJ
  EXPECT_NE(std::string(ParseTorchFile(newobj, "newobj.pth").status().message()).find("NEWOBJ"), std::string::npos);
}

TEST(TorchFile, LyingSizes) {
  const std::string bytes = Bytes("small_legacy.pth");
  // The float storage's size in one of its two references: 12 -> 13.
  const std::string one = Replace(bytes, "cpuq\nK\x0c", "cpuq\nK\x0d");
  EXPECT_NE(std::string(ParseTorchFile(one, "o.pth").status().message()).find("two different types or sizes"),
            std::string::npos)
      << ParseTorchFile(one, "o.pth").status();
  // In both (the data still says 12).
  const std::string more = Replace(one, "h\nK\x0c", "h\nK\x0d");
  EXPECT_NE(std::string(ParseTorchFile(more, "m.pth").status().message()).find("says 12 elements, its tensors say 13"),
            std::string::npos)
      << ParseTorchFile(more, "m.pth").status();
  // Tensor b at storage offset 9 instead of 4: reaches past the 12 elements.
  const std::string past = Replace(bytes, "QK\x04K\x04\x85", "QK\x09K\x04\x85");
  absl::StatusOr<TorchFile> pf = ParseTorchFile(past, "p.pth");
  ASSERT_TRUE(pf.ok()) << pf.status();  // the file parses; the tensor is refused when built
  EXPECT_NE(std::string(TorchStateDict(*pf).status().message()).find("reaches element 12 of a storage of 12"),
            std::string::npos)
      << TorchStateDict(*pf).status();
  // The zip: a data entry shorter than its tensors need, and a central directory that lies.
  const std::string zbytes = Bytes("small_zip.pth");
  {
    const std::string path = ::testing::TempDir() + "/short.pth";
    int err = 0;
    zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    ASSERT_NE(z, nullptr);
    zip_error_t ze;
    zip_source_t* src = zip_source_buffer_create(zbytes.data(), zbytes.size(), 0, &ze);
    zip_t* in = zip_open_from_source(src, ZIP_RDONLY, &ze);
    ASSERT_NE(in, nullptr);
    std::vector<std::string> keep;
    for (zip_int64_t i = 0; i < zip_get_num_entries(in, 0); ++i) {
      const std::string name = zip_get_name(in, i, 0);
      zip_stat_t st;
      zip_stat_index(in, i, 0, &st);
      std::string data(st.size, '\0');
      zip_file_t* zf = zip_fopen_index(in, i, 0);
      zip_fread(zf, data.data(), st.size);
      zip_fclose(zf);
      if (name == "small_zip/data/0") data.resize(40);  // 10 of the 12 floats
      keep.push_back(data);
      zip_source_t* s = zip_source_buffer(z, keep.back().data(), keep.back().size(), 0);
      zip_file_add(z, name.c_str(), s, 0);
    }
    ASSERT_EQ(zip_close(z), 0);
    zip_discard(in);
    absl::StatusOr<TorchFile> f = ReadTorchFile(path);
    ASSERT_FALSE(f.ok());
    EXPECT_NE(std::string(f.status().message()).find("holds 40 bytes, expected 48"), std::string::npos) << f.status();
  }
  {
    // Central directory entry of data/0: compressed and uncompressed sizes 48 -> 40.
    std::string z = zbytes;
    const std::string name = "small_zip/data/0";
    const size_t local = z.find(name), central = z.find(name, local + 1);
    ASSERT_NE(central, std::string::npos);
    for (size_t field : {central - 46 + 20, central - 46 + 24}) {
      uint32_t v = 40;
      std::memcpy(&z[field], &v, 4);
    }
    EXPECT_FALSE(ParseTorchFile(z, "cd.pth").ok());
  }
}

// The pickle reader's allow-list mode on hand-written programs.
TEST(PickleAllowList, ObjectsAreDescriptionsOnly) {
  PickleLimits limits;
  limits.allowed_globals = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2"};
  // Protocol 4: STACK_GLOBAL collections.OrderedDict, called with () -> an empty dict.
  const std::string od = std::string("\x80\x04\x8c\x0b" "collections" "\x8c\x0b" "OrderedDict" "\x93)R.");
  absl::StatusOr<PyValue> v = ParsePickle(od, "od.pkl", limits);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->is_dict());
  // Without an allow-list the same bytes are refused as before.
  EXPECT_NE(std::string(ParsePickle(od, "od.pkl").status().message()).find("STACK_GLOBAL"), std::string::npos);
  // Not on the list: named with its offset.
  const std::string evil = std::string("\x80\x02" "cposix\nsystem\n" "X\x02\x00\x00\x00" "id" "\x85R.");
  EXPECT_NE(std::string(ParsePickle(evil, "e.pkl", limits).status().message()).find("refused global 'posix.system' at byte 2"),
            std::string::npos)
      << ParsePickle(evil, "e.pkl", limits).status();
  // A call is recorded, never made; BUILD adds its state; REDUCE of a non-global is refused.
  const std::string call = std::string("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n" "K\x01\x85R" "K\x02" "b.");
  absl::StatusOr<PyValue> c = ParsePickle(call, "c.pkl", limits);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->is_call());
  EXPECT_EQ(c->call().callable, "torch._utils._rebuild_tensor_v2");
  EXPECT_EQ(c->call().args, std::vector<PyValue>{PyValue::FromInt(1)});
  ASSERT_EQ(c->call().state.size(), 1u);
  EXPECT_EQ(c->call().state[0], PyValue::FromInt(2));
  EXPECT_FALSE(ParsePickle(std::string("\x80\x02K\x01)R.", 7), "r.pkl", limits).ok());
  // A call is not plain data: the writer refuses it.
  EXPECT_FALSE(SerializePickle(*c).ok());
}

// Found by tools/fuzz.sh (tests/fuzz/corpus/torch_fuzzer/crash_zip_entry_claims_2gb.pth,
// a mutated small_zip.pth): a zip entry whose directory claims 2 GB made the reader
// allocate 2 GB before reading. A claim beyond what the entry's compressed bytes can
// hold is now refused first.
TEST(TorchFile, AZipEntryCannotClaimMoreThanItsBytes) {
  const std::string path = std::string(std::getenv("TEST_SRCDIR")) + "/" + std::getenv("TEST_WORKSPACE") +
                           "/tests/fuzz/corpus/torch_fuzzer/crash_zip_entry_claims_2gb.pth";
  absl::StatusOr<std::string> bytes = util::ReadFile(path, 1 << 20);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<TorchFile> f = ParseTorchFile(*bytes, "claims.pth");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(std::string(f.status().message()).find("more than its compressed data can hold"), std::string::npos)
      << f.status();
}

TEST(TorchFile, NotATorchFile) {
  EXPECT_NE(std::string(ParseTorchFile("hello", "h.pth").status().message()).find("not a torch.save file"),
            std::string::npos);
  EXPECT_NE(std::string(ReadTorchFile("/nonexistent/x.pth").status().message()).find("/nonexistent/x.pth"),
            std::string::npos);
}

}  // namespace
}  // namespace sal360::data

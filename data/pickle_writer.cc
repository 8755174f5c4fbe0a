// The pickle writer (data/pickle.h): CPython's Pickler for trees.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/pickle.h"
#include "data/pickle_opcodes.h"
#include "util/file.h"

namespace sal360::data {

using namespace pickle_opcodes;  // NOLINT: the opcode names, as pickletools spells them

// Writer (CPython's Pickler for trees: every container and str/bytes memoized once).

namespace {

class Pickler {
 public:
  explicit Pickler(int protocol) : proto_(protocol) {}

  absl::StatusOr<std::string> Dump(const PyValue& v) {
    out_.push_back(static_cast<char>(PROTO));
    out_.push_back(static_cast<char>(proto_));
    frame_start_ = out_.size();
    if (auto s = Save(v, 0); !s.ok()) return s;
    Write(std::string(1, STOP));
    if (proto_ >= 4) CommitFrame(true);
    return std::move(out_);
  }

 private:
  static constexpr size_t kFrameSizeTarget = 64 * 1024;
  static constexpr size_t kFrameSizeMin = 4;

  // At protocol 4 the output after PROTO is cut into frames: a frame is closed at an
  // opcode boundary once it holds ≥ 64 KiB (CPython's _Pickler_OpcodeBoundary); its
  // FRAME header is inserted before it (frames < 4 bytes get no header).
  void Write(const std::string& s) { out_ += s; }
  void Boundary() {
    if (proto_ >= 4 && out_.size() - frame_start_ >= kFrameSizeTarget) CommitFrame(false);
  }
  void CommitFrame(bool /*final*/) {
    const size_t n = out_.size() - frame_start_;
    if (n >= kFrameSizeMin) {
      std::string header(1, static_cast<char>(FRAME));
      for (int k = 0; k < 8; ++k)
        header.push_back(static_cast<char>((uint64_t{n} >> (8 * k)) & 0xff));
      out_.insert(frame_start_, header);
    }
    frame_start_ = out_.size();
  }
  static std::string LE(uint64_t v, int n) {
    std::string s;
    for (int k = 0; k < n; ++k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
    return s;
  }
  void Memoize() {
    if (proto_ >= 4) {
      Write(std::string(1, static_cast<char>(MEMOIZE)));
    } else if (memo_ < 256) {
      Write(std::string(1, BINPUT) + LE(memo_, 1));
    } else {
      Write(std::string(1, LONG_BINPUT) + LE(memo_, 4));
    }
    ++memo_;
  }

  absl::Status Save(const PyValue& v, int depth) {
    if (depth > PickleLimits{}.max_depth) {
      return absl::InvalidArgumentError(
          absl::StrCat("pickle writer: value nested deeper than ", PickleLimits{}.max_depth));
    }
    using K = PyValue::Kind;
    switch (v.kind()) {
      case K::kNone:
        Write("N");
        break;
      case K::kBool:
        Write(std::string(1, static_cast<char>(v.as_bool() ? NEWTRUE : NEWFALSE)));
        break;
      case K::kInt:
        SaveInt(v.as_int());
        break;
      case K::kFloat: {
        uint64_t bits;
        const double d = v.as_float();
        std::memcpy(&bits, &d, 8);
        std::string s(1, BINFLOAT);
        for (int k = 7; k >= 0; --k) s.push_back(static_cast<char>((bits >> (8 * k)) & 0xff));
        Write(s);
        break;
      }
      case K::kStr: {
        const std::string& s = v.as_str();
        if (proto_ >= 4 && s.size() < 256) {
          Write(std::string(1, static_cast<char>(SHORT_BINUNICODE)) + LE(s.size(), 1) + s);
        } else if (s.size() > 0xffffffffu) {
          if (proto_ < 4) return absl::InvalidArgumentError("pickle writer: str > 4 GiB");
          Write(std::string(1, static_cast<char>(BINUNICODE8)) + LE(s.size(), 8) + s);
        } else {
          Write(std::string(1, BINUNICODE) + LE(s.size(), 4) + s);
        }
        Memoize();
        break;
      }
      case K::kBytes: {
        if (proto_ < 3) {
          return absl::InvalidArgumentError(
              "pickle writer: bytes need protocol >= 3 (protocol 2 would use REDUCE)");
        }
        const std::string& s = v.as_bytes();
        if (s.size() < 256) {
          Write(std::string(1, SHORT_BINBYTES) + LE(s.size(), 1) + s);
        } else if (s.size() > 0xffffffffu) {
          if (proto_ < 4) return absl::InvalidArgumentError("pickle writer: bytes > 4 GiB");
          Write(std::string(1, static_cast<char>(BINBYTES8)) + LE(s.size(), 8) + s);
        } else {
          Write(std::string(1, BINBYTES) + LE(s.size(), 4) + s);
        }
        Memoize();
        break;
      }
      case K::kTuple: {
        const auto& items = v.items();
        if (items.empty()) {
          Write(")");
          break;
        }
        if (items.size() <= 3) {
          for (const PyValue& item : items) {
            if (auto s = Save(item, depth + 1); !s.ok()) return s;
          }
          Write(std::string(1, static_cast<char>(TUPLE1 + items.size() - 1)));
          Memoize();
          break;
        }
        Write("(");
        for (const PyValue& item : items) {
          if (auto s = Save(item, depth + 1); !s.ok()) return s;
        }
        Write("t");
        Memoize();
        break;
      }
      case K::kList: {
        Write("]");
        Memoize();
        const auto& items = v.items();
        for (size_t start = 0; start < items.size(); start += 1000) {
          const size_t n = std::min<size_t>(1000, items.size() - start);
          if (n > 1) Write("(");
          for (size_t k = start; k < start + n; ++k) {
            if (auto s = Save(items[k], depth + 1); !s.ok()) return s;
          }
          Write(n > 1 ? "e" : "a");
          Boundary();
        }
        break;
      }
      case K::kDict: {
        Write("}");
        Memoize();
        const auto& items = v.dict_items();
        for (size_t start = 0; start < items.size(); start += 1000) {
          const size_t n = std::min<size_t>(1000, items.size() - start);
          if (n > 1) Write("(");
          for (size_t k = start; k < start + n; ++k) {
            if (auto s = Save(items[k].first, depth + 1); !s.ok()) return s;
            if (auto s = Save(items[k].second, depth + 1); !s.ok()) return s;
          }
          Write(n > 1 ? "u" : "s");
          Boundary();
        }
        break;
      }
      case K::kGlobal:
      case K::kCall:
      case K::kPersistentId:
        return absl::InvalidArgumentError(absl::StrCat("pickle writer: a ", PyValue::KindName(v.kind()),
                                                       " is not plain data and is not written"));
    }
    Boundary();
    return absl::OkStatus();
  }

  void SaveInt(int64_t x) {
    if (x >= 0 && x <= 0xff) {
      Write(std::string(1, BININT1) + LE(x, 1));
    } else if (x >= 0 && x <= 0xffff) {
      Write(std::string(1, BININT2) + LE(x, 2));
    } else if (x >= -0x80000000LL && x <= 0x7fffffffLL) {
      Write(std::string(1, BININT) + LE(static_cast<uint32_t>(x), 4));
    } else {
      // Minimal two's-complement little-endian bytes (pickle.encode_long).
      std::string bytes = LE(static_cast<uint64_t>(x), 8);
      while (bytes.size() > 1) {
        const uint8_t last = bytes.back(), prev = bytes[bytes.size() - 2];
        if ((last == 0x00 && !(prev & 0x80)) || (last == 0xff && (prev & 0x80))) {
          bytes.pop_back();
        } else {
          break;
        }
      }
      Write(std::string(1, static_cast<char>(LONG1)) + LE(bytes.size(), 1) + bytes);
    }
  }

  int proto_;
  std::string out_;
  size_t frame_start_ = 0;
  uint64_t memo_ = 0;
};

}  // namespace

absl::StatusOr<std::string> SerializePickle(const PyValue& value, int protocol) {
  if (protocol < 2 || protocol > 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("pickle writer: protocol ", protocol, " unsupported (use 2, 3 or 4)"));
  }
  Pickler p(protocol);
  return p.Dump(value);
}

absl::Status WritePickle(const std::string& path, const PyValue& value, int protocol) {
  auto bytes = SerializePickle(value, protocol);
  if (!bytes.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", bytes.status().message()));
  return util::WriteFileAtomically(path, *bytes);
}

}  // namespace sal360::data

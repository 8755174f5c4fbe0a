// The pickle reader (data/pickle.h): a table-driven opcode decoder over an arena of
// nodes, with limits on sizes and depth, that never imports or calls anything.
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/pickle.h"
#include "data/pickle_opcodes.h"
#include "util/file.h"

namespace sal360::data {

using namespace pickle_opcodes;  // NOLINT: the opcode names, as pickletools spells them

// // The machine builds nodes in an arena (so that memo references alias, as in Python:
// a list memoized while empty and filled later by APPENDS is seen filled by a later GET)
// and converts the final node into a PyValue tree with depth and size limits.

namespace {

// 24 bytes per value: strings and child lists live in side tables (a real vinfo.pkl
// holds millions of small tuples and floats).
struct Node {
  PyValue::Kind kind = PyValue::Kind::kNone;
  union {
    bool b;
    int64_t i;
    double f;
  };
  // str/bytes: index into strings_; list/tuple/dict: index into kids_ (items; for a dict
  // key0, value0, key1, value1, ...).
  int64_t aux = -1;
  Node() : i(0) {}
  explicit Node(PyValue::Kind k) : kind(k), i(0) {}
};

// How an opcode's argument is encoded, and the decoded argument (see kOpRows).
enum class ArgKind : uint8_t {
  kNone,   // no argument, or the handler reads its own (FRAME)
  kU1,     // little-endian unsigned integers of 1, 2, 4, 8 bytes
  kU2,
  kU4,
  kU8,
  kLine,   // a protocol-0 text line
  kRaw8,   // 8 raw bytes (BINFLOAT)
};

struct OpArg {
  uint64_t u = 0;
  std::string line;
  const char* raw = nullptr;
};

class Unpickler {
 public:
  Unpickler(const std::string& data, const std::string& name, const PickleLimits& limits, size_t offset = 0,
            bool allow_trailing = false)
      : d_(data), name_(name), limits_(limits), pos_(offset), allow_trailing_(allow_trailing) {}
  size_t end() const { return pos_; }

  absl::StatusOr<PyValue> Run();

  // Opcode handlers, called through the opcode table (kOpRows below); the int selects
  // within a family of opcodes.
  absl::Status OpProto(const OpArg& a, int);
  absl::Status OpFrame(const OpArg& a, int);
  absl::Status OpStop(const OpArg& a, int);
  absl::Status OpMark(const OpArg& a, int);
  absl::Status OpPop(const OpArg& a, int);
  absl::Status OpPopMark(const OpArg& a, int);
  absl::Status OpDup(const OpArg& a, int);
  absl::Status OpMemoPut(const OpArg& a, int);
  absl::Status OpMemoGet(const OpArg& a, int);
  absl::Status OpMemoize(const OpArg& a, int);
  absl::Status OpConstant(const OpArg& a, int which);
  absl::Status OpIntLine(const OpArg& a, int);
  absl::Status OpLongLine(const OpArg& a, int);
  absl::Status OpBinInt(const OpArg& a, int sign);
  absl::Status OpLong(const OpArg& a, int check);
  absl::Status OpFloatLine(const OpArg& a, int);
  absl::Status OpBinFloat(const OpArg& a, int);
  absl::Status OpStringLine(const OpArg& a, int);
  absl::Status OpUnicodeLine(const OpArg& a, int);
  absl::Status OpLatin1String(const OpArg& a, int check);
  absl::Status OpSized(const OpArg& a, int kind);
  absl::Status OpEmpty(const OpArg& a, int kind);
  absl::Status OpFromMark(const OpArg& a, int kind);
  absl::Status OpTupleN(const OpArg& a, int count);
  absl::Status OpDict(const OpArg& a, int);
  absl::Status OpAppend(const OpArg& a, int);
  absl::Status OpAppends(const OpArg& a, int);
  absl::Status OpSetItem(const OpArg& a, int);
  absl::Status OpSetItems(const OpArg& a, int);
  absl::Status OpRefused(const OpArg& a, int);
  absl::Status OpGlobal(const OpArg& a, int);
  absl::Status OpStackGlobal(const OpArg& a, int);
  absl::Status OpReduce(const OpArg& a, int);
  absl::Status OpBuild(const OpArg& a, int);
  absl::Status OpBinPersId(const OpArg& a, int);

 private:
  // --- errors
  absl::Status Err(const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(
        name_, ": ", what, " at byte ", op_pos_, " (opcode ",
        absl::StrFormat("0x%02x", static_cast<unsigned>(op_)),
        PickleOpcodeName(op_)[0] ? absl::StrCat(" ", PickleOpcodeName(op_)) : "", ")"));
  }
  absl::Status Truncated() const {
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ": truncated pickle: opcode ", PickleOpcodeName(op_), " at byte ",
                     op_pos_, " needs more data than the ", d_.size(), "-byte file holds"));
  }

  // --- input
  // Reads n bytes at pos_, respecting the current frame.
  absl::Status Read(uint64_t n, const char** out) {
    if (n > d_.size() || pos_ > d_.size() - n) return Truncated();
    if (frame_end_ != 0 && pos_ + n > frame_end_) {
      return Err(absl::StrCat("data straddles the end of the frame ending at byte ", frame_end_));
    }
    *out = d_.data() + pos_;
    pos_ += n;
    return absl::OkStatus();
  }
  absl::Status ReadU8(uint8_t* v) {
    const char* p = nullptr;
    if (auto s = Read(1, &p); !s.ok()) return s;
    *v = static_cast<uint8_t>(p[0]);
    return absl::OkStatus();
  }
  absl::Status ReadLE(int nbytes, uint64_t* v) {
    const char* p = nullptr;
    if (auto s = Read(nbytes, &p); !s.ok()) return s;
    uint64_t r = 0;
    for (int k = nbytes - 1; k >= 0; --k) r = (r << 8) | static_cast<uint8_t>(p[k]);
    *v = r;
    return absl::OkStatus();
  }
  // A protocol-0 argument line (without its '\n').
  absl::Status ReadLine(std::string* line) {
    const size_t limit = frame_end_ != 0 ? frame_end_ : d_.size();
    const void* nl = std::memchr(d_.data() + pos_, '\n', limit - pos_);
    if (nl == nullptr) {
      if (limit < d_.size()) return Err("line straddles the end of its frame");
      return Truncated();
    }
    const size_t end = static_cast<const char*>(nl) - d_.data();
    if (end - pos_ > static_cast<size_t>(limits_.max_string_bytes)) return Err("line too long");
    line->assign(d_.data() + pos_, end - pos_);
    pos_ = end + 1;
    return absl::OkStatus();
  }

  // --- stack and arena
  absl::StatusOr<int64_t> NewNode(Node n) {
    if (static_cast<int64_t>(nodes_.size()) >= limits_.max_values) {
      return Err(absl::StrCat("more than ", limits_.max_values, " values"));
    }
    nodes_.push_back(std::move(n));
    return static_cast<int64_t>(nodes_.size()) - 1;
  }
  absl::Status Push(Node n) {
    auto id = NewNode(std::move(n));
    if (!id.ok()) return id.status();
    stack_.push_back(*id);
    return absl::OkStatus();
  }
  absl::Status PushSimple(PyValue::Kind k) { return Push(Node(k)); }
  std::vector<int64_t>& Kids(int64_t id) { return kids_[nodes_[id].aux]; }
  absl::StatusOr<int64_t> Pop() {
    if (stack_.size() <= StackBase()) return Err("stack underflow");
    int64_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  size_t StackBase() const { return marks_.empty() ? 0 : marks_.back(); }
  // Pops everything above the top MARK (and the mark).
  absl::StatusOr<std::vector<int64_t>> PopMark() {
    if (marks_.empty()) return Err("no MARK on the stack");
    const size_t base = marks_.back();
    marks_.pop_back();
    std::vector<int64_t> items(stack_.begin() + base, stack_.end());
    stack_.resize(base);
    return items;
  }
  absl::Status CheckKey(int64_t id) {
    const PyValue::Kind k = nodes_[id].kind;
    if (k == PyValue::Kind::kList || k == PyValue::Kind::kDict) {
      return Err(absl::StrCat("unhashable dict key of type ", PyValue::KindName(k)));
    }
    return absl::OkStatus();
  }
  absl::Status AppendTo(int64_t list, const std::vector<int64_t>& items) {
    if (nodes_[list].kind != PyValue::Kind::kList) {
      return Err(absl::StrCat("append to a ", PyValue::KindName(nodes_[list].kind)));
    }
    auto& kids = Kids(list);
    kids.insert(kids.end(), items.begin(), items.end());
    return absl::OkStatus();
  }
  absl::Status SetItems(int64_t dict, const std::vector<int64_t>& kv) {
    if (nodes_[dict].kind != PyValue::Kind::kDict) {
      return Err(absl::StrCat("setitem on a ", PyValue::KindName(nodes_[dict].kind)));
    }
    if (kv.size() % 2 != 0) return Err("odd number of items for SETITEMS");
    for (size_t k = 0; k < kv.size(); k += 2) {
      if (auto s = CheckKey(kv[k]); !s.ok()) return s;
    }
    auto& kids = Kids(dict);
    kids.insert(kids.end(), kv.begin(), kv.end());
    return absl::OkStatus();
  }
  // The memo: CPython numbers its entries 0, 1, 2, ..., so a vector holds them; keys far
  // beyond the dense range (legal but odd) go to a hash map, so that a hostile key like
  // 2^32 − 1 cannot make us allocate a huge vector.
  absl::Status MemoPut(uint64_t index) {
    if (stack_.size() <= StackBase()) return Err("memo put with an empty stack");
    if (memo_count_ >= limits_.max_values) return Err("memo too large");
    const int64_t value = stack_.back();
    if (index < memo_dense_.size() + 4096) {
      if (index >= memo_dense_.size()) memo_dense_.resize(index + 1, -1);
      memo_count_ += memo_dense_[index] < 0;
      memo_dense_[index] = value;
    } else {
      memo_count_ += memo_sparse_.count(index) == 0;
      memo_sparse_[index] = value;
    }
    return absl::OkStatus();
  }
  absl::Status MemoGet(uint64_t index) {
    int64_t value = -1;
    if (index < memo_dense_.size()) {
      value = memo_dense_[index];
    } else if (auto it = memo_sparse_.find(index); it != memo_sparse_.end()) {
      value = it->second;
    }
    if (value < 0) return Err(absl::StrCat("memo key ", index, " was never stored"));
    if (stack_.size() >= static_cast<size_t>(limits_.max_values)) return Err("stack too deep");
    stack_.push_back(value);
    return absl::OkStatus();
  }
  absl::Status PushString(PyValue::Kind kind, uint64_t n) {
    if (n > static_cast<uint64_t>(limits_.max_string_bytes)) {
      return Err(
          absl::StrCat("string of ", n, " bytes exceeds the limit of ", limits_.max_string_bytes));
    }
    const char* p = nullptr;
    if (auto s = Read(n, &p); !s.ok()) return s;
    std::string text(p, n);
    if (kind == PyValue::Kind::kStr && !ValidUtf8(text)) return Err("invalid UTF-8 in str");
    return PushText(kind, std::move(text));
  }
  absl::Status PushInt(int64_t v) {
    Node n(PyValue::Kind::kInt);
    n.i = v;
    return Push(n);
  }
  absl::Status PushBool(bool v) {
    Node n(PyValue::Kind::kBool);
    n.b = v;
    return Push(n);
  }
  absl::Status PushFloat(double v) {
    Node n(PyValue::Kind::kFloat);
    n.f = v;
    return Push(n);
  }
  absl::Status PushText(PyValue::Kind kind, std::string text) {
    Node n(kind);
    n.aux = static_cast<int64_t>(strings_.size());
    strings_.push_back(std::move(text));
    return Push(n);
  }
  absl::StatusOr<int64_t> NewContainer(PyValue::Kind kind, std::vector<int64_t> kids) {
    Node n(kind);
    n.aux = static_cast<int64_t>(kids_.size());
    auto id = NewNode(n);
    if (id.ok()) kids_.push_back(std::move(kids));
    return id;
  }
  absl::Status PushContainer(PyValue::Kind kind, std::vector<int64_t> kids) {
    auto id = NewContainer(kind, std::move(kids));
    if (!id.ok()) return id.status();
    stack_.push_back(*id);
    return absl::OkStatus();
  }
  // Two's-complement little-endian integer of n bytes (LONG1/LONG4).
  absl::Status PushLong(uint64_t n) {
    if (n > 8) {
      // Could still be a small value with redundant sign bytes, but CPython never writes
      // that; refuse rather than guess.
      if (n > static_cast<uint64_t>(limits_.max_string_bytes)) return Err("integer too long");
      return Err(absl::StrCat("integer of ", n, " bytes does not fit in 64 bits"));
    }
    const char* p = nullptr;
    if (auto s = Read(n, &p); !s.ok()) return s;
    uint64_t u = 0;
    for (int k = static_cast<int>(n) - 1; k >= 0; --k) u = (u << 8) | static_cast<uint8_t>(p[k]);
    if (n > 0 && n < 8 && (static_cast<uint8_t>(p[n - 1]) & 0x80)) u |= ~uint64_t{0} << (8 * n);
    return PushInt(static_cast<int64_t>(u));
  }

  bool ObjectsAllowed() const { return !limits_.allowed_globals.empty(); }
  absl::Status PushGlobal(const std::string& module, const std::string& name) {
    const std::string full = absl::StrCat(module, ".", name);
    bool ok = false;
    for (const std::string& a : limits_.allowed_globals) ok = ok || a == full;
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: refused global '%s' at byte %d: not on the allow-list (nothing is imported or executed)", name_,
          full, op_pos_));
    }
    return PushText(PyValue::Kind::kGlobal, full);
  }

  static bool ValidUtf8(const std::string& s);
  absl::Status ParseDecimalInt(const std::string& text, bool allow_l_suffix, int64_t* out);
  absl::Status ParseQuotedString(const std::string& line, std::string* out);
  absl::Status ParseRawUnicodeEscape(const std::string& line, std::string* out);

  absl::Status MemoIndex(const OpArg& a, uint64_t* index);
  absl::Status CheckExpanded(int64_t id, int depth, int64_t* count);
  absl::StatusOr<PyValue> Convert(int64_t id, int depth, int64_t* count);

  const std::string& d_;
  const std::string& name_;
  PickleLimits limits_;
  size_t pos_ = 0;
  bool allow_trailing_ = false;  // bytes after STOP are the caller's (a stream of pickles)
  size_t op_pos_ = 0;
  uint8_t op_ = 0;
  size_t frame_end_ = 0;  // end of the current FRAME (0 = not in a frame)
  bool stopped_ = false;  // STOP seen and checked
  std::vector<Node> nodes_;
  std::vector<std::string> strings_;
  std::vector<std::vector<int64_t>> kids_;
  std::vector<int64_t> stack_;
  std::vector<size_t> marks_;
  std::vector<int64_t> memo_dense_;  // -1 = unset
  std::unordered_map<uint64_t, int64_t> memo_sparse_;
  int64_t memo_count_ = 0;
};

bool Unpickler::ValidUtf8(const std::string& s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const uint8_t c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      const uint8_t cc = s[i + k];
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms and values beyond U+10FFFF are invalid. Lone surrogates are
    // accepted: CPython writes them with 'surrogatepass'.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff) {
      return false;
    }
    i += len;
  }
  return true;
}

static void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

absl::Status Unpickler::ParseDecimalInt(const std::string& text_in, bool allow_l_suffix,
                                        int64_t* out) {
  std::string text = text_in;
  if (allow_l_suffix && !text.empty() && text.back() == 'L') text.pop_back();
  size_t k = 0;
  bool neg = false;
  if (k < text.size() && (text[k] == '-' || text[k] == '+')) neg = text[k++] == '-';
  if (k == text.size()) return Err(absl::StrCat("malformed integer '", text_in, "'"));
  uint64_t mag = 0;
  const uint64_t limit = neg ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  for (; k < text.size(); ++k) {
    const char c = text[k];
    if (c < '0' || c > '9') return Err(absl::StrCat("malformed integer '", text_in, "'"));
    const uint64_t digit = c - '0';
    if (mag > (limit - digit) / 10) {
      return Err(absl::StrCat("integer '", text_in, "' does not fit in 64 bits"));
    }
    mag = mag * 10 + digit;
  }
  *out = neg ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
  return absl::OkStatus();
}

// Protocol 0 STRING: a Python 2 repr, quoted with ' or ", with backslash escapes. The
// bytes are taken as Latin-1 text (Python 3's default encoding='ASCII' would reject
// non-ASCII; we keep them).
absl::Status Unpickler::ParseQuotedString(const std::string& line, std::string* out) {
  if (line.size() < 2 || (line[0] != '\'' && line[0] != '"') || line.back() != line[0]) {
    return Err("STRING argument is not quoted");
  }
  const std::string body = line.substr(1, line.size() - 2);
  out->clear();
  for (size_t k = 0; k < body.size(); ++k) {
    uint8_t c = body[k];
    if (c != '\\') {
      AppendUtf8(c, out);
      continue;
    }
    if (++k >= body.size()) return Err("STRING ends in a backslash");
    const char e = body[k];
    switch (e) {
      case '\\':
        out->push_back('\\');
        break;
      case '\'':
        out->push_back('\'');
        break;
      case '"':
        out->push_back('"');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'a':
        out->push_back('\a');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'v':
        out->push_back('\v');
        break;
      case 'x': {
        if (k + 2 >= body.size()) return Err("STRING has a short \\x escape");
        const std::string hex = body.substr(k + 1, 2);
        if (!std::isxdigit(static_cast<uint8_t>(hex[0])) ||
            !std::isxdigit(static_cast<uint8_t>(hex[1]))) {
          return Err("STRING has a bad \\x escape");
        }
        AppendUtf8(static_cast<uint32_t>(std::strtoul(hex.c_str(), nullptr, 16)), out);
        k += 2;
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t v = 0;
          int digits = 0;
          while (digits < 3 && k < body.size() && body[k] >= '0' && body[k] <= '7') {
            v = v * 8 + (body[k] - '0');
            ++k;
            ++digits;
          }
          --k;
          AppendUtf8(v & 0xff, out);
        } else {
          return Err(absl::StrCat("STRING has an unsupported escape \\", std::string(1, e)));
        }
    }
  }
  return absl::OkStatus();
}

// Protocol 0 UNICODE: raw-unicode-escape: \uXXXX and \UXXXXXXXX, every other byte is
// a Latin-1 code point.
absl::Status Unpickler::ParseRawUnicodeEscape(const std::string& line, std::string* out) {
  out->clear();
  for (size_t k = 0; k < line.size(); ++k) {
    const uint8_t c = line[k];
    if (c == '\\' && k + 1 < line.size() && (line[k + 1] == 'u' || line[k + 1] == 'U')) {
      // An odd number of backslashes before u makes an escape.
      const int ndig = line[k + 1] == 'u' ? 4 : 8;
      if (k + 2 + ndig > line.size()) return Err("UNICODE has a short \\u escape");
      uint32_t cp = 0;
      for (int q = 0; q < ndig; ++q) {
        const char h = line[k + 2 + q];
        if (!std::isxdigit(static_cast<uint8_t>(h))) return Err("UNICODE has a bad \\u escape");
        cp = cp * 16 + (h <= '9' ? h - '0' : (std::tolower(h) - 'a' + 10));
      }
      if (cp > 0x10ffff) return Err("UNICODE escape beyond U+10FFFF");
      AppendUtf8(cp, out);
      k += 1 + ndig;
    } else {
      AppendUtf8(c, out);
    }
  }
  return absl::OkStatus();
}

absl::Status Unpickler::CheckExpanded(int64_t id, int depth, int64_t* count) {
  if (++*count > limits_.max_values) {
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ": more than ", limits_.max_values,
                     " values after expanding shared references (a hostile or cyclic pickle?)"));
  }
  const Node& n = nodes_[id];
  if (n.aux < 0 || n.kind == PyValue::Kind::kStr || n.kind == PyValue::Kind::kBytes ||
      n.kind == PyValue::Kind::kGlobal || kids_[n.aux].empty()) {
    return absl::OkStatus();
  }
  if (depth >= limits_.max_depth) {
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ": containers nested deeper than ", limits_.max_depth,
                     " levels (a hostile or self-referencing pickle?)"));
  }
  for (int64_t kid : kids_[n.aux]) {
    if (auto s = CheckExpanded(kid, depth + 1, count); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<PyValue> Unpickler::Convert(int64_t id, int depth, int64_t* count) {
  if (++*count > limits_.max_values) {
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ": more than ", limits_.max_values,
                     " values after expanding shared references (a hostile or cyclic pickle?)"));
  }
  const Node& n = nodes_[id];
  using K = PyValue::Kind;
  switch (n.kind) {
    case K::kNone:
      return PyValue::FromNone();
    case K::kBool:
      return PyValue::FromBool(n.b);
    case K::kInt:
      return PyValue::FromInt(n.i);
    case K::kFloat:
      return PyValue::FromFloat(n.f);
    case K::kStr:
      return PyValue::FromStr(strings_[n.aux]);
    case K::kBytes:
      return PyValue::FromBytes(strings_[n.aux]);
    case K::kGlobal:
      return PyValue::FromGlobal(strings_[n.aux]);
    default:
      break;
  }
  if (depth >= limits_.max_depth) {
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ": containers nested deeper than ", limits_.max_depth,
                     " levels (a hostile or self-referencing pickle?)"));
  }
  if (n.kind == K::kCall || n.kind == K::kPersistentId) {
    // kids: [global, args tuple, (state)] / [id]
    std::vector<PyValue> parts;
    for (int64_t kid : kids_[n.aux]) {
      auto v = Convert(kid, depth + 1, count);
      if (!v.ok()) return v.status();
      parts.push_back(std::move(*v));
    }
    if (n.kind == K::kPersistentId) return PyValue::FromPersistentId(std::move(parts[0]));
    std::vector<PyValue> state;
    if (parts.size() == 3) state.push_back(std::move(parts[2]));
    return PyValue::FromCall(parts[0].global_name(), parts[1].items(), std::move(state));
  }
  if (n.kind == K::kDict) {
    std::vector<std::pair<PyValue, PyValue>> items;
    const std::vector<int64_t>& kids = kids_[n.aux];
    items.reserve(kids.size() / 2);
    for (size_t k = 0; k + 1 < kids.size(); k += 2) {
      auto key = Convert(kids[k], depth + 1, count);
      if (!key.ok()) return key.status();
      auto val = Convert(kids[k + 1], depth + 1, count);
      if (!val.ok()) return val.status();
      items.emplace_back(std::move(*key), std::move(*val));
    }
    return PyValue::FromDict(std::move(items));
  }
  std::vector<PyValue> items;
  const std::vector<int64_t>& kids = kids_[n.aux];
  items.reserve(kids.size());
  for (int64_t kid : kids) {
    auto v = Convert(kid, depth + 1, count);
    if (!v.ok()) return v.status();
    items.push_back(std::move(*v));
  }
  return n.kind == K::kList ? PyValue::FromList(std::move(items))
                            : PyValue::FromTuple(std::move(items));
}

// ---- The opcode table ----
//
// Every opcode the reader knows is one row: its name, how its argument is encoded, and
// the handler that acts on it (with a parameter, so that one handler serves a family,
// e.g. BINUNICODE / SHORT_BINUNICODE / BINUNICODE8). Run() reads an opcode, decodes its
// argument as its row says, and calls the handler. Opcodes that could import or call
// code, or build types we do not hold, have rows that refuse them by name; a byte with
// no row is not a pickle opcode.

struct OpRow {
  uint8_t code = 0;
  const char* name = nullptr;  // nullptr: no such opcode
  ArgKind arg = ArgKind::kNone;
  absl::Status (Unpickler::*handler)(const OpArg&, int) = nullptr;
  int param = 0;
};

// Parameters of the families.
enum : int { kPlain = 0, kCheckNegative = 1 };
enum : int { kPushNone = 0, kPushTrue = 1, kPushFalse = 2 };
enum : int { kUnsigned = 0, kSigned32 = 1 };

using U = Unpickler;
using K = PyValue::Kind;
constexpr int KindParam(K k) { return static_cast<int>(k); }

// clang-format off
constexpr OpRow kOpRows[] = {
    // structure
    {PROTO, "PROTO", ArgKind::kU1, &U::OpProto},
    {FRAME, "FRAME", ArgKind::kNone, &U::OpFrame},
    {STOP, "STOP", ArgKind::kNone, &U::OpStop},
    {MARK, "MARK", ArgKind::kNone, &U::OpMark},
    {POP, "POP", ArgKind::kNone, &U::OpPop},
    {POP_MARK, "POP_MARK", ArgKind::kNone, &U::OpPopMark},
    {DUP, "DUP", ArgKind::kNone, &U::OpDup},
    // memo
    {PUT, "PUT", ArgKind::kLine, &U::OpMemoPut},
    {BINPUT, "BINPUT", ArgKind::kU1, &U::OpMemoPut},
    {LONG_BINPUT, "LONG_BINPUT", ArgKind::kU4, &U::OpMemoPut},
    {MEMOIZE, "MEMOIZE", ArgKind::kNone, &U::OpMemoize},
    {GET, "GET", ArgKind::kLine, &U::OpMemoGet},
    {BINGET, "BINGET", ArgKind::kU1, &U::OpMemoGet},
    {LONG_BINGET, "LONG_BINGET", ArgKind::kU4, &U::OpMemoGet},
    // scalars
    {NONE, "NONE", ArgKind::kNone, &U::OpConstant, kPushNone},
    {NEWTRUE, "NEWTRUE", ArgKind::kNone, &U::OpConstant, kPushTrue},
    {NEWFALSE, "NEWFALSE", ArgKind::kNone, &U::OpConstant, kPushFalse},
    {INT, "INT", ArgKind::kLine, &U::OpIntLine},
    {LONG, "LONG", ArgKind::kLine, &U::OpLongLine},
    {BININT, "BININT", ArgKind::kU4, &U::OpBinInt, kSigned32},
    {BININT1, "BININT1", ArgKind::kU1, &U::OpBinInt, kUnsigned},
    {BININT2, "BININT2", ArgKind::kU2, &U::OpBinInt, kUnsigned},
    {LONG1, "LONG1", ArgKind::kU1, &U::OpLong, kPlain},
    {LONG4, "LONG4", ArgKind::kU4, &U::OpLong, kCheckNegative},
    {FLOAT, "FLOAT", ArgKind::kLine, &U::OpFloatLine},
    {BINFLOAT, "BINFLOAT", ArgKind::kRaw8, &U::OpBinFloat},
    // strings and bytes
    {STRING, "STRING", ArgKind::kLine, &U::OpStringLine},
    {UNICODE, "UNICODE", ArgKind::kLine, &U::OpUnicodeLine},
    {BINSTRING, "BINSTRING", ArgKind::kU4, &U::OpLatin1String, kCheckNegative},
    {SHORT_BINSTRING, "SHORT_BINSTRING", ArgKind::kU1, &U::OpLatin1String, kPlain},
    {BINUNICODE, "BINUNICODE", ArgKind::kU4, &U::OpSized, KindParam(K::kStr)},
    {SHORT_BINUNICODE, "SHORT_BINUNICODE", ArgKind::kU1, &U::OpSized, KindParam(K::kStr)},
    {BINUNICODE8, "BINUNICODE8", ArgKind::kU8, &U::OpSized, KindParam(K::kStr)},
    {BINBYTES, "BINBYTES", ArgKind::kU4, &U::OpSized, KindParam(K::kBytes)},
    {SHORT_BINBYTES, "SHORT_BINBYTES", ArgKind::kU1, &U::OpSized, KindParam(K::kBytes)},
    {BINBYTES8, "BINBYTES8", ArgKind::kU8, &U::OpSized, KindParam(K::kBytes)},
    // containers
    {EMPTY_LIST, "EMPTY_LIST", ArgKind::kNone, &U::OpEmpty, KindParam(K::kList)},
    {EMPTY_DICT, "EMPTY_DICT", ArgKind::kNone, &U::OpEmpty, KindParam(K::kDict)},
    {EMPTY_TUPLE, "EMPTY_TUPLE", ArgKind::kNone, &U::OpEmpty, KindParam(K::kTuple)},
    {LIST, "LIST", ArgKind::kNone, &U::OpFromMark, KindParam(K::kList)},
    {TUPLE, "TUPLE", ArgKind::kNone, &U::OpFromMark, KindParam(K::kTuple)},
    {TUPLE1, "TUPLE1", ArgKind::kNone, &U::OpTupleN, 1},
    {TUPLE2, "TUPLE2", ArgKind::kNone, &U::OpTupleN, 2},
    {TUPLE3, "TUPLE3", ArgKind::kNone, &U::OpTupleN, 3},
    {DICT, "DICT", ArgKind::kNone, &U::OpDict},
    {APPEND, "APPEND", ArgKind::kNone, &U::OpAppend},
    {APPENDS, "APPENDS", ArgKind::kNone, &U::OpAppends},
    {SETITEM, "SETITEM", ArgKind::kNone, &U::OpSetItem},
    {SETITEMS, "SETITEMS", ArgKind::kNone, &U::OpSetItems},
    // refused: they import or call code, or build types we do not hold
    // objects: refused unless PickleLimits::allowed_globals names globals (see pickle.h)
    {GLOBAL, "GLOBAL", ArgKind::kNone, &U::OpGlobal},
    {STACK_GLOBAL, "STACK_GLOBAL", ArgKind::kNone, &U::OpStackGlobal},
    {REDUCE, "REDUCE", ArgKind::kNone, &U::OpReduce},
    {BUILD, "BUILD", ArgKind::kNone, &U::OpBuild},
    {BINPERSID, "BINPERSID", ArgKind::kNone, &U::OpBinPersId},
    {INST, "INST", ArgKind::kNone, &U::OpRefused},
    {OBJ, "OBJ", ArgKind::kNone, &U::OpRefused},
    {NEWOBJ, "NEWOBJ", ArgKind::kNone, &U::OpRefused},
    {NEWOBJ_EX, "NEWOBJ_EX", ArgKind::kNone, &U::OpRefused},
    {PERSID, "PERSID", ArgKind::kNone, &U::OpRefused},
    {EXT1, "EXT1", ArgKind::kNone, &U::OpRefused},
    {EXT2, "EXT2", ArgKind::kNone, &U::OpRefused},
    {EXT4, "EXT4", ArgKind::kNone, &U::OpRefused},
    {EMPTY_SET, "EMPTY_SET", ArgKind::kNone, &U::OpRefused},
    {ADDITEMS, "ADDITEMS", ArgKind::kNone, &U::OpRefused},
    {FROZENSET, "FROZENSET", ArgKind::kNone, &U::OpRefused},
    {BYTEARRAY8, "BYTEARRAY8", ArgKind::kNone, &U::OpRefused},
    {NEXT_BUFFER, "NEXT_BUFFER", ArgKind::kNone, &U::OpRefused},
    {READONLY_BUFFER, "READONLY_BUFFER", ArgKind::kNone, &U::OpRefused},
};
// clang-format on

// kOpRows indexed by opcode byte (rows with name == nullptr: not an opcode).
struct OpTable {
  OpRow rows[256];
  constexpr OpTable() : rows() {
    for (const OpRow& r : kOpRows) rows[r.code] = r;
  }
};
constexpr OpTable kOpTable;

}  // namespace

const char* PickleOpcodeName(uint8_t op) {
  const char* name = kOpTable.rows[op].name;
  return name != nullptr ? name : "";
}

namespace {

absl::StatusOr<PyValue> Unpickler::Run() {
  if (pos_ >= d_.size()) return absl::InvalidArgumentError(absl::StrCat(name_, ": empty pickle at byte ", pos_));
  // A value takes at least one opcode byte, typically ~8 (floats take 9): reserving for
  // size/8 values avoids most regrowth copies of the arena.
  nodes_.reserve(std::min<size_t>((d_.size() - pos_) / 8 + 16, static_cast<size_t>(limits_.max_values)));
  while (!stopped_) {
    if (pos_ == frame_end_) frame_end_ = 0;  // the frame is consumed exactly
    op_pos_ = pos_;
    op_ = 0;
    if (pos_ >= d_.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name_, ": truncated pickle: no STOP opcode before the end of the ",
                       d_.size(), "-byte file"));
    }
    {
      const char* p = nullptr;
      if (auto s = Read(1, &p); !s.ok()) return s;
      op_ = static_cast<uint8_t>(p[0]);
    }
    if (static_cast<int64_t>(marks_.size()) > limits_.max_depth * 4 ||
        static_cast<int64_t>(stack_.size()) > limits_.max_values) {
      return Err("stack too deep");
    }
    const OpRow& row = kOpTable.rows[op_];
    if (row.name == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: unknown pickle opcode 0x%02x at byte %d (not a pickle, or corrupt)", name_,
          static_cast<unsigned>(op_), op_pos_));
    }
    OpArg arg;
    absl::Status st;
    switch (row.arg) {
      case ArgKind::kNone: break;
      case ArgKind::kU1: st = ReadLE(1, &arg.u); break;
      case ArgKind::kU2: st = ReadLE(2, &arg.u); break;
      case ArgKind::kU4: st = ReadLE(4, &arg.u); break;
      case ArgKind::kU8: st = ReadLE(8, &arg.u); break;
      case ArgKind::kLine: st = ReadLine(&arg.line); break;
      case ArgKind::kRaw8: st = Read(8, &arg.raw); break;
    }
    if (st.ok()) st = (this->*row.handler)(arg, row.param);
    if (!st.ok()) return st;
  }
  int64_t count = 0;
  return Convert(stack_[0], 0, &count);
}

// ---- Handlers: structure ----

absl::Status Unpickler::OpProto(const OpArg& a, int) {
  if (a.u > 5) return Err(absl::StrCat("unsupported protocol ", a.u));
  return absl::OkStatus();
}

absl::Status Unpickler::OpFrame(const OpArg&, int) {
  if (frame_end_ != 0) return Err("a new frame begins before the end of the current one");
  uint64_t len;
  if (auto s = ReadLE(8, &len); !s.ok()) return s;
  if (len > d_.size() - pos_) {
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ": truncated pickle: FRAME at byte ", op_pos_, " announces ", len,
                     " bytes but only ", d_.size() - pos_, " follow"));
  }
  frame_end_ = len == 0 ? 0 : pos_ + len;
  return absl::OkStatus();
}

absl::Status Unpickler::OpStop(const OpArg&, int) {
  if (!marks_.empty()) return Err("STOP with an open MARK");
  if (stack_.size() != 1) {
    return Err(absl::StrCat("STOP with ", stack_.size(), " values on the stack (want 1)"));
  }
  if (frame_end_ != 0 && pos_ != frame_end_) return Err("STOP before the end of its frame");
  if (!allow_trailing_ && pos_ != d_.size()) {
    return Err(absl::StrCat(d_.size() - pos_, " bytes of garbage after STOP"));
  }
  // Size and depth first, without building anything: a hostile DAG of shared references
  // (L_{k+1} = [L_k, L_k]) must fail fast instead of filling memory. Run() converts.
  int64_t count = 0;
  if (auto s = CheckExpanded(stack_[0], 0, &count); !s.ok()) return s;
  stopped_ = true;
  return absl::OkStatus();
}

absl::Status Unpickler::OpMark(const OpArg&, int) {
  marks_.push_back(stack_.size());
  return absl::OkStatus();
}

absl::Status Unpickler::OpPop(const OpArg&, int) {
  if (stack_.size() > StackBase()) {
    stack_.pop_back();
  } else if (!marks_.empty()) {
    marks_.pop_back();  // CPython: POP of a MARK removes the mark
  } else {
    return Err("stack underflow");
  }
  return absl::OkStatus();
}

absl::Status Unpickler::OpPopMark(const OpArg&, int) { return PopMark().status(); }

absl::Status Unpickler::OpDup(const OpArg&, int) {
  if (stack_.size() <= StackBase()) return Err("stack underflow");
  stack_.push_back(stack_.back());
  return absl::OkStatus();
}

// ---- Handlers: memo ----

// The memo index of PUT/GET (a decimal line) or of their binary forms.
absl::Status Unpickler::MemoIndex(const OpArg& a, uint64_t* index) {
  if (kOpTable.rows[op_].arg != ArgKind::kLine) {
    *index = a.u;
    return absl::OkStatus();
  }
  int64_t idx;
  if (auto s = ParseDecimalInt(a.line, false, &idx); !s.ok()) return s;
  if (idx < 0) return Err("negative memo index");
  *index = static_cast<uint64_t>(idx);
  return absl::OkStatus();
}

absl::Status Unpickler::OpMemoPut(const OpArg& a, int) {
  uint64_t index;
  if (auto s = MemoIndex(a, &index); !s.ok()) return s;
  return MemoPut(index);
}

absl::Status Unpickler::OpMemoGet(const OpArg& a, int) {
  uint64_t index;
  if (auto s = MemoIndex(a, &index); !s.ok()) return s;
  return MemoGet(index);
}

absl::Status Unpickler::OpMemoize(const OpArg&, int) {
  return MemoPut(static_cast<uint64_t>(memo_count_));
}

// ---- Handlers: scalars ----

absl::Status Unpickler::OpConstant(const OpArg&, int which) {
  if (which == kPushNone) return PushSimple(K::kNone);
  return PushBool(which == kPushTrue);
}

absl::Status Unpickler::OpIntLine(const OpArg& a, int) {
  if (a.line == "01") return PushBool(true);
  if (a.line == "00") return PushBool(false);
  int64_t v;
  if (auto s = ParseDecimalInt(a.line, false, &v); !s.ok()) return s;
  return PushInt(v);
}

absl::Status Unpickler::OpLongLine(const OpArg& a, int) {
  int64_t v;
  if (auto s = ParseDecimalInt(a.line, true, &v); !s.ok()) return s;
  return PushInt(v);
}

absl::Status Unpickler::OpBinInt(const OpArg& a, int sign) {
  if (sign == kSigned32) return PushInt(static_cast<int32_t>(static_cast<uint32_t>(a.u)));
  return PushInt(static_cast<int64_t>(a.u));
}

absl::Status Unpickler::OpLong(const OpArg& a, int check) {
  if (check == kCheckNegative && (a.u & 0x80000000u)) return Err("negative LONG4 length");
  return PushLong(a.u);
}

absl::Status Unpickler::OpFloatLine(const OpArg& a, int) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(a.line.c_str(), &end);
  if (a.line.empty() || end != a.line.c_str() + a.line.size()) {
    return Err(absl::StrCat("malformed float '", a.line, "'"));
  }
  return PushFloat(v);
}

absl::Status Unpickler::OpBinFloat(const OpArg& a, int) {
  uint64_t bits = 0;
  for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<uint8_t>(a.raw[k]);  // big-endian
  double v;
  std::memcpy(&v, &bits, 8);
  return PushFloat(v);
}

// ---- Handlers: strings and bytes ----

absl::Status Unpickler::OpStringLine(const OpArg& a, int) {
  std::string text;
  if (auto s = ParseQuotedString(a.line, &text); !s.ok()) return s;
  return PushText(K::kStr, std::move(text));
}

absl::Status Unpickler::OpUnicodeLine(const OpArg& a, int) {
  std::string text;
  if (auto s = ParseRawUnicodeEscape(a.line, &text); !s.ok()) return s;
  return PushText(K::kStr, std::move(text));
}

// Python 2 str: bytes decoded as Latin-1 text (see STRING).
absl::Status Unpickler::OpLatin1String(const OpArg& a, int check) {
  const uint64_t n = a.u;
  if (check == kCheckNegative && (n & 0x80000000u)) return Err("negative BINSTRING length");
  if (n > static_cast<uint64_t>(limits_.max_string_bytes)) {
    return Err("string exceeds the size limit");
  }
  const char* p = nullptr;
  if (auto s = Read(n, &p); !s.ok()) return s;
  std::string text;
  for (uint64_t k = 0; k < n; ++k) AppendUtf8(static_cast<uint8_t>(p[k]), &text);
  return PushText(K::kStr, std::move(text));
}

absl::Status Unpickler::OpSized(const OpArg& a, int kind) {
  return PushString(static_cast<K>(kind), a.u);
}

// ---- Handlers: containers ----

absl::Status Unpickler::OpEmpty(const OpArg&, int kind) {
  return PushContainer(static_cast<K>(kind), {});
}

absl::Status Unpickler::OpFromMark(const OpArg&, int kind) {
  auto items = PopMark();
  if (!items.ok()) return items.status();
  return PushContainer(static_cast<K>(kind), std::move(*items));
}

absl::Status Unpickler::OpTupleN(const OpArg&, int count) {
  const size_t n = static_cast<size_t>(count);
  if (stack_.size() < StackBase() + n) return Err("stack underflow");
  std::vector<int64_t> items(stack_.end() - n, stack_.end());
  stack_.resize(stack_.size() - n);
  return PushContainer(K::kTuple, std::move(items));
}

absl::Status Unpickler::OpDict(const OpArg&, int) {
  auto items = PopMark();
  if (!items.ok()) return items.status();
  auto id = NewContainer(K::kDict, {});
  if (!id.ok()) return id.status();
  if (auto s = SetItems(*id, *items); !s.ok()) return s;
  stack_.push_back(*id);
  return absl::OkStatus();
}

absl::Status Unpickler::OpAppend(const OpArg&, int) {
  auto item = Pop();
  if (!item.ok()) return item.status();
  if (stack_.size() <= StackBase()) return Err("stack underflow");
  return AppendTo(stack_.back(), {*item});
}

absl::Status Unpickler::OpAppends(const OpArg&, int) {
  auto items = PopMark();
  if (!items.ok()) return items.status();
  if (stack_.size() <= StackBase()) return Err("stack underflow");
  return AppendTo(stack_.back(), *items);
}

absl::Status Unpickler::OpSetItem(const OpArg&, int) {
  if (stack_.size() < StackBase() + 3) return Err("stack underflow");
  const int64_t v = stack_.back();
  stack_.pop_back();
  const int64_t k = stack_.back();
  stack_.pop_back();
  return SetItems(stack_.back(), {k, v});
}

absl::Status Unpickler::OpSetItems(const OpArg&, int) {
  auto items = PopMark();
  if (!items.ok()) return items.status();
  if (stack_.size() <= StackBase()) return Err("stack underflow");
  return SetItems(stack_.back(), *items);
}

// ---- Handler: everything that can import or call code, and types we do not hold ----

absl::Status Unpickler::OpRefused(const OpArg&, int) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: unsupported pickle opcode 0x%02x (%s) at byte %d%s", name_, static_cast<unsigned>(op_),
      PickleOpcodeName(op_), op_pos_,
      (op_ == GLOBAL || op_ == STACK_GLOBAL || op_ == REDUCE)
          ? " (the file refers to Python classes or functions, e.g. numpy scalars; "
            "only plain dict/list/tuple/str/int/float/bool/None data is read)"
          : ""));
}

// ---- Handlers: objects through the allow-list (descriptions, never executed) ----

absl::Status Unpickler::OpGlobal(const OpArg& a, int p) {
  if (!ObjectsAllowed()) return OpRefused(a, p);
  std::string module, name;
  if (auto s = ReadLine(&module); !s.ok()) return s;
  if (auto s = ReadLine(&name); !s.ok()) return s;
  return PushGlobal(module, name);
}

absl::Status Unpickler::OpStackGlobal(const OpArg& a, int p) {
  if (!ObjectsAllowed()) return OpRefused(a, p);
  auto name = Pop();
  if (!name.ok()) return name.status();
  auto module = Pop();
  if (!module.ok()) return module.status();
  if (nodes_[*name].kind != PyValue::Kind::kStr || nodes_[*module].kind != PyValue::Kind::kStr) {
    return Err("STACK_GLOBAL needs two str");
  }
  return PushGlobal(strings_[nodes_[*module].aux], strings_[nodes_[*name].aux]);
}

absl::Status Unpickler::OpReduce(const OpArg& a, int p) {
  if (!ObjectsAllowed()) return OpRefused(a, p);
  auto args = Pop();
  if (!args.ok()) return args.status();
  auto callable = Pop();
  if (!callable.ok()) return callable.status();
  if (nodes_[*callable].kind != PyValue::Kind::kGlobal) {
    return Err(absl::StrCat("REDUCE of a ", PyValue::KindName(nodes_[*callable].kind), " (only allowed globals)"));
  }
  if (nodes_[*args].kind != PyValue::Kind::kTuple) return Err("REDUCE arguments are not a tuple");
  if (strings_[nodes_[*callable].aux] == "collections.OrderedDict") {
    if (!Kids(*args).empty()) return Err("collections.OrderedDict called with arguments");
    return PushContainer(PyValue::Kind::kDict, {});
  }
  return PushContainer(PyValue::Kind::kCall, {*callable, *args});
}

absl::Status Unpickler::OpBuild(const OpArg& a, int p) {
  if (!ObjectsAllowed()) return OpRefused(a, p);
  auto state = Pop();
  if (!state.ok()) return state.status();
  if (stack_.size() <= StackBase()) return Err("stack underflow");
  Node& target = nodes_[stack_.back()];
  if (target.kind == PyValue::Kind::kDict) {
    // An OrderedDict's instance attributes (a state_dict's _metadata): dropped.
    const PyValue::Kind k = nodes_[*state].kind;
    if (k != PyValue::Kind::kDict && k != PyValue::Kind::kNone) return Err("BUILD of a dict with a non-dict state");
    return absl::OkStatus();
  }
  if (target.kind != PyValue::Kind::kCall) {
    return Err(absl::StrCat("BUILD on a ", PyValue::KindName(target.kind)));
  }
  std::vector<int64_t>& kids = kids_[target.aux];
  if (kids.size() != 2) return Err("BUILD twice on one object");
  kids.push_back(*state);
  return absl::OkStatus();
}

absl::Status Unpickler::OpBinPersId(const OpArg& a, int p) {
  if (!ObjectsAllowed()) return OpRefused(a, p);
  auto id = Pop();
  if (!id.ok()) return id.status();
  return PushContainer(PyValue::Kind::kPersistentId, {*id});
}

}  // namespace

absl::StatusOr<PyValue> ParsePickle(const std::string& bytes, const std::string& name,
                                    const PickleLimits& limits) {
  Unpickler u(bytes, name, limits);
  return u.Run();
}

absl::StatusOr<PyValue> ParsePickleAt(const std::string& bytes, size_t offset, const std::string& name,
                                      const PickleLimits& limits, size_t* end) {
  Unpickler u(bytes, name, limits, offset, /*allow_trailing=*/true);
  absl::StatusOr<PyValue> v = u.Run();
  if (v.ok() && end != nullptr) *end = u.end();
  return v;
}

absl::StatusOr<PyValue> ReadPickle(const std::string& path, int64_t max_bytes,
                                   const PickleLimits& limits) {
  auto bytes = util::ReadFile(path, max_bytes);
  if (!bytes.ok()) return bytes.status();
  return ParsePickle(*bytes, path, limits);
}

}  // namespace sal360::data

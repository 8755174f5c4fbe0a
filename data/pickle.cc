#include "data/pickle.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "util/file.h"

namespace sal360::data {

// ---------------------------------------------------------------------------------------
// PyValue

PyValue PyValue::FromBool(bool b) { return PyValue(Variant(b)); }
PyValue PyValue::FromInt(int64_t i) { return PyValue(Variant(i)); }
PyValue PyValue::FromFloat(double d) { return PyValue(Variant(d)); }
PyValue PyValue::FromStr(std::string utf8) { return PyValue(Variant(std::move(utf8))); }
PyValue PyValue::FromBytes(std::string data) { return PyValue(Variant(Bytes{std::move(data)})); }
PyValue PyValue::FromList(std::vector<PyValue> items) {
  auto l = std::make_shared<List>();
  l->items = std::move(items);
  return PyValue(Variant(std::shared_ptr<const List>(std::move(l))));
}
PyValue PyValue::FromTuple(std::vector<PyValue> items) {
  auto t = std::make_shared<Tuple>();
  t->items = std::move(items);
  return PyValue(Variant(std::shared_ptr<const Tuple>(std::move(t))));
}
PyValue PyValue::FromDict(std::vector<std::pair<PyValue, PyValue>> items) {
  auto d = std::make_shared<Dict>();
  d->items = std::move(items);
  return PyValue(Variant(std::shared_ptr<const Dict>(std::move(d))));
}

PyValue::Kind PyValue::kind() const { return static_cast<Kind>(v_.index()); }

static void CheckKind(const PyValue& v, PyValue::Kind want) {
  if (v.kind() != want) {
    std::fprintf(stderr, "PyValue: expected %s, have %s\n", PyValue::KindName(want),
                 PyValue::KindName(v.kind()));
    std::abort();
  }
}

bool PyValue::as_bool() const {
  CheckKind(*this, Kind::kBool);
  return std::get<bool>(v_);
}
int64_t PyValue::as_int() const {
  CheckKind(*this, Kind::kInt);
  return std::get<int64_t>(v_);
}
double PyValue::as_float() const {
  CheckKind(*this, Kind::kFloat);
  return std::get<double>(v_);
}
const std::string& PyValue::as_str() const {
  CheckKind(*this, Kind::kStr);
  return std::get<std::string>(v_);
}
const std::string& PyValue::as_bytes() const {
  CheckKind(*this, Kind::kBytes);
  return std::get<Bytes>(v_).data;
}
const std::vector<PyValue>& PyValue::items() const {
  if (kind() == Kind::kTuple) return std::get<std::shared_ptr<const Tuple>>(v_)->items;
  CheckKind(*this, Kind::kList);
  return std::get<std::shared_ptr<const List>>(v_)->items;
}
const std::vector<std::pair<PyValue, PyValue>>& PyValue::dict_items() const {
  CheckKind(*this, Kind::kDict);
  return std::get<std::shared_ptr<const Dict>>(v_)->items;
}

bool PyValue::AsNumber(double* out) const {
  switch (kind()) {
    case Kind::kBool:
      *out = std::get<bool>(v_) ? 1.0 : 0.0;
      return true;
    case Kind::kInt:
      *out = static_cast<double>(std::get<int64_t>(v_));
      return true;
    case Kind::kFloat:
      *out = std::get<double>(v_);
      return true;
    default:
      return false;
  }
}

const char* PyValue::KindName(Kind k) {
  switch (k) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kStr:
      return "str";
    case Kind::kBytes:
      return "bytes";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kDict:
      return "dict";
  }
  return "?";
}

static void AppendRepr(const PyValue& v, std::string* out, size_t max_chars) {
  if (out->size() > max_chars) return;
  using K = PyValue::Kind;
  switch (v.kind()) {
    case K::kNone:
      *out += "None";
      break;
    case K::kBool:
      *out += v.as_bool() ? "True" : "False";
      break;
    case K::kInt:
      absl::StrAppend(out, v.as_int());
      break;
    case K::kFloat: {
      // Python's repr: the shortest form that reads back exactly, ".0" for integers.
      const double d = v.as_float();
      if (std::isnan(d)) {
        *out += "nan";
      } else if (std::isinf(d)) {
        *out += d > 0 ? "inf" : "-inf";
      } else {
        std::string s;
        for (int p = 1; p <= 17; ++p) {
          s = absl::StrFormat("%.*g", p, d);
          if (std::strtod(s.c_str(), nullptr) == d) break;
        }
        if (s.find_first_of(".eE") == std::string::npos) s += ".0";
        *out += s;
      }
      break;
    }
    case K::kStr:
      absl::StrAppend(out, "'", v.as_str(), "'");
      break;
    case K::kBytes:
      absl::StrAppend(out, "b<", v.as_bytes().size(), " bytes>");
      break;
    case K::kList:
    case K::kTuple: {
      const bool list = v.kind() == K::kList;
      *out += list ? "[" : "(";
      bool first = true;
      for (const PyValue& item : v.items()) {
        if (out->size() > max_chars) break;
        if (!first) *out += ", ";
        first = false;
        AppendRepr(item, out, max_chars);
      }
      if (!list && v.items().size() == 1) *out += ",";
      *out += list ? "]" : ")";
      break;
    }
    case K::kDict: {
      *out += "{";
      bool first = true;
      for (const auto& [k, val] : v.dict_items()) {
        if (out->size() > max_chars) break;
        if (!first) *out += ", ";
        first = false;
        AppendRepr(k, out, max_chars);
        *out += ": ";
        AppendRepr(val, out, max_chars);
      }
      *out += "}";
      break;
    }
  }
}

std::string PyValue::DebugString(size_t max_chars) const {
  std::string out;
  AppendRepr(*this, &out, max_chars);
  if (out.size() > max_chars) {
    out.resize(max_chars);
    out += "...";
  }
  return out;
}

bool PyValue::operator==(const PyValue& o) const {
  if (kind() != o.kind()) return false;
  switch (kind()) {
    case Kind::kNone:
      return true;
    case Kind::kBool:
      return as_bool() == o.as_bool();
    case Kind::kInt:
      return as_int() == o.as_int();
    case Kind::kFloat: {
      const double a = as_float(), b = o.as_float();
      return a == b || (std::isnan(a) && std::isnan(b));  // NaN equal to itself here
    }
    case Kind::kStr:
      return as_str() == o.as_str();
    case Kind::kBytes:
      return as_bytes() == o.as_bytes();
    case Kind::kList:
    case Kind::kTuple:
      return items() == o.items();
    case Kind::kDict:
      return dict_items() == o.dict_items();
  }
  return false;
}

// ---------------------------------------------------------------------------------------
// Opcodes

namespace {

enum Op : uint8_t {
  MARK = '(',
  STOP = '.',
  POP = '0',
  POP_MARK = '1',
  DUP = '2',
  FLOAT = 'F',
  INT = 'I',
  BININT = 'J',
  BININT1 = 'K',
  LONG = 'L',
  BININT2 = 'M',
  NONE = 'N',
  PERSID = 'P',
  BINPERSID = 'Q',
  REDUCE = 'R',
  STRING = 'S',
  BINSTRING = 'T',
  SHORT_BINSTRING = 'U',
  UNICODE = 'V',
  BINUNICODE = 'X',
  APPEND = 'a',
  BUILD = 'b',
  GLOBAL = 'c',
  DICT = 'd',
  EMPTY_DICT = '}',
  APPENDS = 'e',
  GET = 'g',
  BINGET = 'h',
  INST = 'i',
  LONG_BINGET = 'j',
  LIST = 'l',
  EMPTY_LIST = ']',
  OBJ = 'o',
  PUT = 'p',
  BINPUT = 'q',
  LONG_BINPUT = 'r',
  SETITEM = 's',
  TUPLE = 't',
  EMPTY_TUPLE = ')',
  SETITEMS = 'u',
  BINFLOAT = 'G',
  // protocol 2
  PROTO = 0x80,
  NEWOBJ = 0x81,
  EXT1 = 0x82,
  EXT2 = 0x83,
  EXT4 = 0x84,
  TUPLE1 = 0x85,
  TUPLE2 = 0x86,
  TUPLE3 = 0x87,
  NEWTRUE = 0x88,
  NEWFALSE = 0x89,
  LONG1 = 0x8a,
  LONG4 = 0x8b,
  // protocol 3
  BINBYTES = 'B',
  SHORT_BINBYTES = 'C',
  // protocol 4
  SHORT_BINUNICODE = 0x8c,
  BINUNICODE8 = 0x8d,
  BINBYTES8 = 0x8e,
  EMPTY_SET = 0x8f,
  ADDITEMS = 0x90,
  FROZENSET = 0x91,
  NEWOBJ_EX = 0x92,
  STACK_GLOBAL = 0x93,
  MEMOIZE = 0x94,
  FRAME = 0x95,
  // protocol 5
  BYTEARRAY8 = 0x96,
  NEXT_BUFFER = 0x97,
  READONLY_BUFFER = 0x98,
};

}  // namespace

const char* PickleOpcodeName(uint8_t op) {
  switch (op) {
    case MARK:
      return "MARK";
    case STOP:
      return "STOP";
    case POP:
      return "POP";
    case POP_MARK:
      return "POP_MARK";
    case DUP:
      return "DUP";
    case FLOAT:
      return "FLOAT";
    case INT:
      return "INT";
    case BININT:
      return "BININT";
    case BININT1:
      return "BININT1";
    case LONG:
      return "LONG";
    case BININT2:
      return "BININT2";
    case NONE:
      return "NONE";
    case PERSID:
      return "PERSID";
    case BINPERSID:
      return "BINPERSID";
    case REDUCE:
      return "REDUCE";
    case STRING:
      return "STRING";
    case BINSTRING:
      return "BINSTRING";
    case SHORT_BINSTRING:
      return "SHORT_BINSTRING";
    case UNICODE:
      return "UNICODE";
    case BINUNICODE:
      return "BINUNICODE";
    case APPEND:
      return "APPEND";
    case BUILD:
      return "BUILD";
    case GLOBAL:
      return "GLOBAL";
    case DICT:
      return "DICT";
    case EMPTY_DICT:
      return "EMPTY_DICT";
    case APPENDS:
      return "APPENDS";
    case GET:
      return "GET";
    case BINGET:
      return "BINGET";
    case INST:
      return "INST";
    case LONG_BINGET:
      return "LONG_BINGET";
    case LIST:
      return "LIST";
    case EMPTY_LIST:
      return "EMPTY_LIST";
    case OBJ:
      return "OBJ";
    case PUT:
      return "PUT";
    case BINPUT:
      return "BINPUT";
    case LONG_BINPUT:
      return "LONG_BINPUT";
    case SETITEM:
      return "SETITEM";
    case TUPLE:
      return "TUPLE";
    case EMPTY_TUPLE:
      return "EMPTY_TUPLE";
    case SETITEMS:
      return "SETITEMS";
    case BINFLOAT:
      return "BINFLOAT";
    case PROTO:
      return "PROTO";
    case NEWOBJ:
      return "NEWOBJ";
    case EXT1:
      return "EXT1";
    case EXT2:
      return "EXT2";
    case EXT4:
      return "EXT4";
    case TUPLE1:
      return "TUPLE1";
    case TUPLE2:
      return "TUPLE2";
    case TUPLE3:
      return "TUPLE3";
    case NEWTRUE:
      return "NEWTRUE";
    case NEWFALSE:
      return "NEWFALSE";
    case LONG1:
      return "LONG1";
    case LONG4:
      return "LONG4";
    case BINBYTES:
      return "BINBYTES";
    case SHORT_BINBYTES:
      return "SHORT_BINBYTES";
    case SHORT_BINUNICODE:
      return "SHORT_BINUNICODE";
    case BINUNICODE8:
      return "BINUNICODE8";
    case BINBYTES8:
      return "BINBYTES8";
    case EMPTY_SET:
      return "EMPTY_SET";
    case ADDITEMS:
      return "ADDITEMS";
    case FROZENSET:
      return "FROZENSET";
    case NEWOBJ_EX:
      return "NEWOBJ_EX";
    case STACK_GLOBAL:
      return "STACK_GLOBAL";
    case MEMOIZE:
      return "MEMOIZE";
    case FRAME:
      return "FRAME";
    case BYTEARRAY8:
      return "BYTEARRAY8";
    case NEXT_BUFFER:
      return "NEXT_BUFFER";
    case READONLY_BUFFER:
      return "READONLY_BUFFER";
    default:
      return "";
  }
}

// ---------------------------------------------------------------------------------------
// Reader
//
// The machine builds nodes in an arena (so that memo references alias, as in Python:
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

class Unpickler {
 public:
  Unpickler(const std::string& data, const std::string& name, const PickleLimits& limits)
      : d_(data), name_(name), limits_(limits) {}

  absl::StatusOr<PyValue> Run();

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
    const char* p;
    if (auto s = Read(1, &p); !s.ok()) return s;
    *v = static_cast<uint8_t>(p[0]);
    return absl::OkStatus();
  }
  absl::Status ReadLE(int nbytes, uint64_t* v) {
    const char* p;
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
    const char* p;
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
    const char* p;
    if (auto s = Read(n, &p); !s.ok()) return s;
    uint64_t u = 0;
    for (int k = static_cast<int>(n) - 1; k >= 0; --k) u = (u << 8) | static_cast<uint8_t>(p[k]);
    if (n > 0 && n < 8 && (static_cast<uint8_t>(p[n - 1]) & 0x80)) u |= ~uint64_t{0} << (8 * n);
    return PushInt(static_cast<int64_t>(u));
  }

  static bool ValidUtf8(const std::string& s);
  absl::Status ParseDecimalInt(const std::string& text, bool allow_l_suffix, int64_t* out);
  absl::Status ParseQuotedString(const std::string& line, std::string* out);
  absl::Status ParseRawUnicodeEscape(const std::string& line, std::string* out);

  absl::Status CheckExpanded(int64_t id, int depth, int64_t* count);
  absl::StatusOr<PyValue> Convert(int64_t id, int depth, int64_t* count);

  const std::string& d_;
  const std::string& name_;
  PickleLimits limits_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  uint8_t op_ = 0;
  size_t frame_end_ = 0;  // end of the current FRAME (0 = not in a frame)
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
      kids_[n.aux].empty()) {
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
    default:
      break;
  }
  if (depth >= limits_.max_depth) {
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ": containers nested deeper than ", limits_.max_depth,
                     " levels (a hostile or self-referencing pickle?)"));
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

absl::StatusOr<PyValue> Unpickler::Run() {
  using K = PyValue::Kind;
  if (d_.empty()) return absl::InvalidArgumentError(absl::StrCat(name_, ": empty pickle"));
  // A value takes at least one opcode byte, typically ~8 (floats take 9): reserving for
  // size/8 values avoids most regrowth copies of the arena.
  nodes_.reserve(std::min<size_t>(d_.size() / 8 + 16, static_cast<size_t>(limits_.max_values)));
  while (true) {
    if (pos_ == frame_end_) frame_end_ = 0;  // the frame is consumed exactly
    op_pos_ = pos_;
    op_ = 0;
    if (pos_ >= d_.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name_, ": truncated pickle: no STOP opcode before the end of the ",
                       d_.size(), "-byte file"));
    }
    {
      const char* p;
      if (auto s = Read(1, &p); !s.ok()) return s;
      op_ = static_cast<uint8_t>(p[0]);
    }
    if (static_cast<int64_t>(marks_.size()) > limits_.max_depth * 4 ||
        static_cast<int64_t>(stack_.size()) > limits_.max_values) {
      return Err("stack too deep");
    }
    absl::Status st;
    switch (op_) {
      // ---- structure
      case PROTO: {
        uint8_t v = 0;
        st = ReadU8(&v);
        if (st.ok() && v > 5) st = Err(absl::StrCat("unsupported protocol ", v));
        break;
      }
      case FRAME: {
        uint64_t len;
        if (frame_end_ != 0) {
          st = Err("a new frame begins before the end of the current one");
          break;
        }
        st = ReadLE(8, &len);
        if (!st.ok()) break;
        if (len > d_.size() - pos_) {
          st = absl::InvalidArgumentError(
              absl::StrCat(name_, ": truncated pickle: FRAME at byte ", op_pos_, " announces ", len,
                           " bytes but only ", d_.size() - pos_, " follow"));
          break;
        }
        frame_end_ = len == 0 ? 0 : pos_ + len;
        break;
      }
      case STOP: {
        if (!marks_.empty()) return Err("STOP with an open MARK");
        if (stack_.size() != 1) {
          return Err(absl::StrCat("STOP with ", stack_.size(), " values on the stack (want 1)"));
        }
        if (frame_end_ != 0 && pos_ != frame_end_) return Err("STOP before the end of its frame");
        if (pos_ != d_.size()) {
          return Err(absl::StrCat(d_.size() - pos_, " bytes of garbage after STOP"));
        }
        // Size and depth first, without building anything: a hostile DAG of shared
        // references (L_{k+1} = [L_k, L_k]) must fail fast instead of filling memory.
        int64_t count = 0;
        if (auto s = CheckExpanded(stack_[0], 0, &count); !s.ok()) return s;
        count = 0;
        return Convert(stack_[0], 0, &count);
      }
      case MARK:
        marks_.push_back(stack_.size());
        break;
      case POP: {
        if (stack_.size() > StackBase()) {
          stack_.pop_back();
        } else if (!marks_.empty()) {
          marks_.pop_back();  // CPython: POP of a MARK removes the mark
        } else {
          st = Err("stack underflow");
        }
        break;
      }
      case POP_MARK:
        st = PopMark().status();
        break;
      case DUP:
        if (stack_.size() <= StackBase()) {
          st = Err("stack underflow");
        } else {
          stack_.push_back(stack_.back());
        }
        break;

      // ---- memo
      case PUT: {
        std::string line;
        int64_t idx;
        st = ReadLine(&line);
        if (st.ok()) st = ParseDecimalInt(line, false, &idx);
        if (st.ok() && idx < 0) st = Err("negative memo index");
        if (st.ok()) st = MemoPut(static_cast<uint64_t>(idx));
        break;
      }
      case BINPUT: {
        uint64_t idx;
        st = ReadLE(1, &idx);
        if (st.ok()) st = MemoPut(idx);
        break;
      }
      case LONG_BINPUT: {
        uint64_t idx;
        st = ReadLE(4, &idx);
        if (st.ok()) st = MemoPut(idx);
        break;
      }
      case MEMOIZE:
        st = MemoPut(static_cast<uint64_t>(memo_count_));
        break;
      case GET: {
        std::string line;
        int64_t idx;
        st = ReadLine(&line);
        if (st.ok()) st = ParseDecimalInt(line, false, &idx);
        if (st.ok() && idx < 0) st = Err("negative memo index");
        if (st.ok()) st = MemoGet(static_cast<uint64_t>(idx));
        break;
      }
      case BINGET: {
        uint64_t idx;
        st = ReadLE(1, &idx);
        if (st.ok()) st = MemoGet(idx);
        break;
      }
      case LONG_BINGET: {
        uint64_t idx;
        st = ReadLE(4, &idx);
        if (st.ok()) st = MemoGet(idx);
        break;
      }

      // ---- scalars
      case NONE:
        st = PushSimple(K::kNone);
        break;
      case NEWTRUE:
        st = PushBool(true);
        break;
      case NEWFALSE:
        st = PushBool(false);
        break;
      case INT: {
        std::string line;
        st = ReadLine(&line);
        if (!st.ok()) break;
        if (line == "01") {
          st = PushBool(true);
        } else if (line == "00") {
          st = PushBool(false);
        } else {
          int64_t v;
          st = ParseDecimalInt(line, false, &v);
          if (st.ok()) st = PushInt(v);
        }
        break;
      }
      case LONG: {
        std::string line;
        int64_t v;
        st = ReadLine(&line);
        if (st.ok()) st = ParseDecimalInt(line, true, &v);
        if (st.ok()) st = PushInt(v);
        break;
      }
      case BININT: {
        uint64_t v;
        st = ReadLE(4, &v);
        if (st.ok()) st = PushInt(static_cast<int32_t>(static_cast<uint32_t>(v)));
        break;
      }
      case BININT1: {
        uint64_t v;
        st = ReadLE(1, &v);
        if (st.ok()) st = PushInt(static_cast<int64_t>(v));
        break;
      }
      case BININT2: {
        uint64_t v;
        st = ReadLE(2, &v);
        if (st.ok()) st = PushInt(static_cast<int64_t>(v));
        break;
      }
      case LONG1: {
        uint64_t n;
        st = ReadLE(1, &n);
        if (st.ok()) st = PushLong(n);
        break;
      }
      case LONG4: {
        uint64_t n;
        st = ReadLE(4, &n);
        if (st.ok() && (n & 0x80000000u)) st = Err("negative LONG4 length");
        if (st.ok()) st = PushLong(n);
        break;
      }
      case FLOAT: {
        std::string line;
        st = ReadLine(&line);
        if (!st.ok()) break;
        char* end = nullptr;
        errno = 0;
        const double v = std::strtod(line.c_str(), &end);
        if (line.empty() || end != line.c_str() + line.size()) {
          st = Err(absl::StrCat("malformed float '", line, "'"));
        } else {
          st = PushFloat(v);
        }
        break;
      }
      case BINFLOAT: {
        const char* p;
        st = Read(8, &p);
        if (!st.ok()) break;
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<uint8_t>(p[k]);  // big-endian
        double v;
        std::memcpy(&v, &bits, 8);
        st = PushFloat(v);
        break;
      }

      // ---- strings and bytes
      case STRING: {
        std::string line, text;
        st = ReadLine(&line);
        if (st.ok()) st = ParseQuotedString(line, &text);
        if (st.ok()) st = PushText(K::kStr, std::move(text));
        break;
      }
      case UNICODE: {
        std::string line, text;
        st = ReadLine(&line);
        if (st.ok()) st = ParseRawUnicodeEscape(line, &text);
        if (st.ok()) st = PushText(K::kStr, std::move(text));
        break;
      }
      case BINSTRING:
      case SHORT_BINSTRING: {
        // Python 2 str: bytes decoded as Latin-1 text (see STRING).
        uint64_t n;
        st = op_ == BINSTRING ? ReadLE(4, &n) : ReadLE(1, &n);
        if (st.ok() && op_ == BINSTRING && (n & 0x80000000u)) st = Err("negative BINSTRING length");
        if (!st.ok()) break;
        if (n > static_cast<uint64_t>(limits_.max_string_bytes)) {
          st = Err("string exceeds the size limit");
          break;
        }
        const char* p;
        st = Read(n, &p);
        if (!st.ok()) break;
        std::string text;
        for (uint64_t k = 0; k < n; ++k) AppendUtf8(static_cast<uint8_t>(p[k]), &text);
        st = PushText(K::kStr, std::move(text));
        break;
      }
      case BINUNICODE: {
        uint64_t n;
        st = ReadLE(4, &n);
        if (st.ok()) st = PushString(K::kStr, n);
        break;
      }
      case SHORT_BINUNICODE: {
        uint64_t n;
        st = ReadLE(1, &n);
        if (st.ok()) st = PushString(K::kStr, n);
        break;
      }
      case BINUNICODE8: {
        uint64_t n;
        st = ReadLE(8, &n);
        if (st.ok()) st = PushString(K::kStr, n);
        break;
      }
      case BINBYTES: {
        uint64_t n;
        st = ReadLE(4, &n);
        if (st.ok()) st = PushString(K::kBytes, n);
        break;
      }
      case SHORT_BINBYTES: {
        uint64_t n;
        st = ReadLE(1, &n);
        if (st.ok()) st = PushString(K::kBytes, n);
        break;
      }
      case BINBYTES8: {
        uint64_t n;
        st = ReadLE(8, &n);
        if (st.ok()) st = PushString(K::kBytes, n);
        break;
      }

      // ---- containers
      case EMPTY_LIST:
        st = PushContainer(K::kList, {});
        break;
      case EMPTY_DICT:
        st = PushContainer(K::kDict, {});
        break;
      case EMPTY_TUPLE:
        st = PushContainer(K::kTuple, {});
        break;
      case LIST: {
        auto items = PopMark();
        st = items.ok() ? PushContainer(K::kList, std::move(*items)) : items.status();
        break;
      }
      case TUPLE: {
        auto items = PopMark();
        st = items.ok() ? PushContainer(K::kTuple, std::move(*items)) : items.status();
        break;
      }
      case TUPLE1:
      case TUPLE2:
      case TUPLE3: {
        const size_t n = op_ - TUPLE1 + 1;
        if (stack_.size() < StackBase() + n) {
          st = Err("stack underflow");
          break;
        }
        std::vector<int64_t> items(stack_.end() - n, stack_.end());
        stack_.resize(stack_.size() - n);
        st = PushContainer(K::kTuple, std::move(items));
        break;
      }
      case DICT: {
        auto items = PopMark();
        if (!items.ok()) {
          st = items.status();
          break;
        }
        auto id = NewContainer(K::kDict, {});
        if (!id.ok()) {
          st = id.status();
          break;
        }
        st = SetItems(*id, *items);
        if (st.ok()) stack_.push_back(*id);
        break;
      }
      case APPEND: {
        auto item = Pop();
        if (!item.ok()) {
          st = item.status();
          break;
        }
        if (stack_.size() <= StackBase()) {
          st = Err("stack underflow");
          break;
        }
        st = AppendTo(stack_.back(), {*item});
        break;
      }
      case APPENDS: {
        auto items = PopMark();
        if (!items.ok()) {
          st = items.status();
          break;
        }
        if (stack_.size() <= StackBase()) {
          st = Err("stack underflow");
          break;
        }
        st = AppendTo(stack_.back(), *items);
        break;
      }
      case SETITEM: {
        if (stack_.size() < StackBase() + 3) {
          st = Err("stack underflow");
          break;
        }
        const int64_t v = stack_.back();
        stack_.pop_back();
        const int64_t k = stack_.back();
        stack_.pop_back();
        st = SetItems(stack_.back(), {k, v});
        break;
      }
      case SETITEMS: {
        auto items = PopMark();
        if (!items.ok()) {
          st = items.status();
          break;
        }
        if (stack_.size() <= StackBase()) {
          st = Err("stack underflow");
          break;
        }
        st = SetItems(stack_.back(), *items);
        break;
      }

      // ---- everything that can import or call code, and types we do not hold
      case GLOBAL:
      case STACK_GLOBAL:
      case REDUCE:
      case BUILD:
      case INST:
      case OBJ:
      case NEWOBJ:
      case NEWOBJ_EX:
      case PERSID:
      case BINPERSID:
      case EXT1:
      case EXT2:
      case EXT4:
      case EMPTY_SET:
      case ADDITEMS:
      case FROZENSET:
      case BYTEARRAY8:
      case NEXT_BUFFER:
      case READONLY_BUFFER:
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: unsupported pickle opcode 0x%02x (%s) at byte %d%s", name_,
            static_cast<unsigned>(op_), PickleOpcodeName(op_), op_pos_,
            (op_ == GLOBAL || op_ == STACK_GLOBAL || op_ == REDUCE)
                ? " (the file refers to Python classes or functions, e.g. numpy scalars; "
                  "only plain dict/list/tuple/str/int/float/bool/None data is read)"
                : ""));
      default:
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: unknown pickle opcode 0x%02x at byte %d (not a pickle, or corrupt)", name_,
            static_cast<unsigned>(op_), op_pos_));
    }
    if (!st.ok()) return st;
  }
}

}  // namespace

absl::StatusOr<PyValue> ParsePickle(const std::string& bytes, const std::string& name,
                                    const PickleLimits& limits) {
  Unpickler u(bytes, name, limits);
  return u.Run();
}

absl::StatusOr<PyValue> ReadPickle(const std::string& path, int64_t max_bytes,
                                   const PickleLimits& limits) {
  auto bytes = util::ReadFile(path, max_bytes);
  if (!bytes.ok()) return bytes.status();
  return ParsePickle(*bytes, path, limits);
}

// ---------------------------------------------------------------------------------------
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

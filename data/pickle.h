// A safe reader and writer for the data subset of Python's pickle format.
//
// Python pickles are programs for a small stack machine; most of its opcodes build
// plain data, but some import and call arbitrary Python objects (GLOBAL, REDUCE, ...).
// vinfo.pkl only needs the data ones, so the reader executes exactly those and rejects
// every other opcode with an error naming it and its byte offset:
//   "vinfo.pkl: unsupported pickle opcode 0x93 (STACK_GLOBAL) at byte 118"
//
// Accepted opcodes (protocols 0-5):
//   structure   PROTO FRAME STOP MARK POP POP_MARK DUP
//   memo        PUT BINPUT LONG_BINPUT MEMOIZE GET BINGET LONG_BINGET
//   None/bool   NONE NEWTRUE NEWFALSE (and protocol 0's "I01\n"/"I00\n")
//   int         INT LONG BININT BININT1 BININT2 LONG1 LONG4   (values must fit int64)
//   float       FLOAT BINFLOAT
//   str         STRING BINSTRING SHORT_BINSTRING (Python 2 str, read as text)
//               UNICODE BINUNICODE SHORT_BINUNICODE BINUNICODE8
//   bytes       BINBYTES SHORT_BINBYTES BINBYTES8
//   containers  EMPTY_LIST LIST APPEND APPENDS, EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3,
//               EMPTY_DICT DICT SETITEM SETITEMS
// Rejected as "unsupported": GLOBAL STACK_GLOBAL REDUCE BUILD INST OBJ NEWOBJ NEWOBJ_EX
// PERSID BINPERSID EXT1 EXT2 EXT4 EMPTY_SET ADDITEMS FROZENSET BYTEARRAY8 NEXT_BUFFER
// READONLY_BUFFER; any other byte is an "unknown pickle opcode".
//
// Objects through an allow-list (PickleLimits::allowed_globals non-empty; what
// torch.load(weights_only=True) does, for data/torch_file.h): GLOBAL and STACK_GLOBAL
// then push a reference to a global *named on the list* (any other name is refused,
// naming it and the byte offset), REDUCE records a call of such a global with its
// arguments, BUILD records its state, BINPERSID records a persistent id. These become
// PyValue kinds kGlobal, kCall and kPersistentId: descriptions, never executed; the
// caller interprets them. `collections.OrderedDict()` (no arguments) is read as a dict,
// and BUILD on a dict (an OrderedDict's attributes, e.g. a state_dict's _metadata) is
// accepted and its state dropped.
//
// Strictness: every read is bounds-checked (a truncated file at any offset is an error,
// never a crash); FRAME lengths must match the data (no opcode may straddle a frame end,
// as in CPython); the program must end with STOP leaving exactly one value and no open
// MARK, with no bytes after it; memo references must exist; nesting depth, the number
// of values (after expanding shared references) and string sizes are limited so that a
// hostile file cannot exhaust memory or the stack (a self-referencing list hits the
// depth limit). Dict keys must be hashable in Python terms (not list or dict).
//
// The writer emits exactly what CPython 3's pickle.dumps(value, protocol) emits for a
// value without shared sub-objects (same opcodes, memo puts, batching of 1000 items
// and, at protocol 4, 64 KiB frames), for protocols 2, 3 and 4.
#ifndef SAL360_DATA_PICKLE_H_
#define SAL360_DATA_PICKLE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sal360::data {

// A Python value of the supported subset. Value semantics (a tree; shared references
// in the pickle are expanded into copies).
class PyValue {
 public:
  struct None {
    bool operator==(const None&) const { return true; }
  };
  struct Bytes {
    std::string data;
    bool operator==(const Bytes& o) const { return data == o.data; }
  };
  struct List;
  struct Tuple;
  struct Dict;
  // A reference to an allowed global, "module.name" (allow-list mode only).
  struct Global {
    std::string name;
    bool operator==(const Global& o) const { return name == o.name; }
  };
  struct Call;          // an allowed global called with arguments (REDUCE), never executed
  struct PersistentId;  // BINPERSID's value
  enum class Kind { kNone, kBool, kInt, kFloat, kStr, kBytes, kList, kTuple, kDict, kGlobal, kCall, kPersistentId };

  PyValue() : v_(None{}) {}
  static PyValue FromNone() { return PyValue(); }
  static PyValue FromBool(bool b);
  static PyValue FromInt(int64_t i);
  static PyValue FromFloat(double d);
  static PyValue FromStr(std::string utf8);  // str (UTF-8 text)
  static PyValue FromBytes(std::string data);
  static PyValue FromList(std::vector<PyValue> items);
  static PyValue FromTuple(std::vector<PyValue> items);
  // Insertion order is kept (Python dicts are ordered); keys are not de-duplicated here.
  static PyValue FromDict(std::vector<std::pair<PyValue, PyValue>> items);
  static PyValue FromGlobal(std::string name);
  // state: empty, or the one value BUILD gave.
  static PyValue FromCall(std::string callable, std::vector<PyValue> args, std::vector<PyValue> state = {});
  static PyValue FromPersistentId(PyValue id);

  Kind kind() const;
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_float() const { return kind() == Kind::kFloat; }
  bool is_str() const { return kind() == Kind::kStr; }
  bool is_bytes() const { return kind() == Kind::kBytes; }
  bool is_list() const { return kind() == Kind::kList; }
  bool is_tuple() const { return kind() == Kind::kTuple; }
  bool is_dict() const { return kind() == Kind::kDict; }
  bool is_global() const { return kind() == Kind::kGlobal; }
  bool is_call() const { return kind() == Kind::kCall; }
  bool is_persistent_id() const { return kind() == Kind::kPersistentId; }
  // Accessors abort when the kind is wrong (check kind() first).
  bool as_bool() const;
  int64_t as_int() const;
  double as_float() const;
  const std::string& as_str() const;
  const std::string& as_bytes() const;
  // Items of a list or tuple.
  const std::vector<PyValue>& items() const;
  const std::vector<std::pair<PyValue, PyValue>>& dict_items() const;
  const std::string& global_name() const;
  const Call& call() const;
  const PyValue& persistent_id() const;
  // A number as double: int, float or bool (as Python would add them). Returns false
  // (and leaves *out alone) for other kinds.
  bool AsNumber(double* out) const;

  // Short Python-like rendering for messages, truncated to about `max_chars`.
  std::string DebugString(size_t max_chars = 200) const;
  static const char* KindName(Kind k);

  bool operator==(const PyValue& o) const;
  bool operator!=(const PyValue& o) const { return !(*this == o); }

 private:
  using Variant =
      std::variant<None, bool, int64_t, double, std::string, Bytes, std::shared_ptr<const List>,
                   std::shared_ptr<const Tuple>, std::shared_ptr<const Dict>, Global, std::shared_ptr<const Call>,
                   std::shared_ptr<const PersistentId>>;
  explicit PyValue(Variant v) : v_(std::move(v)) {}
  Variant v_;
};

struct PyValue::List {
  std::vector<PyValue> items;
};
struct PyValue::Tuple {
  std::vector<PyValue> items;
};
struct PyValue::Dict {
  std::vector<std::pair<PyValue, PyValue>> items;
};

struct PyValue::Call {
  std::string callable;         // "module.name", on the allow-list
  std::vector<PyValue> args;    // the argument tuple's items
  std::vector<PyValue> state;   // empty, or BUILD's state
};
struct PyValue::PersistentId {
  PyValue id;
};

struct PickleLimits {
  int max_depth = 64;                     // nesting of containers
  int64_t max_values = int64_t{1} << 25;  // values in the expanded tree (and on the stack)
  int64_t max_string_bytes = int64_t{1} << 28;
  // Globals ("module.name") the pickle may name; empty: plain data only (see above).
  std::vector<std::string> allowed_globals;
};

// Parses pickle bytes. `name` (usually the file name) starts every error message.
absl::StatusOr<PyValue> ParsePickle(const std::string& bytes, const std::string& name,
                                    const PickleLimits& limits = {});
// One pickle of a stream: starts at `offset`, may be followed by other bytes; *end gets
// the offset after its STOP. Byte offsets in errors count from the start of `bytes`.
absl::StatusOr<PyValue> ParsePickleAt(const std::string& bytes, size_t offset, const std::string& name,
                                      const PickleLimits& limits, size_t* end);
// Reads and parses a file of at most `max_bytes`.
absl::StatusOr<PyValue> ReadPickle(const std::string& path, int64_t max_bytes = int64_t{1} << 30,
                                   const PickleLimits& limits = {});

// Serialises at protocol 2, 3 or 4 (bytes need protocol >= 3, as in CPython, whose
// protocol-2 bytes use REDUCE). Errors: unsupported protocol, bytes at protocol 2,
// nesting deeper than PickleLimits{}.max_depth.
absl::StatusOr<std::string> SerializePickle(const PyValue& value, int protocol = 2);
// SerializePickle + util::WriteFileAtomically.
absl::Status WritePickle(const std::string& path, const PyValue& value, int protocol = 2);

// The opcode's name ("STACK_GLOBAL") or "" for a byte that is no opcode.
const char* PickleOpcodeName(uint8_t opcode);

}  // namespace sal360::data

#endif  // SAL360_DATA_PICKLE_H_

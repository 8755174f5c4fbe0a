// PyValue: the plain Python data a pickle holds (data/pickle.h).
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/pickle.h"

namespace sal360::data {

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

PyValue PyValue::FromGlobal(std::string name) { return PyValue(Variant(Global{std::move(name)})); }
PyValue PyValue::FromCall(std::string callable, std::vector<PyValue> args, std::vector<PyValue> state) {
  auto c = std::make_shared<Call>();
  c->callable = std::move(callable);
  c->args = std::move(args);
  c->state = std::move(state);
  return PyValue(Variant(std::shared_ptr<const Call>(std::move(c))));
}
PyValue PyValue::FromPersistentId(PyValue id) {
  auto p = std::make_shared<PersistentId>();
  p->id = std::move(id);
  return PyValue(Variant(std::shared_ptr<const PersistentId>(std::move(p))));
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

const std::string& PyValue::global_name() const {
  CheckKind(*this, Kind::kGlobal);
  return std::get<Global>(v_).name;
}
const PyValue::Call& PyValue::call() const {
  CheckKind(*this, Kind::kCall);
  return *std::get<std::shared_ptr<const Call>>(v_);
}
const PyValue& PyValue::persistent_id() const {
  CheckKind(*this, Kind::kPersistentId);
  return std::get<std::shared_ptr<const PersistentId>>(v_)->id;
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
    case Kind::kGlobal:
      return "global";
    case Kind::kCall:
      return "call";
    case Kind::kPersistentId:
      return "persistent id";
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
    case K::kGlobal:
      *out += v.global_name();
      break;
    case K::kCall: {
      *out += v.call().callable + "(";
      bool first = true;
      for (const PyValue& a : v.call().args) {
        if (out->size() > max_chars) break;
        if (!first) *out += ", ";
        first = false;
        AppendRepr(a, out, max_chars);
      }
      *out += ")";
      break;
    }
    case K::kPersistentId:
      *out += "persistent_id(";
      AppendRepr(v.persistent_id(), out, max_chars);
      *out += ")";
      break;
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
    case Kind::kGlobal:
      return global_name() == o.global_name();
    case Kind::kCall:
      return call().callable == o.call().callable && call().args == o.call().args && call().state == o.call().state;
    case Kind::kPersistentId:
      return persistent_id() == o.persistent_id();
  }
  return false;
}

}  // namespace sal360::data

// One declaration per option. A configuration lists its options once, as rows of an
// X-macro
//
//   #define SAL360_FOO_OPTIONS(X) \
//     X(int, batch, 8, opt::kFixed, opt::InRange(1, 4096), "Batch size") \
//     X(std::string, device, "auto", opt::kMayChange, opt::OneOf({"auto", "cpu", "cuda"}), "auto | cpu | cuda")
//
// (type, name, default, resume rule, validation rule, help), and every use of the
// options is expanded from that list with the SAL360_OPTION_* macros below: the struct
// fields, the command-line flags (tools/), config.json (to and from, strictly), the
// validation messages ("--batch must be in 1..4096") and which options a resumed run may
// change. Adding an option is one row; nothing else can forget it.
//
// Rules are written with the `opt::` prefix (namespace sal360::opt) and checked by
// opt::Violation(value, rule), which returns "" or the reason ("must be at least 1").
#ifndef SAL360_UTIL_OPTIONS_H_
#define SAL360_UTIL_OPTIONS_H_

#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sal360::opt {

// Whether `--resume` may give the option a new value (else it keeps the run's).
enum Resume { kFixed, kMayChange };

struct Any {};
// Constructors, not aggregates: a row writes opt::InRange(1, 4096), whose comma the
// parentheses protect inside the X-macro (braces would not).
struct AtLeast {
  explicit AtLeast(double m) : min(m) {}
  double min;
};
struct InRange {
  InRange(double l, double h) : lo(l), hi(h) {}
  double lo, hi;
};
struct Positive {};  // > 0 and finite
struct Finite {};
struct NonEmpty {};
struct OneOf {
  OneOf(std::initializer_list<const char*> c) : choices(c.begin(), c.end()) {}
  std::vector<std::string> choices;
};
// A check written as a function: "" when the value is fine, else the reason.
struct Satisfies {
  explicit Satisfies(std::function<std::string(const std::string&)> c) : check(std::move(c)) {}
  std::function<std::string(const std::string&)> check;
};

template <class T>
std::string Violation(const T&, const Any&) {
  return "";
}
template <class T, std::enable_if_t<std::is_arithmetic_v<T>, int> = 0>
std::string Violation(T v, const AtLeast& r) {
  return v >= r.min ? "" : absl::StrCat("must be at least ", r.min);
}
template <class T, std::enable_if_t<std::is_arithmetic_v<T>, int> = 0>
std::string Violation(T v, const InRange& r) {
  return v >= r.lo && v <= r.hi ? "" : absl::StrCat("must be in ", r.lo, "..", r.hi);
}
template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
std::string Violation(T v, const Positive&) {
  return std::isfinite(v) && v > 0 ? "" : "must be positive";
}
template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
std::string Violation(T v, const Finite&) {
  return std::isfinite(v) ? "" : "must be finite";
}
inline std::string Violation(const std::string& v, const NonEmpty&) { return v.empty() ? "must not be empty" : ""; }
inline std::string Violation(const std::string& v, const OneOf& r) {
  for (const std::string& c : r.choices) {
    if (v == c) return "";
  }
  std::vector<std::string> shown;
  for (const std::string& c : r.choices) {
    if (!c.empty()) shown.push_back(c);
  }
  std::string list = shown.size() < 2 ? absl::StrJoin(shown, "")
                                      : absl::StrCat(absl::StrJoin(shown.begin(), shown.end() - 1, ", "),
                                                     " or ", shown.back());
  return absl::StrCat("must be ", list, ", not '", v, "'");
}
inline std::string Violation(const std::string& v, const Satisfies& r) { return r.check(v); }

}  // namespace sal360::opt

// ---- Expansions of an option list (pass the macro name as the list's X) ----

// A struct field with its default:  SAL360_FOO_OPTIONS(SAL360_OPTION_FIELD)
#define SAL360_OPTION_FIELD(type, name, def, resume, rule, help) type name = def;

// The command-line flag (at namespace scope in a tool):  SAL360_FOO_OPTIONS(SAL360_OPTION_DEFINE_FLAG)
#define SAL360_OPTION_DEFINE_FLAG(type, name, def, resume, rule, help) ABSL_FLAG(type, name, def, help);

// Copies each flag into `config` (a variable in scope).
#define SAL360_OPTION_READ_FLAG(type, name, def, resume, rule, help) config.name = absl::GetFlag(FLAGS_##name);

// Into the nlohmann::json object `j` from `config`.
#define SAL360_OPTION_TO_JSON(type, name, def, resume, rule, help) j[#name] = config.name;

// Inside a loop over the items of a JSON object (`key`, `value`): reads a known key
// (nlohmann's strict get<type>: a string for an int throws) and continues the loop.
#define SAL360_OPTION_FROM_JSON(type, name, def, resume, rule, help) \
  if (key == #name) {                                                \
    config.name = value.get<type>();                                 \
    continue;                                                        \
  }

// Returns absl::InvalidArgumentError("--name <reason>") from the enclosing function
// when `config.name` breaks its rule.
#define SAL360_OPTION_CHECK(type, name, def, resume, rule, help)                          \
  if (const std::string why = ::sal360::opt::Violation(config.name, rule); !why.empty()) { \
    return absl::InvalidArgumentError(absl::StrCat("--" #name " ", why));                \
  }

// Inserts the names of the options --resume may change into the std::set `names`.
#define SAL360_OPTION_RESUMABLE(type, name, def, resume, rule, help) \
  if (resume == ::sal360::opt::kMayChange) names.insert(#name);

// Inserts every option's name into the std::set `names`.
#define SAL360_OPTION_NAME(type, name, def, resume, rule, help) names.insert(#name);

#endif  // SAL360_UTIL_OPTIONS_H_

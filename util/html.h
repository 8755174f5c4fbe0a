// Text for HTML pages (the reports): escaping for element content and attribute values,
// and JSON embedded in a <script> element.
#ifndef SAL360_UTIL_HTML_H_
#define SAL360_UTIL_HTML_H_

#include <string>

namespace sal360::util {

// & < > " ' as entities: safe in element content and in quoted attribute values.
inline std::string HtmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// JSON text made safe inside <script>…</script>: "</" cannot close the element ("<\/"
// is the same JSON string).
inline std::string ScriptSafeJson(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    out += json[i];
    if (json[i] == '<' && i + 1 < json.size() && json[i + 1] == '/') out += '\\';
  }
  return out;
}

}  // namespace sal360::util

#endif  // SAL360_UTIL_HTML_H_

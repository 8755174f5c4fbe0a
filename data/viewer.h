// The interactive 360° viewer of the HTML reports (issue #20): a frame and its saliency
// maps on the sphere (WebGL; drag to look around, scroll to zoom, ground truth /
// prediction / both side by side, opacity, frame on/off) beside a flat view that marks
// the looked-at direction, with a timeline over the frames. The page's script is
// data/viewer.js, embedded in the binary; the report stays a set of plain files that
// work from a file:// URL, offline.
//
// Files (under the report's directory):
//   viewer/NNNNNN.js  one per frame, loaded only when the timeline reaches it (a
//                     <script> that calls sal360ViewerFrame(k, {...}) with PNG data
//                     URIs: the frame, the 8-bit display maps, the flat overlay)
// and Html() is the section to put into report.html (markup, configuration, script).
//
// A map is shown as ShownMap: resized to the frame's size when it is smaller (so the
// sphere shows it smooth, not in blocks), NormaliseForDisplay (min-max to [0, 1])
// quantised to 8 bits, sampled with nearest filtering and coloured by the report's
// colour map, so the pixel under the view centre is the colour of the shown map's pixel
// in that direction (tests/eval/viewer_test checks exactly that, poles and seam included).
#ifndef SAL360_DATA_VIEWER_H_
#define SAL360_DATA_VIEWER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "data/heatmap.h"

namespace sal360::data {

struct ViewerOptions {
  std::string dir_name = "viewer";  // the frames' folder, relative to the report
  int max_width = 1024;             // frames are shrunk to at most this width
  ColourMap colour_map = ColourMap::kInferno;
};

class ViewerWriter {
 public:
  // Frames go to report_dir/options.dir_name (created on the first frame).
  ViewerWriter(std::string report_dir, ViewerOptions options = {});

  // The next frame (timeline order): RGB (frame_h, frame_w, 3); maps (map_h, map_w);
  // `gt` may be null (prediction only) but must then be null for every frame. Written
  // at once, atomically, so a long video never holds its frames in memory.
  absl::Status AddFrame(const std::string& label, const uint8_t* rgb, int frame_h, int frame_w, const float* gt,
                        const float* pred, int map_h, int map_w);

  int frames() const { return static_cast<int>(labels_.size()); }
  // The viewer section of report.html ("" without frames). `title` heads it.
  std::string Html(const std::string& title = "Look around") const;

  // A whole page: `title`, a table of `facts` (name, value), the viewer (predict's
  // report.html).
  std::string Page(const std::string& title, const std::vector<std::pair<std::string, std::string>>& facts) const;

  // What the viewer draws for a map: round(255 · NormaliseForDisplay(map)), (h, w).
  static std::vector<uint8_t> DisplayMap(const float* map, int height, int width);
  // The shown map's size for a (map_h, map_w) map on a (frame_h, frame_w) frame (the
  // frame as stored: at most max_width wide), and the shown map itself.
  static std::pair<int, int> ShownSize(int map_h, int map_w, int frame_h, int frame_w);
  static std::vector<uint8_t> ShownMap(const float* map, int map_h, int map_w, int frame_h, int frame_w);
  // The colour table the shader uses: 256 RGB entries, MapColour(cmap, k / 255).
  static std::vector<uint8_t> ColourTable(ColourMap cmap);

 private:
  std::string report_dir_;
  ViewerOptions options_;
  std::vector<std::string> labels_;
  int has_gt_ = -1;  // unknown until the first frame
};

}  // namespace sal360::data

#endif  // SAL360_DATA_VIEWER_H_

// convert_checkpoint: a PyTorch checkpoint of the published method (torch.save of
// dict(epoch, iter, state_dict), legacy or zip format; or a bare state dict) as a
// sal360 safetensors checkpoint that predict/test/train --resume read directly.
//
//   bazel run //tools:convert_checkpoint -- --in="ckpt-final - 20epoch -latest.pth.tar" \
//       --out=published.safetensors
//
// The file is read without Python (data/torch_file.h: allow-listed unpickling, nothing
// executed), "module." prefixes are stripped, and the state dict is loaded strictly into
// the network (a missing, extra or mis-shaped tensor is named with both shapes). The
// output records table mode nearest and convention seed (the published tables;
// --convention overrides). Prints a JSON summary. Exit 0 / 1 (bad input) / 2 (usage).
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "tools/flags.h"
#include "absl/flags/usage.h"
#include "infer/model.h"
#include "nlohmann/json.hpp"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "util/file.h"

ABSL_FLAG(std::string, in, "", "The PyTorch checkpoint (.pth, .pth.tar, .pt)");
ABSL_FLAG(std::string, out, "", "The safetensors checkpoint to write (not overwritten unless --force)");
ABSL_FLAG(std::string, convention, "seed", "Convention recorded in the output: seed (published) | pixel_centre");
ABSL_FLAG(bool, force, false, "Overwrite --out if it exists");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Converts a PyTorch checkpoint: --in=X.pth.tar --out=X.safetensors");
  ::sal360::tools::ParseCommandLine(argc, argv);
  using namespace sal360;
  const std::string in = util::UserPath(absl::GetFlag(FLAGS_in)), out = util::UserPath(absl::GetFlag(FLAGS_out));
  if (in.empty() || out.empty()) {
    std::fprintf(stderr, "convert_checkpoint: --in and --out are required\n");
    return 2;
  }
  if (FILE* f = std::fopen(out.c_str(), "rb"); f != nullptr && !absl::GetFlag(FLAGS_force)) {
    std::fclose(f);
    std::fprintf(stderr, "convert_checkpoint: %s exists; pass --force to overwrite it\n", out.c_str());
    return 2;
  }
  absl::StatusOr<infer::LoadedModel> m =
      infer::LoadModel(in, nn::Device::kCpu, "", absl::GetFlag(FLAGS_convention));
  if (!m.ok()) {
    std::fprintf(stderr, "convert_checkpoint: %s\n", std::string(m.status().message()).c_str());
    return 1;
  }
  std::map<std::string, std::string> meta;
  if (auto it = m->file.metadata.find("sal360.source"); it != m->file.metadata.end()) meta[it->first] = it->second;
  if (absl::Status s = nn::SaveCheckpoint(out, *m->model, nullptr, meta); !s.ok()) {
    std::fprintf(stderr, "convert_checkpoint: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  nlohmann::ordered_json j = {{"in", in},
                              {"out", out},
                              {"source", meta.count("sal360.source") ? meta["sal360.source"] : "safetensors"},
                              {"tensors", m->file.tensors.size()},
                              {"table_mode", sphere::ModeName(m->model->config().table_mode)},
                              {"convention", sphere::ConventionName(m->model->config().convention)}};
  std::printf("%s\n", j.dump(2).c_str());
  return 0;
}

// The training configuration schema (train/config.h over util/options.h): every option
// goes through config.json and back, unknown keys and wrong types are refused, each
// rule's message names its flag, and the resume rule comes from the rows.
#include "train/config.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace sal360::train {
namespace {

TEST(TrainConfig, JsonRoundTripKeepsEveryOption) {
  TrainConfig c;
  c.data = "/data/vr";
  c.split = "file";
  c.split_file = "s.json";
  c.split_seed = 42;
  c.train_videos = 7;
  c.val_videos = 3;
  c.val_seed = 9;
  c.gt = "generate";
  c.gaze_sigma = 0.2;
  c.prev_interval = 3;
  c.first_frames = "zeros";
  c.height = 32;
  c.width = 64;
  c.batch = 2;
  c.epochs = 9;
  c.max_steps = 11;
  c.optimizer = "sgd";
  c.lr = 0.25f;
  c.momentum = 0.5f;
  c.weight_decay = 0.125f;
  c.loss = "skld";
  c.device = "cpu";
  c.table_mode = "bilinear";
  c.convention = "seed";
  c.seed = 12345678901234ull;
  c.out = "runs/x";
  c.checkpoint_every = 4;
  c.validate = false;
  c.roll_augment = false;
  c.loader_threads = 3;
  const nlohmann::json j = c.ToJson();
  // Every option is written (and only options, plus the version).
  std::set<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.insert(it.key());
  std::set<std::string> want = OptionNames();
  want.insert("version");
  EXPECT_EQ(keys, want);
  absl::StatusOr<TrainConfig> back = TrainConfig::FromJson(j);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ToJson(), j);
  EXPECT_EQ(back->seed, c.seed);
  EXPECT_EQ(back->gaze_sigma, c.gaze_sigma);
  EXPECT_EQ(back->first_frames, "zeros");
}

TEST(TrainConfig, StrictJson) {
  EXPECT_FALSE(TrainConfig::FromJson(nlohmann::json::array()).ok());
  absl::StatusOr<TrainConfig> unknown = TrainConfig::FromJson({{"hieght", 64}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown key 'hieght'"), std::string::npos);
  EXPECT_FALSE(TrainConfig::FromJson({{"height", "64"}}).ok());
  EXPECT_FALSE(TrainConfig::FromJson({{"optimizer", 3}}).ok());
  // A config written before an option existed keeps that option's default.
  absl::StatusOr<TrainConfig> old = TrainConfig::FromJson({{"height", 32}, {"version", "0.0.1"}});
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->height, 32);
  EXPECT_EQ(old->split_seed, data::kPublishedSplitSeed);
  EXPECT_EQ(old->val_videos, 1);
}

TEST(TrainConfig, EachRuleNamesItsFlag) {
  EXPECT_TRUE(TrainConfig().Validate().ok()) << TrainConfig().Validate();
  struct Case {
    const char* flag;
    std::function<void(TrainConfig&)> set;
  };
  const Case cases[] = {
      {"--batch", [](TrainConfig& c) { c.batch = 0; }},
      {"--epochs", [](TrainConfig& c) { c.epochs = 0; }},
      {"--max_steps", [](TrainConfig& c) { c.max_steps = -1; }},
      {"--optimizer", [](TrainConfig& c) { c.optimizer = "rmsprop"; }},
      {"--lr", [](TrainConfig& c) { c.lr = NAN; }},
      {"--loss", [](TrainConfig& c) { c.loss = "l1"; }},
      {"--device", [](TrainConfig& c) { c.device = "tpu"; }},
      {"--table_mode", [](TrainConfig& c) { c.table_mode = "cubic"; }},
      {"--convention", [](TrainConfig& c) { c.convention = "corner"; }},
      {"--out", [](TrainConfig& c) { c.out = ""; }},
      {"--checkpoint_every", [](TrainConfig& c) { c.checkpoint_every = -2; }},
      {"--loader_threads", [](TrainConfig& c) { c.loader_threads = 65; }},
      {"--height/--width", [](TrainConfig& c) { c.height = 20; }},
      {"--val_videos", [](TrainConfig& c) { c.val_videos = -1; }},
      {"--gt", [](TrainConfig& c) { c.gt = "maybe"; }},
      {"--gaze_sigma", [](TrainConfig& c) { c.gaze_sigma = 0; }},
      {"--prev_interval", [](TrainConfig& c) { c.prev_interval = 0; }},
      {"--first_frames", [](TrainConfig& c) { c.first_frames = "last"; }},
      {"--split", [](TrainConfig& c) { c.split = "random"; }},
  };
  for (const Case& k : cases) {
    TrainConfig c;
    k.set(c);
    const absl::Status s = c.Validate();
    EXPECT_FALSE(s.ok()) << k.flag;
    EXPECT_EQ(s.message().rfind(k.flag, 0), 0u) << k.flag << ": " << s;
  }
  EXPECT_EQ(opt::Violation(std::string("x"), opt::OneOf({"adam", "adamw", "sgd"})),
            "must be adam, adamw or sgd, not 'x'");
}

TEST(TrainConfig, ResumableOptionsComeFromTheRows) {
  EXPECT_EQ(ResumableOptions(),
            (std::set<std::string>{"checkpoint_every", "data", "device", "epochs", "gpu_engine", "grad_bucket_mb",
                                   "loader_threads", "max_steps", "out", "precision", "validate"}));
}

}  // namespace
}  // namespace sal360::train

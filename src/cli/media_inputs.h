// Images and audio files given on the command line (facet run --image/--audio, facet chat
// /image and /audio): each is read and run through the projector's tower, loaded the first
// time it is needed from --mmproj or the projector found beside the model.
#pragma once

#include <memory>
#include <string>

#include "engine/media_prompt.h"
#include "util/thread_pool.h"

namespace facet::cli {

class MediaInputs {
 public:
  // `mmproj`: the --mmproj flag (empty: look beside the model); `model_width`: the text
  // model's hidden size, which the towers' soft tokens must have; `image_tokens`: the image
  // budget (0: the tower's default).
  MediaInputs(std::string model_path, std::string mmproj, int64_t model_width, int threads, int image_tokens,
              bool verbose);
  ~MediaInputs();

  EncodedMedia image(const std::string& path);
  EncodedMedia audio(const std::string& path);

 private:
  const std::string& projector();
  void check_width(int64_t tower_width);
  void report(const std::string& path, const EncodedMedia& m, double seconds) const;

  std::string model_path_, mmproj_;
  int64_t model_width_;
  int image_tokens_;
  bool verbose_;
  ThreadPool pool_;
  std::unique_ptr<VisionTower> vision_;
  std::unique_ptr<AudioTower> audio_;
};

}  // namespace facet::cli

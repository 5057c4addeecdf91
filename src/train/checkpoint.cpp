// Checkpoint folders: binary layout, checksum, atomic replacement.
#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "util/error.h"

namespace facet::train {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'F', 'A', 'C', 'E', 'T', 'C', 'K', 'P'};
constexpr uint32_t kVersion = 1;

uint64_t fnv1a(const char* data, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<uint8_t>(data[i])) * 0x100000001b3ull;
  return h;
}

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_floats(std::string& out, const std::vector<float>& v) {
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

struct Reader {
  const std::string& bytes;
  const std::string& path;
  size_t pos = 0;
  template <typename T>
  T get() {
    require(pos + sizeof(T) <= bytes.size(), path, " is truncated");
    T value;
    std::memcpy(&value, bytes.data() + pos, sizeof(T));
    pos += sizeof(T);
    return value;
  }
  std::vector<float> floats(uint64_t n) {
    require(n <= (bytes.size() - pos) / sizeof(float), path, " is truncated");
    std::vector<float> v(static_cast<size_t>(n));
    std::memcpy(v.data(), bytes.data() + pos, v.size() * sizeof(float));
    pos += v.size() * sizeof(float);
    return v;
  }
};

void write_and_sync(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  require(fd >= 0, "cannot create ", path, ": ", std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      fail("cannot write ", path, ": ", std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  require(synced, "cannot sync ", path, ": ", std::strerror(err));
}

void sync_folder(const std::string& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);  // best effort: makes the rename durable
  ::close(fd);
}

std::string parent_of(const std::string& path) {
  const fs::path p = fs::path(path).parent_path();
  return p.empty() ? "." : p.string();
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  write_and_sync(tmp, bytes);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  require(!ec, "cannot rename ", tmp, " to ", path, ": ", ec.message());
  sync_folder(parent_of(path));
}

void write_checkpoint(const std::string& folder, const CheckpointData& data,
                      const std::function<void(const std::string& tmp_folder)>& extra_files) {
  require(data.weights.size() == data.adam.m.size() || data.adam.m.empty(),
          "checkpoint: optimizer moments do not match the adapter");
  std::string out(kMagic, sizeof(kMagic));
  put<uint32_t>(out, kVersion);
  put<uint32_t>(out, 0);
  const std::string meta = data.meta.dump();
  put<uint64_t>(out, meta.size());
  out += meta;
  put<uint64_t>(out, data.weights.size());
  for (size_t k = 0; k < data.weights.size(); ++k) {
    const std::vector<float>& w = data.weights[k];
    put<uint64_t>(out, w.size());
    put_floats(out, w);
    // A checkpoint before the first step has no moments yet: zeros are the same state.
    const std::vector<float> zeros(data.adam.m.empty() ? w.size() : 0, 0.0f);
    put_floats(out, data.adam.m.empty() ? zeros : data.adam.m[k]);
    put_floats(out, data.adam.m.empty() ? zeros : data.adam.v[k]);
  }
  put<uint64_t>(out, fnv1a(out.data(), out.size()));

  const std::string tmp = folder + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  require(!ec, "cannot create ", tmp, ": ", ec.message());
  write_and_sync(tmp + "/" + kCheckpointFile, out);
  if (extra_files) extra_files(tmp);
  sync_folder(tmp);
  // rename() cannot replace a non-empty folder: move an old one aside first.
  if (fs::exists(folder)) {
    const std::string old = folder + ".old";
    fs::remove_all(old, ec);
    fs::rename(folder, old, ec);
    require(!ec, "cannot move ", folder, " aside: ", ec.message());
    fs::rename(tmp, folder, ec);
    require(!ec, "cannot rename ", tmp, " to ", folder, ": ", ec.message());
    fs::remove_all(old, ec);
  } else {
    fs::rename(tmp, folder, ec);
    require(!ec, "cannot rename ", tmp, " to ", folder, ": ", ec.message());
  }
  sync_folder(parent_of(folder));
}

CheckpointData read_checkpoint(const std::string& path) {
  const std::string file = fs::is_directory(path) ? path + "/" + kCheckpointFile : path;
  std::ifstream in(file, std::ios::binary);
  require(in.good(), "cannot open the checkpoint ", file);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  require(bytes.size() >= sizeof(kMagic) + 8 && std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) == 0, file,
          " is not a facet training checkpoint");
  uint64_t stored_hash;
  require(bytes.size() >= sizeof(kMagic) + 16, file, " is truncated");
  std::memcpy(&stored_hash, bytes.data() + bytes.size() - 8, 8);
  require(fnv1a(bytes.data(), bytes.size() - 8) == stored_hash, "the checkpoint ", file,
          " is corrupt (checksum mismatch); resume from an earlier checkpoint with --resume-from");
  Reader r{bytes, file, sizeof(kMagic)};
  const uint32_t version = r.get<uint32_t>();
  require(version == kVersion, file, " has checkpoint version ", version, ", this build reads ", kVersion);
  r.get<uint32_t>();
  const uint64_t meta_len = r.get<uint64_t>();
  require(meta_len <= bytes.size() - r.pos, file, " is truncated");
  CheckpointData data;
  try {
    data.meta = chat::Json::parse(bytes.substr(r.pos, static_cast<size_t>(meta_len)));
  } catch (const std::exception& e) {
    fail(file, ": bad checkpoint record: ", e.what());
  }
  r.pos += static_cast<size_t>(meta_len);
  require(data.meta.is_object() && data.meta.contains("step") && data.meta["step"].is_number_integer(), file,
          ": the checkpoint record has no step");
  data.adam.step = data.meta.value("adam_step", int64_t{0});
  const uint64_t count = r.get<uint64_t>();
  require(count <= bytes.size(), file, " is corrupt");
  for (uint64_t k = 0; k < count; ++k) {
    const uint64_t n = r.get<uint64_t>();
    data.weights.push_back(r.floats(n));
    data.adam.m.push_back(r.floats(n));
    data.adam.v.push_back(r.floats(n));
  }
  require(r.pos == bytes.size() - 8, file, " has trailing bytes");
  return data;
}

std::optional<std::string> latest_checkpoint(const std::string& output_dir) {
  std::optional<std::string> best;
  long long best_step = -1;
  std::error_code ec;
  if (!fs::is_directory(output_dir, ec)) return std::nullopt;
  for (const auto& entry : fs::directory_iterator(output_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.rfind("checkpoint-", 0) != 0) continue;
    const std::string digits = name.substr(11);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 15)
      continue;
    const long long step = std::stoll(digits);
    if (step > best_step) {
      best_step = step;
      best = entry.path().string();
    }
  }
  return best;
}

}  // namespace facet::train

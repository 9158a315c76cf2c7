#include "model/loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "model/gguf_loader.h"
#include "model/hf_loader.h"
#include "model/llama2c_loader.h"

namespace detinfer {

namespace {

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(),
                                                suffix) == 0;
}

std::string ParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The first 4 bytes (fewer for a shorter file).
Result<std::string> ReadMagic(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string msg = "cannot open '" + path + "': " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(msg) : Status::IoError(msg);
  }
  char buf[4];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) return Status::IoError("cannot read '" + path + "'");
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

Result<ModelWeights> LoadModel(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    std::string msg = "cannot open model '" + path + "': " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(msg) : Status::IoError(msg);
  }
  Result<ModelWeights> w = Status::Internal("unreachable");
  if (S_ISDIR(st.st_mode)) {
    struct stat cfg {};
    if (::stat((path + "/config.json").c_str(), &cfg) != 0) {
      return Status::NotFound(path + ": a directory without config.json is not a Hugging Face "
                              "model directory");
    }
    w = LoadHfDirectory(path);
  } else if (EndsWith(path, "config.json") || EndsWith(path, ".safetensors")) {
    w = LoadHfDirectory(ParentDir(path));  // a file of a Hugging Face directory
  } else {
    DETINFER_ASSIGN_OR_RETURN(std::string magic, ReadMagic(path));
    if (magic == "GGUF") {
      w = LoadGguf(path);
    } else if (magic == "24ka") {  // uint32 0x616b3432 ("ak42"), little-endian
      return Status::Unsupported(path + ": llama2.c version-1+ export (magic 0x616b3432) is not "
                                 "supported; only the legacy version-0 layout is");
    } else {
      w = LoadLlama2c(path);
    }
  }
  return w;  // every format loader ends with ValidateWeights (model/validate.h)
}

}  // namespace detinfer

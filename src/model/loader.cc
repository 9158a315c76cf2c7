#include "model/loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "model/file_kind.h"
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
  if (fd < 0) return Status::IoError("cannot open '" + path + "': " + std::strerror(errno));
  char buf[4];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) return Status::IoError("cannot read '" + path + "'");
  return std::string(buf, static_cast<size_t>(n));
}

constexpr const char* kModelFormats =
    "detinfer reads a GGUF file, a Hugging Face directory (config.json + *.safetensors) or a "
    "llama2.c .bin checkpoint";

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
    DETINFER_ASSIGN_OR_RETURN(const FileKind kind, SniffFile(path));
    if (kind == FileKind::kGguf) {
      w = LoadGguf(path);
    } else if (kind != FileKind::kBinary) {
      // Say what the file is before any format blames its header fields.
      return Status::InvalidArgument(path + " is " + std::string(FileKindName(kind)) +
                                     ", not a model: " + kModelFormats);
    } else {
      DETINFER_ASSIGN_OR_RETURN(std::string magic, ReadMagic(path));
      if (magic == "24ka") {  // uint32 0x616b3432 ("ak42"), little-endian
        return Status::Unsupported(path + ": llama2.c version-1+ export (magic 0x616b3432) is not "
                                   "supported; only the legacy version-0 layout is");
      }
      w = LoadLlama2c(path);
      if (!w.ok()) {
        // The legacy llama2.c layout has no magic: it is what a binary file is read as last.
        return Status(w.status().code(),
                      w.status().message() + " (read as a llama2.c checkpoint, the last format "
                                             "tried: the file is not GGUF, and " +
                          kModelFormats + ")");
      }
    }
  }
  return w;  // every format loader ends with ValidateWeights (model/validate.h)
}

}  // namespace detinfer

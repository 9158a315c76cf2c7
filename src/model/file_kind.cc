#include "model/file_kind.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace detinfer {

FileKind ClassifyFileHead(std::string_view head) {
  if (head.empty()) return FileKind::kEmpty;
  if (head.substr(0, 4) == "GGUF") return FileKind::kGguf;
  if (head.substr(0, 4) == std::string_view("PK\3\4", 4)) return FileKind::kZip;
  const auto u = [&](size_t i) { return static_cast<unsigned char>(head[i]); };
  if (head.size() >= 2 && u(0) == 0x80 && u(1) >= 2 && u(1) <= 5) return FileKind::kPickle;
  // Binary model and tokenizer files hold small little-endian integers, hence NUL bytes early;
  // text holds none, and no control character other than whitespace.
  for (size_t i = 0; i < head.size(); ++i) {
    const unsigned char c = u(i);
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f') return FileKind::kBinary;
    if (c == 0x7f) return FileKind::kBinary;
  }
  const size_t first = head.find_first_not_of(" \t\r\n\f");
  if (first != std::string_view::npos && (head[first] == '{' || head[first] == '[')) {
    return FileKind::kJson;
  }
  return FileKind::kText;
}

Result<FileKind> SniffFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string msg = "cannot open '" + path + "': " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(msg) : Status::IoError(msg);
  }
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) return Status::IoError("cannot read '" + path + "'");
  return ClassifyFileHead(std::string_view(buf, static_cast<size_t>(n)));
}

std::string_view FileKindName(FileKind kind) {
  switch (kind) {
    case FileKind::kEmpty: return "an empty file";
    case FileKind::kGguf: return "a GGUF file";
    case FileKind::kJson: return "a JSON file";
    case FileKind::kText: return "a text file";
    case FileKind::kZip: return "a zip archive (a PyTorch checkpoint? export it as safetensors)";
    case FileKind::kPickle: return "a Python pickle (a PyTorch checkpoint? export it as safetensors)";
    case FileKind::kBinary: return "a binary file";
  }
  return "a file";
}

}  // namespace detinfer

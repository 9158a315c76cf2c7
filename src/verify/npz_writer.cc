#include "verify/npz_writer.h"

#include <cstdio>
#include <cstring>
#include <limits>

#include "verify/checksums.h"

namespace detinfer::verify {

namespace {

void Le16(std::vector<uint8_t>* b, uint32_t v) {
  b->push_back(static_cast<uint8_t>(v));
  b->push_back(static_cast<uint8_t>(v >> 8));
}
void Le32(std::vector<uint8_t>* b, uint32_t v) {
  Le16(b, v & 0xffff);
  Le16(b, v >> 16);
}
void Append(std::vector<uint8_t>* b, const void* p, size_t n) {
  const size_t at = b->size();
  b->resize(at + n);
  if (n != 0) std::memcpy(b->data() + at, p, n);
}

constexpr uint32_t kDosTime = 0;        // 00:00:00
constexpr uint32_t kDosDate = (1 << 5) | 1;  // 1980-01-01: fixed, so equal inputs give equal files

}  // namespace

std::vector<uint8_t> NpyBytes(const std::string& descr, const std::vector<int64_t>& shape,
                              const void* data, size_t bytes) {
  std::string header = "{'descr': '";
  header += descr;
  header += "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    header += std::to_string(shape[i]);
    header += shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : "");
  }
  header += "), }";
  // Magic (6) + version (2) + length (2) + header, padded with spaces and ended by '\n' to a
  // multiple of 64 bytes so the data is aligned (the .npy format's recommendation).
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::vector<uint8_t> out;
  const uint8_t magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  Append(&out, magic, sizeof magic);
  Le16(&out, static_cast<uint32_t>(header.size()));
  Append(&out, header.data(), header.size());
  Append(&out, data, bytes);
  return out;
}

Status NpzWriter::Add(const std::string& name, const std::string& descr,
                      const std::vector<int64_t>& shape, const void* data, size_t bytes) {
  const std::string file = name + ".npy";
  for (const Entry& e : entries_) {
    if (e.name == file) return Status::InvalidArgument("npz: array '" + name + "' added twice");
  }
  const std::vector<uint8_t> npy = NpyBytes(descr, shape, data, bytes);
  constexpr size_t kMax = std::numeric_limits<uint32_t>::max();
  if (body_.size() + npy.size() + 30 + file.size() > kMax) {
    return Status::ResourceExhausted("npz: archive would exceed 4 GiB (no ZIP64 support) at '" +
                                     name + "'");
  }
  Entry e{file, Crc32(npy.data(), npy.size()), static_cast<uint32_t>(npy.size()),
          static_cast<uint32_t>(body_.size())};
  Le32(&body_, 0x04034b50);  // local file header
  Le16(&body_, 20);          // version needed: 2.0
  Le16(&body_, 0);           // flags
  Le16(&body_, 0);           // method: stored
  Le16(&body_, kDosTime);
  Le16(&body_, kDosDate);
  Le32(&body_, e.crc);
  Le32(&body_, e.size);  // compressed size
  Le32(&body_, e.size);  // uncompressed size
  Le16(&body_, static_cast<uint32_t>(file.size()));
  Le16(&body_, 0);  // extra field length
  Append(&body_, file.data(), file.size());
  Append(&body_, npy.data(), npy.size());
  entries_.push_back(std::move(e));
  return Status::Ok();
}

Status NpzWriter::WriteFile(const std::string& path) const {
  std::vector<uint8_t> central;
  for (const Entry& e : entries_) {
    Le32(&central, 0x02014b50);
    Le16(&central, 20);  // made by: 2.0
    Le16(&central, 20);  // needed: 2.0
    Le16(&central, 0);
    Le16(&central, 0);
    Le16(&central, kDosTime);
    Le16(&central, kDosDate);
    Le32(&central, e.crc);
    Le32(&central, e.size);
    Le32(&central, e.size);
    Le16(&central, static_cast<uint32_t>(e.name.size()));
    Le16(&central, 0);  // extra
    Le16(&central, 0);  // comment
    Le16(&central, 0);  // disk
    Le16(&central, 0);  // internal attributes
    Le32(&central, 0);  // external attributes
    Le32(&central, e.offset);
    Append(&central, e.name.data(), e.name.size());
  }
  if (entries_.size() > 0xffff) return Status::ResourceExhausted("npz: more than 65535 arrays");
  std::vector<uint8_t> end;
  Le32(&end, 0x06054b50);
  Le16(&end, 0);
  Le16(&end, 0);
  Le16(&end, static_cast<uint32_t>(entries_.size()));
  Le16(&end, static_cast<uint32_t>(entries_.size()));
  Le32(&end, static_cast<uint32_t>(central.size()));
  Le32(&end, static_cast<uint32_t>(body_.size()));
  Le16(&end, 0);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return Status::InvalidArgument("cannot create '" + path + "'");
  const bool ok = std::fwrite(body_.data(), 1, body_.size(), f) == body_.size() &&
                  std::fwrite(central.data(), 1, central.size(), f) == central.size() &&
                  std::fwrite(end.data(), 1, end.size(), f) == end.size();
  if (std::fclose(f) != 0 || !ok) return Status::Internal("error writing '" + path + "'");
  return Status::Ok();
}

}  // namespace detinfer::verify

// An independent reader of .npz files for the tests: walks the zip's central directory, checks
// each stored entry's CRC-32 with a bit-at-a-time loop (not the writer's table), and parses the
// .npy header dictionary. Shares no code with src/verify/npz_writer.
#ifndef DETINFER_TESTS_VERIFY_NPZ_READER_H_
#define DETINFER_TESTS_VERIFY_NPZ_READER_H_

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace detinfer::testing {

struct NpyArray {
  std::string descr;
  bool fortran_order = true;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

struct NpzContents {
  std::string error;  // empty when the file parsed
  std::map<std::string, NpyArray> arrays;  // by entry name without ".npy"
};

inline uint32_t BitwiseCrc32(const uint8_t* p, size_t n) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

inline uint32_t Rd16(const std::vector<uint8_t>& b, size_t at) {
  return static_cast<uint32_t>(b[at]) | (static_cast<uint32_t>(b[at + 1]) << 8);
}
inline uint32_t Rd32(const std::vector<uint8_t>& b, size_t at) {
  return Rd16(b, at) | (Rd16(b, at + 2) << 16);
}

// Parses "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".
inline bool ParseNpy(const uint8_t* p, size_t n, NpyArray* out, std::string* error) {
  static const uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (n < 10 || std::memcmp(p, kMagic, 6) != 0) return *error = "bad npy magic", false;
  if (p[6] != 1 || p[7] != 0) return *error = "npy version is not 1.0", false;
  const size_t hlen = static_cast<size_t>(p[8]) | (static_cast<size_t>(p[9]) << 8);
  if (10 + hlen > n || (10 + hlen) % 16 != 0) return *error = "bad npy header length", false;
  const std::string h(reinterpret_cast<const char*>(p + 10), hlen);
  if (h.back() != '\n') return *error = "npy header does not end with a newline", false;
  const auto d = h.find("'descr': '");
  if (d == std::string::npos) return *error = "no descr", false;
  out->descr = h.substr(d + 10, h.find('\'', d + 10) - (d + 10));
  out->fortran_order = h.find("'fortran_order': False") == std::string::npos;
  const auto s = h.find("'shape': (");
  if (s == std::string::npos) return *error = "no shape", false;
  const std::string dims = h.substr(s + 10, h.find(')', s) - (s + 10));
  out->shape.clear();
  size_t i = 0;
  while (i < dims.size()) {
    while (i < dims.size() && (dims[i] == ' ' || dims[i] == ',')) ++i;
    if (i >= dims.size()) break;
    size_t j = i;
    while (j < dims.size() && dims[j] >= '0' && dims[j] <= '9') ++j;
    out->shape.push_back(std::stoll(dims.substr(i, j - i)));
    i = j;
  }
  out->data.assign(p + 10 + hlen, p + n);
  return true;
}

inline NpzContents ReadNpz(const std::string& path) {
  NpzContents c;
  std::ifstream f(path, std::ios::binary);
  const std::vector<uint8_t> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (b.size() < 22) return c.error = "file too short", c;
  const size_t eocd = b.size() - 22;  // we write no archive comment
  if (Rd32(b, eocd) != 0x06054b50) return c.error = "no end-of-central-directory record", c;
  const uint32_t count = Rd16(b, eocd + 10);
  size_t at = Rd32(b, eocd + 16);
  for (uint32_t e = 0; e < count; ++e) {
    if (at + 46 > b.size() || Rd32(b, at) != 0x02014b50) return c.error = "bad central header", c;
    const uint32_t method = Rd16(b, at + 10), crc = Rd32(b, at + 16), csize = Rd32(b, at + 20);
    const uint32_t usize = Rd32(b, at + 24), nlen = Rd16(b, at + 28);
    const uint32_t xlen = Rd16(b, at + 30), clen = Rd16(b, at + 32), local = Rd32(b, at + 42);
    const std::string name(b.begin() + static_cast<long>(at + 46),
                           b.begin() + static_cast<long>(at + 46 + nlen));
    at += 46 + nlen + xlen + clen;
    if (method != 0 || csize != usize) return c.error = name + ": not a stored entry", c;
    if (Rd32(b, local) != 0x04034b50) return c.error = name + ": bad local header", c;
    const size_t data = local + 30 + Rd16(b, local + 26) + Rd16(b, local + 28);
    if (data + usize > b.size()) return c.error = name + ": truncated", c;
    if (BitwiseCrc32(b.data() + data, usize) != crc) return c.error = name + ": CRC mismatch", c;
    if (name.size() < 4 || name.substr(name.size() - 4) != ".npy") return c.error = name + ": not .npy", c;
    NpyArray arr;
    if (!ParseNpy(b.data() + data, usize, &arr, &c.error)) return c.error = name + ": " + c.error, c;
    c.arrays[name.substr(0, name.size() - 4)] = std::move(arr);
  }
  return c;
}

}  // namespace detinfer::testing

#endif  // DETINFER_TESTS_VERIFY_NPZ_READER_H_

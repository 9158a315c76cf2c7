#include "model/safetensors_writer.h"

#include <algorithm>
#include <bit>
#include <nlohmann/json.hpp>

#include "model/file_sink.h"

namespace detinfer {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; the writers copy native bytes");

std::string_view SafetensorsDTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kBF16: return "BF16";
    case DType::kF16: return "F16";
    default: break;
  }
  return "?";
}

Status WriteSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors) {
  // Data order: element size descending, then name (see the header comment).
  std::vector<const SafetensorsEntry*> order;
  for (const SafetensorsEntry& e : tensors) {
    if (e.name.empty()) return Status::InvalidArgument(path + ": a tensor has an empty name");
    if (e.view == nullptr || (e.view->rank != 1 && e.view->rank != 2)) {
      return Status::InvalidArgument(path + ": tensor '" + e.name + "' must have rank 1 or 2");
    }
    order.push_back(&e);
  }
  std::sort(order.begin(), order.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    const size_t sa = DTypeSize(a->view->dtype), sb = DTypeSize(b->view->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const SafetensorsEntry* e : order) {
    if (header.contains(e->name)) {
      return Status::InvalidArgument(path + ": tensor name '" + e->name + "' appears twice");
    }
    nlohmann::json shape = nlohmann::json::array();
    for (int d = 0; d < e->view->rank; ++d) shape.push_back(e->view->shape[d]);
    const uint64_t bytes = TensorBytes(*e->view);
    header[e->name] = {{"dtype", SafetensorsDTypeName(e->view->dtype)},
                       {"shape", shape},
                       {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  FileSink sink;
  DETINFER_RETURN_IF_ERROR(sink.Open(path));
  const uint64_t n = text.size();
  DETINFER_RETURN_IF_ERROR(sink.Write(&n, sizeof n));
  DETINFER_RETURN_IF_ERROR(sink.Write(text.data(), text.size()));
  for (const SafetensorsEntry* e : order) {
    DETINFER_RETURN_IF_ERROR(WriteTensorRows(sink, *e->view, e->head_dim, e->from, e->to));
  }
  return sink.Commit();
}

}  // namespace detinfer

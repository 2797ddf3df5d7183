// The safetensors weights format: parsing with the reference implementation's validation,
// loading into a model by Keras weight path, and atomic saving.
#include "kserde_plugins/safetensors.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <set>

#include "kserde/error.hpp"
#include "kserde/io/atomic_file.hpp"
#include "kserde/io/byte_sink.hpp"
#include "kserde/io/mapped_file.hpp"
#include "kserde/json.hpp"
#include "kserde/weight_paths.hpp"

#ifndef KSERDE_SAFETENSORS_KSERDE_VERSION
#define KSERDE_SAFETENSORS_KSERDE_VERSION "unknown"
#endif

static_assert(std::endian::native == std::endian::little,
              "the safetensors plugin assumes a little-endian host");

namespace kserde::safetensors {

namespace {

struct DTypeTag {
  const char* tag;
  std::size_t size;  // bytes per element
  std::optional<DType> dtype;
};

// Every dtype of the safetensors specification whose elements are whole bytes.
const DTypeTag kTags[] = {
    {"F64", 8, DType::Float64},  {"F32", 4, DType::Float32},   {"F16", 2, DType::Float16},
    {"BF16", 2, DType::BFloat16}, {"I64", 8, DType::Int64},    {"I32", 4, DType::Int32},
    {"I16", 2, DType::Int16},    {"I8", 1, DType::Int8},       {"U64", 8, DType::UInt64},
    {"U32", 4, DType::UInt32},   {"U16", 2, DType::UInt16},    {"U8", 1, DType::UInt8},
    {"BOOL", 1, DType::Bool},    {"F8_E5M2", 1, std::nullopt}, {"F8_E4M3", 1, std::nullopt},
    {"F8_E8M0", 1, std::nullopt}, {"E8M0", 1, std::nullopt},   {"C64", 8, std::nullopt},
};

const DTypeTag* find_tag(std::string_view tag) {
  for (const DTypeTag& t : kTags) {
    if (tag == t.tag) return &t;
  }
  return nullptr;
}

std::uint64_t read_u64_le(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
  return v;
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    if (c < 0x80) {
      n = 0;
    } else if ((c >> 5) == 0x6) {
      n = 1;
    } else if ((c >> 4) == 0xE) {
      n = 2;
    } else if ((c >> 3) == 0x1E) {
      n = 3;
    } else {
      return false;
    }
    if (s.size() - i - 1 < n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

std::string shape_text(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

bool get_u64(const JsonValue& v, std::uint64_t& out) {
  if (v.IsUint64()) {
    out = v.GetUint64();
    return true;
  }
  return false;
}

}  // namespace

const TensorInfo* Contents::find(const std::string& name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : &tensors[it->second];
}

std::string dtype_tag(DType dtype) {
  for (const DTypeTag& t : kTags) {
    if (t.dtype == dtype) return t.tag;
  }
  throw UnsupportedError(std::string("safetensors has no dtype for ") + std::string(dtype_name(dtype)));
}

Contents parse(const io::ByteSource& src) {
  const std::string& file = src.file_name;
  const std::uint64_t size = src.bytes.size();
  if (size < 8) {
    throw FormatError(file + ": not a safetensors file: " + std::to_string(size) +
                      " bytes is too small for the 8-byte header length (HeaderTooSmall)");
  }
  const std::uint64_t n = read_u64_le(src.bytes.data());
  if (n > kMaxHeaderSize) {
    throw LimitError(file + ": safetensors header length " + std::to_string(n) +
                     " exceeds the limit of " + std::to_string(kMaxHeaderSize) +
                     " bytes (HeaderTooLarge)");
  }
  if (n > size - 8) {
    throw FormatError(file + ": safetensors header length " + std::to_string(n) +
                      " runs past the end of the file (" + std::to_string(size) +
                      " bytes): truncated (InvalidHeaderLength)");
  }
  const std::string_view header(reinterpret_cast<const char*>(src.bytes.data() + 8),
                                static_cast<std::size_t>(n));
  if (!valid_utf8(header)) {
    throw FormatError(file + ": safetensors header is not valid UTF-8 (InvalidHeader)");
  }
  if (header.empty() || header.front() != '{') {
    throw FormatError(file + ": safetensors header does not start with '{' (InvalidHeaderStart)");
  }
  std::shared_ptr<JsonDocument> doc;
  try {
    doc = parse_json(header, file + ": safetensors header");
  } catch (const Error& e) {
    throw FormatError(std::string(e.what()) + " (InvalidHeaderDeserialization)");
  }
  if (!doc->IsObject()) {
    throw FormatError(file + ": safetensors header must be a JSON object");
  }
  Contents out;
  std::set<std::string> names;
  for (const auto& m : doc->GetObject()) {
    const std::string name(m.name.GetString(), m.name.GetStringLength());
    if (!names.insert(name).second) {
      throw FormatError(file + ": safetensors header lists '" + name + "' twice");
    }
    if (name == "__metadata__") {
      if (m.value.IsNull()) continue;
      if (!m.value.IsObject()) {
        throw FormatError(file + ": safetensors __metadata__ must be an object of strings");
      }
      for (const auto& kv : m.value.GetObject()) {
        if (!kv.value.IsString()) {
          throw FormatError(file + ": safetensors __metadata__ value '" +
                            std::string(kv.name.GetString()) + "' is not a string");
        }
        out.metadata[kv.name.GetString()] = kv.value.GetString();
      }
      continue;
    }
    const std::string where = file + ": tensor '" + name + "'";
    if (!m.value.IsObject()) throw FormatError(where + ": entry must be an object");
    const auto dt = m.value.FindMember("dtype");
    const auto sh = m.value.FindMember("shape");
    const auto off = m.value.FindMember("data_offsets");
    if (dt == m.value.MemberEnd() || !dt->value.IsString()) {
      throw FormatError(where + ": missing string 'dtype'");
    }
    if (sh == m.value.MemberEnd() || !sh->value.IsArray()) {
      throw FormatError(where + ": missing list 'shape'");
    }
    if (off == m.value.MemberEnd() || !off->value.IsArray() || off->value.Size() != 2) {
      throw FormatError(where + ": 'data_offsets' must be [begin, end]");
    }
    TensorInfo t;
    t.name = name;
    t.dtype_name = dt->value.GetString();
    const DTypeTag* tag = find_tag(t.dtype_name);
    if (tag == nullptr) throw FormatError(where + ": unknown dtype '" + t.dtype_name + "'");
    t.dtype = tag->dtype;
    // Element count and byte size, with overflow checks (ValidationOverflow).
    std::uint64_t elements = 1;
    for (const auto& d : sh->value.GetArray()) {
      std::uint64_t dim = 0;
      if (!get_u64(d, dim)) throw FormatError(where + ": shape entries must be non-negative integers");
      if (dim > static_cast<std::uint64_t>(INT64_MAX)) throw FormatError(where + ": dimension too large");
      if (dim != 0 && elements > UINT64_MAX / dim) {
        throw FormatError(where + ": element count overflows (ValidationOverflow)");
      }
      elements *= dim;
      t.shape.push_back(static_cast<std::int64_t>(dim));
    }
    if (elements > UINT64_MAX / tag->size) {
      throw FormatError(where + ": byte size overflows (ValidationOverflow)");
    }
    if (!get_u64(off->value[0], t.begin) || !get_u64(off->value[1], t.end)) {
      throw FormatError(where + ": data_offsets must be non-negative integers");
    }
    if (t.end < t.begin) {
      throw FormatError(where + ": data_offsets [" + std::to_string(t.begin) + ", " +
                        std::to_string(t.end) + "] end before they begin (InvalidOffset)");
    }
    if (t.end - t.begin != elements * tag->size) {
      throw FormatError(where + ": " + t.dtype_name + " " + shape_text(t.shape) + " needs " +
                        std::to_string(elements * tag->size) + " bytes but data_offsets span " +
                        std::to_string(t.end - t.begin) + " (TensorInvalidInfo)");
    }
    out.tensors.push_back(std::move(t));
  }
  // Offsets: sorted, they must tile the buffer exactly — no gap, no overlap, nothing left over.
  std::sort(out.tensors.begin(), out.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const std::uint64_t buffer = size - 8 - n;
  std::uint64_t start = 0;
  for (const TensorInfo& t : out.tensors) {
    if (t.begin != start) {
      throw FormatError(file + ": tensor '" + t.name + "': data_offsets [" +
                        std::to_string(t.begin) + ", " + std::to_string(t.end) + "] " +
                        (t.begin < start ? "overlap the previous tensor" : "leave a gap") +
                        " (expected to begin at " + std::to_string(start) + ") (InvalidOffset)");
    }
    if (t.end > buffer) {
      throw FormatError(file + ": tensor '" + t.name + "': data_offsets end at " +
                        std::to_string(t.end) + " past the data buffer of " +
                        std::to_string(buffer) + " bytes (InvalidOffset)");
    }
    start = t.end;
  }
  if (start != buffer) {
    throw FormatError(file + ": the tensors cover " + std::to_string(start) +
                      " bytes but the data buffer holds " + std::to_string(buffer) +
                      " (MetadataIncompleteBuffer)");
  }
  for (std::size_t i = 0; i < out.tensors.size(); ++i) out.index.emplace(out.tensors[i].name, i);
  out.data = src;
  out.data.bytes = src.bytes.subspan(static_cast<std::size_t>(8 + n));
  out.data.file_offset = src.file_offset + 8 + n;
  return out;
}

namespace {

Tensor make_tensor(const Contents& c, const TensorInfo& t, bool borrow) {
  if (!t.dtype) {
    throw UnsupportedError(c.data.file_name + ": tensor '" + t.name + "' has dtype " +
                           t.dtype_name + ", which kserde cannot hold");
  }
  const auto bytes = c.data.bytes.subspan(static_cast<std::size_t>(t.begin),
                                          static_cast<std::size_t>(t.end - t.begin));
  const auto addr = reinterpret_cast<std::uintptr_t>(bytes.data());
  if (borrow && addr % dtype_size(*t.dtype) == 0) {
    return Tensor::borrow(t.shape, *t.dtype, bytes.data(), c.data.owner);
  }
  return Tensor::from_bytes(t.shape, *t.dtype, bytes);
}

void load_into(Model& model, const Contents& c, const LoadOptions& options) {
  const std::string& file = c.data.file_name;
  std::vector<std::pair<Variable*, Tensor>> assign;
  for (const WeightEntry& e : weight_entries(model, options.compile)) {
    std::vector<Variable>& vars = e.variables();
    const std::string prefix = e.vars_path() + "/";
    std::size_t in_file = 0;
    while (c.find(e.variable_path(in_file)) != nullptr) ++in_file;
    if (e.optimizer != nullptr || (e.layer != nullptr && e.layer->accepts_any_weights())) {
      // Optimizer state (a count mismatch is only a warning in Keras: the file's state is kept)
      // and carried-through layers take what the file has.
      std::vector<Variable> fresh;
      for (std::size_t i = 0; i < in_file; ++i) {
        fresh.push_back(Variable{std::to_string(i),
                                 make_tensor(c, *c.find(e.variable_path(i)), options.mmap_weights),
                                 e.optimizer == nullptr});
      }
      vars = std::move(fresh);
      continue;
    }
    for (std::size_t i = 0; i < vars.size(); ++i) {
      const TensorInfo* t = c.find(e.variable_path(i));
      if (t == nullptr) {
        throw ShapeError(file + ": " + e.describe() + " expects " + std::to_string(vars.size()) +
                         " variables but the file has " + std::to_string(in_file) +
                         ": missing tensor '" + e.variable_path(i) + "' (" + vars[i].name + " " +
                         shape_to_string(vars[i].value.shape()) + ")");
      }
      if (t->shape != vars[i].value.shape()) {
        throw ShapeError(file + ": tensor '" + t->name + "' has shape " +
                         shape_to_string(t->shape) + " but " + e.describe() + " expects " +
                         shape_to_string(vars[i].value.shape()) + " for '" + vars[i].name + "'");
      }
      assign.emplace_back(&vars[i], make_tensor(c, *t, options.mmap_weights));
    }
    if (in_file != vars.size()) {
      throw ShapeError(file + ": " + e.describe() + " expects " + std::to_string(vars.size()) +
                       " variables but the file has " + std::to_string(in_file) + " under '" +
                       prefix + "'");
    }
  }
  for (auto& [var, value] : assign) {
    var->value = value.dtype() == var->value.dtype() ? value : value.to(var->value.dtype());
  }
}

class SafetensorsFormat final : public Serializer {
 public:
  std::string name() const override { return kFormatName; }
  std::vector<std::string> extensions() const override { return {".safetensors"}; }
  bool weights_only() const override { return true; }
  bool sniff(const std::filesystem::path&, std::span<const std::byte> head,
             bool is_directory) const override {
    if (is_directory || head.size() < 9) return false;
    const std::uint64_t n = read_u64_le(head.data());
    return n >= 2 && n <= kMaxHeaderSize && static_cast<char>(head[8]) == '{';
  }

  void load_weights(Model& model, const std::filesystem::path& path,
                    const LoadOptions& options) const override {
    io::ByteSource src = io::map_file(path);
    src.file_name = path.string();
    const Contents c = parse(src);
    load_into(model, c, options);
  }

  void save(const Model& model, const std::filesystem::path& path,
            const SaveOptions&) const override {
    save_weights(model, path);
  }
};

}  // namespace

void save_weights(const Model& model_in, const std::filesystem::path& path) {
  Model& model = const_cast<Model&>(model_in);  // the traversal hands out mutable references
  if (!model.built()) {
    throw ConfigError(path.string() + ": You are saving a model that has not yet been built; "
                                      "build it (or give it an Input) first");
  }
  struct Item {
    std::string name;
    const Tensor* tensor;
  };
  std::vector<Item> items;
  for (const WeightEntry& e : weight_entries(model, true)) {
    const std::vector<Variable>& vars = e.variables();
    for (std::size_t i = 0; i < vars.size(); ++i) items.push_back({e.variable_path(i), &vars[i].value});
  }
  auto doc = std::make_shared<JsonDocument>();
  doc->SetObject();
  auto& a = doc->GetAllocator();
  JsonValue meta(rapidjson::kObjectType);
  meta.AddMember("format", "keras", a);
  meta.AddMember("kserde_version", KSERDE_SAFETENSORS_KSERDE_VERSION, a);
  meta.AddMember("keras_version", "3.16.0", a);
  doc->AddMember("__metadata__", std::move(meta), a);
  std::set<std::string> seen;
  std::uint64_t offset = 0;
  for (const Item& it : items) {
    if (!seen.insert(it.name).second) {
      throw ConfigError(path.string() + ": two variables map to tensor '" + it.name + "'");
    }
    JsonValue t(rapidjson::kObjectType);
    t.AddMember("dtype", JsonValue(dtype_tag(it.tensor->dtype()).c_str(), a), a);
    JsonValue shape(rapidjson::kArrayType);
    for (std::int64_t d : it.tensor->shape()) shape.PushBack(static_cast<std::uint64_t>(d), a);
    t.AddMember("shape", std::move(shape), a);
    JsonValue offs(rapidjson::kArrayType);
    offs.PushBack(offset, a);
    offset += it.tensor->nbytes();
    offs.PushBack(offset, a);
    t.AddMember("data_offsets", std::move(offs), a);
    doc->AddMember(JsonValue(it.name.c_str(), a), std::move(t), a);
  }
  std::string header = to_json(*doc);
  // Pad with spaces so the data buffer starts 8-byte aligned (as the reference writer does).
  while ((8 + header.size()) % 8 != 0) header.push_back(' ');
  std::byte len[8];
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::byte>((n >> (8 * i)) & 0xFF);

  io::AtomicFile out(path);
  {
    io::FileSink sink(out.temp_path().string());
    sink.write(len);
    sink.write(std::as_bytes(std::span<const char>(header.data(), header.size())));
    for (const Item& it : items) sink.write(it.tensor->bytes());
  }
  out.commit();
}

SerializerPtr make_format() { return std::make_shared<SafetensorsFormat>(); }

}  // namespace kserde::safetensors

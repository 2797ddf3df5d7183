// Public reader objects: File, Group, Dataset, Attribute. They parse object headers on open and
// delegate to the format pieces in this directory.
#include "kserde/hdf5/reader.hpp"

#include <algorithm>
#include <cstring>

#include "hdf5/internal.hpp"
#include "hdf5/path.hpp"

namespace kserde::hdf5 {

using detail::FileState;
using detail::kUndefined;

// ---- Attribute ---------------------------------------------------------------------------------

Attribute::Attribute(std::string name, Datatype type, std::vector<std::uint64_t> shape,
                     std::vector<std::string> strings, std::vector<double> numbers)
    : name_(std::move(name)),
      datatype_(std::move(type)),
      shape_(std::move(shape)),
      strings_(std::move(strings)),
      numbers_(std::move(numbers)) {}

std::string Attribute::as_string() const {
  if (!is_string() || strings_.size() != 1)
    throw FormatError("HDF5 attribute \"" + name_ + "\" is not a single string");
  return strings_[0];
}

const std::vector<std::string>& Attribute::as_strings() const {
  if (!is_string()) throw FormatError("HDF5 attribute \"" + name_ + "\" is not a string attribute");
  return strings_;
}

std::vector<double> Attribute::as_doubles() const {
  const bool numeric = datatype_.dtype && datatype_.cls != Datatype::Class::Opaque &&
                       datatype_.cls != Datatype::Class::String;
  if (!numeric) throw FormatError("HDF5 attribute \"" + name_ + "\" is not numeric");
  return numbers_;
}

// ---- object opening ----------------------------------------------------------------------------

struct Group::Impl {
  std::shared_ptr<const FileState> fs;
  std::string path;
  detail::ObjectHeader header;
  std::vector<detail::Link> links;
  std::vector<std::uint64_t> ancestors;  // header addresses from the root down to this group
};

struct Dataset::Impl {
  std::shared_ptr<const FileState> fs;
  detail::DatasetInfo info;
  detail::ObjectHeader header;
};

namespace {

std::string join(std::string_view parent, std::string_view name) {
  std::string p(parent);
  if (p != "/") p += '/';
  p += name;
  return p;
}

bool is_group_header(const detail::ObjectHeader& oh) {
  return oh.find(detail::msg::SymbolTable) || oh.find(detail::msg::LinkInfo) ||
         oh.find(detail::msg::GroupInfo) || oh.find(detail::msg::Link);
}

ObjectKind kind_of(const FileState& fs, const detail::ObjectHeader& oh, std::string_view path) {
  if (oh.find(detail::msg::Layout)) return ObjectKind::Dataset;
  if (is_group_header(oh)) return ObjectKind::Group;
  if (oh.find(detail::msg::Datatype)) fs.unsupported(path, "committed (named) datatype object");
  fs.fail(path, "object is neither a group nor a dataset");
}

std::shared_ptr<const Group::Impl> make_group(std::shared_ptr<const FileState> fs, std::string path,
                                              detail::ObjectHeader oh,
                                              std::vector<std::uint64_t> ancestors) {
  auto g = std::make_shared<Group::Impl>();
  g->links = detail::read_links(*fs, oh, path);
  g->fs = std::move(fs);
  g->path = std::move(path);
  g->header = std::move(oh);
  g->ancestors = std::move(ancestors);
  g->ancestors.push_back(g->header.address);
  return g;
}

std::shared_ptr<const Dataset::Impl> make_dataset(std::shared_ptr<const FileState> fs,
                                                  std::string path, detail::ObjectHeader oh) {
  using namespace detail;
  const FileState& f = *fs;
  auto d = std::make_shared<Dataset::Impl>();
  DatasetInfo& info = d->info;
  info.path = std::move(path);
  const std::string_view p = info.path;
  auto need = [&](std::uint16_t type, const char* what) -> const Message& {
    const Message* m = oh.find(type);
    if (!m) f.fail(p, std::string("dataset has no ") + what + " message");
    if (m->flags & 2) f.unsupported(p, std::string("shared ") + what + " message");
    return *m;
  };
  if (oh.find(msg::External))
    f.unsupported(p, "external data storage (a model file never makes kserde open another file)");
  {
    Cursor c(f, need(msg::Datatype, "datatype").data, p, "datatype message");
    info.type = parse_datatype(c);
  }
  {
    Cursor c(f, need(msg::Dataspace, "dataspace").data, p, "dataspace message");
    info.space = parse_dataspace(c, f.limits.max_rank);
  }
  const std::size_t es = info.type.pub.size;
  info.layout = parse_layout(f, need(msg::Layout, "layout").data, p, info.space.dims.size(), es);
  if (const Message* m = oh.find(msg::Filters)) info.filters = parse_filters(f, m->data, p);
  info.fill = parse_fill_value(oh, f, p, es);
  if (info.space.count > f.limits.max_dataset_bytes / es) {
    f.limit(p, "dataset of " + std::to_string(info.space.count) + " elements of " +
                   std::to_string(es) + " bytes exceeds max_dataset_bytes " +
                   std::to_string(f.limits.max_dataset_bytes));
  }
  const std::uint64_t bytes = info.space.count * es;
  const Layout& l = info.layout;
  if (l.kind == Layout::Kind::Contiguous && l.address != kUndefined) {
    // libhdf5 sizes contiguous storage exactly; a size claiming more (2^40 bytes for a few
    // floats) is a damaged or forged layout message.
    if (l.size != bytes)
      f.fail(p, "layout message: contiguous storage of " + std::to_string(l.size) + " bytes for " +
                    std::to_string(bytes) + " bytes of data");
    (void)f.at(l.address, bytes, p, "data");
  }
  if (l.kind == Layout::Kind::Compact && l.compact.size() < bytes)
    f.fail(p, "compact storage of " + std::to_string(l.compact.size()) + " bytes for " +
                  std::to_string(bytes) + " bytes of data");
  d->fs = std::move(fs);
  d->header = std::move(oh);
  return d;
}

const detail::Link* find_link(const Group::Impl& g, std::string_view name) {
  auto it = std::lower_bound(g.links.begin(), g.links.end(), name,
                             [](const detail::Link& l, std::string_view n) { return l.name < n; });
  return it != g.links.end() && it->name == name ? &*it : nullptr;
}

void check_link(const FileState& fs, const detail::Link& l, std::string_view path) {
  switch (l.type) {
    case detail::Link::Type::Hard:
      return;
    case detail::Link::Type::Soft:
      fs.unsupported(path, "soft link (a model file never makes kserde follow links)");
    case detail::Link::Type::External:
      fs.unsupported(path, "external link (a model file never makes kserde open another file)");
    case detail::Link::Type::Other:
      fs.unsupported(path, "user-defined link");
  }
}

struct Resolved {
  std::shared_ptr<const Group::Impl> parent;
  std::string path;
  detail::ObjectHeader header;
  ObjectKind kind;
};

// Resolves `rel` below `g`; empty when a component is missing. Intermediate components must be
// groups.
std::optional<Resolved> resolve(const std::shared_ptr<const Group::Impl>& g, std::string_view rel) {
  const FileState& fs = *g->fs;
  const auto parts = detail::path_components(rel);
  if (parts.empty()) fs.fail(g->path, "empty object path \"" + std::string(rel) + "\"");
  std::shared_ptr<const Group::Impl> cur = g;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string path = join(cur->path, parts[i]);
    const detail::Link* l = find_link(*cur, parts[i]);
    if (!l) return std::nullopt;
    check_link(fs, *l, path);
    if (std::find(cur->ancestors.begin(), cur->ancestors.end(), l->address) != cur->ancestors.end())
      fs.unsupported(path, "hard link to an enclosing group (cycle)");
    if (cur->ancestors.size() + 1 > fs.limits.max_depth)
      fs.limit(path, "group nesting deeper than max_depth " + std::to_string(fs.limits.max_depth));
    detail::ObjectHeader oh = detail::read_object_header(fs, l->address, path);
    const ObjectKind kind = kind_of(fs, oh, path);
    if (i + 1 == parts.size()) return Resolved{cur, path, std::move(oh), kind};
    if (kind != ObjectKind::Group) fs.fail(path, "is a dataset, not a group");
    cur = make_group(cur->fs, path, std::move(oh), cur->ancestors);
  }
  return std::nullopt;
}

}  // namespace

// ---- Group -------------------------------------------------------------------------------------

Group::Group(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
const std::string& Group::path() const {
  return impl_->path;
}

std::vector<std::string> Group::member_names() const {
  std::vector<std::string> out;
  out.reserve(impl_->links.size());
  for (const auto& l : impl_->links) out.push_back(l.name);
  return out;
}

std::optional<ObjectKind> Group::member_kind(std::string_view name) const {
  const detail::Link* l = find_link(*impl_, name);
  if (!l) return std::nullopt;
  const std::string path = join(impl_->path, name);
  check_link(*impl_->fs, *l, path);
  const detail::ObjectHeader oh = detail::read_object_header(*impl_->fs, l->address, path);
  return kind_of(*impl_->fs, oh, path);
}

std::optional<Group> Group::find_group(std::string_view path) const {
  auto r = resolve(impl_, path);
  if (!r) return std::nullopt;
  if (r->kind != ObjectKind::Group) return std::nullopt;
  return Group(
      make_group(impl_->fs, std::move(r->path), std::move(r->header), r->parent->ancestors));
}

std::optional<Dataset> Group::find_dataset(std::string_view path) const {
  auto r = resolve(impl_, path);
  if (!r || r->kind != ObjectKind::Dataset) return std::nullopt;
  return Dataset(make_dataset(impl_->fs, std::move(r->path), std::move(r->header)));
}

Group Group::group(std::string_view path) const {
  auto r = resolve(impl_, path);
  const std::string full = join(impl_->path, path);
  if (!r) impl_->fs->fail(full, "no such group");
  if (r->kind != ObjectKind::Group) impl_->fs->fail(full, "is a dataset, not a group");
  return Group(
      make_group(impl_->fs, std::move(r->path), std::move(r->header), r->parent->ancestors));
}

Dataset Group::dataset(std::string_view path) const {
  auto r = resolve(impl_, path);
  const std::string full = join(impl_->path, path);
  if (!r) impl_->fs->fail(full, "no such dataset");
  if (r->kind != ObjectKind::Dataset) impl_->fs->fail(full, "is a group, not a dataset");
  return Dataset(make_dataset(impl_->fs, std::move(r->path), std::move(r->header)));
}

namespace {
std::vector<std::string> names_of(const std::vector<detail::RawAttribute>& raw) {
  std::vector<std::string> out;
  for (const auto& a : raw) out.push_back(a.name);
  return out;
}
Attribute attribute_of(const FileState& fs, const detail::ObjectHeader& oh, const std::string& path,
                       std::string_view name) {
  for (const auto& a : detail::read_raw_attributes(fs, oh, path))
    if (a.name == name) return detail::decode_attribute(fs, a, path);
  fs.fail(path, "no attribute \"" + std::string(name) + "\"");
}
bool has_attribute_in(const FileState& fs, const detail::ObjectHeader& oh, const std::string& path,
                      std::string_view name) {
  const auto raw = detail::read_raw_attributes(fs, oh, path);
  return std::any_of(raw.begin(), raw.end(), [&](const auto& a) { return a.name == name; });
}
}  // namespace

std::vector<std::string> Group::attribute_names() const {
  return names_of(detail::read_raw_attributes(*impl_->fs, impl_->header, impl_->path));
}
bool Group::has_attribute(std::string_view name) const {
  return has_attribute_in(*impl_->fs, impl_->header, impl_->path, name);
}
Attribute Group::attribute(std::string_view name) const {
  return attribute_of(*impl_->fs, impl_->header, impl_->path, name);
}

// ---- Dataset -----------------------------------------------------------------------------------

Dataset::Dataset(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
const std::string& Dataset::path() const {
  return impl_->info.path;
}
const std::vector<std::uint64_t>& Dataset::shape() const {
  return impl_->info.space.dims;
}
std::uint64_t Dataset::num_elements() const {
  return impl_->info.space.count;
}
const Datatype& Dataset::datatype() const {
  return impl_->info.type.pub;
}
bool Dataset::is_little_endian() const {
  return !impl_->info.type.pub.big_endian;
}

DType Dataset::dtype() const {
  const Datatype& t = impl_->info.type.pub;
  if (!t.dtype) {
    static constexpr const char* names[] = {"integer", "float", "string",
                                            "opaque",  "enum",  "compound/other"};
    impl_->fs->unsupported(impl_->info.path, std::string("dataset of non-numeric ") +
                                                 names[static_cast<int>(t.cls)] + " type of " +
                                                 std::to_string(t.size) + " bytes");
  }
  return *t.dtype;
}

void Dataset::read(std::span<std::byte> out, DType target) const {
  const auto& info = impl_->info;
  const std::uint64_t n = info.space.count;
  if (out.size() != n * dtype_size(target)) {
    throw ShapeError(impl_->fs->where(
        info.path, "read buffer of " + std::to_string(out.size()) + " bytes for " +
                       std::to_string(n) + " elements of " + std::string(dtype_name(target))));
  }
  const DType src = dtype();
  if (n == 0) return;
  const std::size_t es = info.type.pub.size;
  if (src == target && (!info.type.pub.big_endian || es == 1)) {
    detail::read_raw(*impl_->fs, info, out);
    return;
  }
  std::vector<std::byte> tmp(static_cast<std::size_t>(n * es));
  detail::read_raw(*impl_->fs, info, tmp);
  if (info.type.pub.big_endian) detail::swap_bytes(tmp.data(), es, n);
  convert_elements(tmp.data(), src, out.data(), target, static_cast<std::size_t>(n));
}

std::optional<Extent> Dataset::extent() const {
  const auto& info = impl_->info;
  const FileState& fs = *impl_->fs;
  const std::uint64_t bytes = info.space.count * info.type.pub.size;
  Extent e;
  if (info.layout.kind == detail::Layout::Kind::Contiguous && info.layout.address != kUndefined &&
      info.filters.empty()) {
    e.bytes = fs.at(info.layout.address, bytes, info.path, "data");
  } else if (info.layout.kind == detail::Layout::Kind::Compact) {
    e.bytes = info.layout.compact.first(static_cast<std::size_t>(bytes));
  } else {
    return std::nullopt;
  }
  e.length = bytes;
  e.file_offset =
      fs.src.file_offset + static_cast<std::uint64_t>(e.bytes.data() - fs.src.bytes.data());
  return e;
}

std::vector<std::string> Dataset::attribute_names() const {
  return names_of(detail::read_raw_attributes(*impl_->fs, impl_->header, impl_->info.path));
}
bool Dataset::has_attribute(std::string_view name) const {
  return has_attribute_in(*impl_->fs, impl_->header, impl_->info.path, name);
}
Attribute Dataset::attribute(std::string_view name) const {
  return attribute_of(*impl_->fs, impl_->header, impl_->info.path, name);
}

// ---- File --------------------------------------------------------------------------------------

File::File(std::shared_ptr<detail::FileState> state) : state_(std::move(state)) {}

File File::open(io::ByteSource source, const ReadLimits& limits) {
  auto fs = std::make_shared<FileState>();
  fs->src = std::move(source);
  fs->limits = limits;
  detail::parse_superblock(*fs);
  File f(fs);
  (void)f.root();  // the root must be a readable group
  return f;
}

Group File::root() const {
  std::shared_ptr<const FileState> fs = state_;
  detail::ObjectHeader oh = detail::read_object_header(*fs, fs->root_address, "/");
  if (!is_group_header(oh)) fs->fail("/", "root object is not a group");
  return Group(make_group(fs, "/", std::move(oh), {}));
}

const std::string& File::file_name() const {
  return state_->src.file_name;
}
const io::ByteSource& File::source() const {
  return state_->src;
}

}  // namespace kserde::hdf5

// kserde's streaming writer: libhdf5 must read back exactly what was described (names, shapes,
// dtypes, element values, attributes), the emitted size must equal file_size(), and kserde's own
// reader must agree.
#include "hdf5_test_util.hpp"
#include "kserde/dtype.hpp"
#include "kserde/hdf5/writer.hpp"
#include "kserde/io/byte_sink.hpp"

using namespace h5test;
namespace kh = kserde::hdf5;
using kserde::DType;

namespace {

// Keeps the data spans alive and mirrors what was written as the model libhdf5 should see.
struct Fixture {
  std::vector<std::vector<std::byte>> buffers;
  FileModel expected;
  std::mt19937_64 rng{7};

  ObjModel& group_model(const std::string& path) {
    ObjModel& m = expected[path];
    m.group = true;
    return m;
  }

  void ensure_groups(const std::string& path) {
    std::string cur = "/";
    group_model("/");
    std::size_t i = 1;
    while (i < path.size()) {
      const std::size_t j = std::min(path.find('/', i), path.size());
      const std::string name = path.substr(i, j - i);
      ObjModel& parent = group_model(cur);
      if (std::find(parent.members.begin(), parent.members.end(), name) == parent.members.end()) {
        parent.members.push_back(name);
        std::sort(parent.members.begin(), parent.members.end());
      }
      cur = join(cur, name);
      group_model(cur);
      i = j + 1;
    }
  }

  std::span<const std::byte> make_data(DType dt, std::uint64_t n) {
    std::vector<std::byte> b(static_cast<std::size_t>(n * kserde::dtype_size(dt)));
    for (std::size_t i = 0; i < n; ++i) {
      std::byte* p = b.data() + i * kserde::dtype_size(dt);
      if (dt == DType::Float32) {
        const float v = std::uniform_real_distribution<float>(-10, 10)(rng);
        std::memcpy(p, &v, 4);
      } else if (dt == DType::Float64) {
        const double v = std::uniform_real_distribution<double>(-1e6, 1e6)(rng);
        std::memcpy(p, &v, 8);
      } else if (dt == DType::Float16) {
        const std::uint16_t h = kserde::float_to_half(std::uniform_real_distribution<float>(-100, 100)(rng));
        std::memcpy(p, &h, 2);
      } else if (dt == DType::BFloat16) {
        const std::uint16_t h = kserde::float_to_bfloat16(std::uniform_real_distribution<float>(-100, 100)(rng));
        std::memcpy(p, &h, 2);
      } else if (dt == DType::Bool) {
        *p = static_cast<std::byte>(rng() & 1);
      } else {
        const std::uint64_t r = rng();
        std::memcpy(p, &r, kserde::dtype_size(dt));
      }
    }
    buffers.push_back(std::move(b));
    return buffers.back();
  }

  void dataset(kh::WriteGroup& g, const std::string& gpath, const std::string& name, DType dt,
               std::vector<std::uint64_t> shape) {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    const auto data = make_data(dt, n);
    g.dataset(name, dt, shape, data);
    ensure_groups(gpath);
    ObjModel& parent = expected[gpath];
    parent.members.push_back(name);
    std::sort(parent.members.begin(), parent.members.end());
    ObjModel& m = expected[join(gpath, name)];
    m.shape = shape;
    // The comparison representation that h5_walk produces.
    if (dt == DType::Bool || dt == DType::BFloat16) {
      m.dtype = dt == DType::Bool ? "bool" : "bf16";
      m.values.assign(data.begin(), data.end());
    } else {
      const DType target = kserde::is_floating(dt) ? DType::Float64 : (dt == DType::Int8 || dt == DType::Int16 || dt == DType::Int32 || dt == DType::Int64) ? DType::Int64 : DType::UInt64;
      m.dtype = target == DType::Float64 ? "f64" : target == DType::Int64 ? "i64" : "u64";
      m.values.resize(static_cast<std::size_t>(n * 8));
      if (n) kserde::convert_elements(data.data(), dt, m.values.data(), target, static_cast<std::size_t>(n));
    }
    if (dt == DType::BFloat16) m.attrs["dtype"] = AttrModel{"string", {}, {"bfloat16"}, {}};
  }

  void attr_string(kh::WriteGroup& g, const std::string& path, const std::string& name, const std::string& v, bool ascii = false) {
    g.attribute_string(name, v, ascii);
    ensure_groups(path);
    expected[path].attrs[name] = AttrModel{"string", {}, {v}, {}};
  }
  void attr_strings(kh::WriteGroup& g, const std::string& path, const std::string& name, const std::vector<std::string>& v, bool ascii = true) {
    g.attribute_strings(name, v, ascii);
    ensure_groups(path);
    expected[path].attrs[name] = AttrModel{"string", {v.size()}, v, {}};
  }
  void attr_doubles(kh::WriteGroup& g, const std::string& path, const std::string& name, const std::vector<double>& v) {
    g.attribute_doubles(name, v);
    ensure_groups(path);
    expected[path].attrs[name] = AttrModel{"number", {v.size()}, {}, v};
  }
};

// Writes `w` into a temp file, checking the size contract, and returns the path.
fs::path emit(const kh::Writer& w, const TempDir& dir, const std::string& name) {
  kserde::io::MemorySink sink;
  w.write(sink);
  BOOST_TEST(sink.position() == w.file_size());
  BOOST_TEST(sink.buffer().size() == w.file_size());
  const auto p = dir / name;
  write_bytes(p, sink.buffer());
  return p;
}

void check_roundtrip(const Fixture& fx, const fs::path& p) {
  compare_models(fx.expected, h5_model(p), "libhdf5 reading kserde's file");
  compare_models(fx.expected, kserde_model(read_bytes(p), p.filename().string()), "kserde reading kserde's file");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hdf5_writer)

BOOST_AUTO_TEST_CASE(keras_weights_tree_reads_back_in_libhdf5) {
  TempDir dir;
  Fixture fx;
  kh::Writer w;
  auto& root = w.root();
  fx.ensure_groups("/");
  auto& dense = root.group("layers/dense/vars");
  fx.attr_string(dense, "/layers/dense/vars", "name", "dense");
  fx.dataset(dense, "/layers/dense/vars", "0", DType::Float32, {4, 3});
  fx.dataset(dense, "/layers/dense/vars", "1", DType::Float32, {3});
  auto& drop = root.group("layers/dropout/vars");
  fx.attr_string(drop, "/layers/dropout/vars", "name", "dr\xc3\xb6pout");
  auto& opt = root.group("optimizer/vars");
  fx.attr_string(opt, "/optimizer/vars", "name", "adam");
  fx.dataset(opt, "/optimizer/vars", "0", DType::Int64, {});
  fx.dataset(opt, "/optimizer/vars", "1", DType::Float32, {});
  for (int i = 2; i < 14; ++i) fx.dataset(opt, "/optimizer/vars", std::to_string(i), DType::Float32, {3});
  auto& vars = root.group("vars");
  fx.attr_string(vars, "/vars", "name", "seq");
  check_roundtrip(fx, emit(w, dir, "keras.weights.h5"));
}

BOOST_AUTO_TEST_CASE(every_dtype_and_shape_reads_back_in_libhdf5) {
  TempDir dir;
  Fixture fx;
  kh::Writer w;
  auto& g = w.root().group("types");
  const std::vector<DType> all = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int8,
                                  DType::Int16,   DType::Int32,   DType::Int64,   DType::UInt8,    DType::UInt16,
                                  DType::UInt32,  DType::UInt64,  DType::Bool};
  for (DType dt : all) {
    const std::string n(kserde::dtype_name(dt));
    fx.dataset(g, "/types", n + "_scalar", dt, {});
    fx.dataset(g, "/types", n + "_vec", dt, {17});
    fx.dataset(g, "/types", n + "_r3", dt, {2, 3, 5});
    fx.dataset(g, "/types", n + "_empty", dt, {0, 4});
  }
  // A big-ish dataset (8 MiB) streamed straight from its span.
  fx.dataset(w.root(), "/", "big", DType::Float32, {1024, 2048});
  const auto p = emit(w, dir, "types.h5");
  check_roundtrip(fx, p);
  const auto f = kh::File::open(source_of(read_bytes(p), "types.h5"));
  BOOST_TEST((f.root().dataset("types/bfloat16_vec").dtype() == DType::BFloat16));
  BOOST_TEST((f.root().dataset("types/bool_vec").dtype() == DType::Bool));
  BOOST_TEST(f.root().dataset("types/bfloat16_vec").attribute("dtype").as_string() == "bfloat16");
  const auto e = f.root().dataset("big").extent();
  BOOST_REQUIRE(e.has_value());
  BOOST_TEST(e->file_offset % 8 == 0u);
  BOOST_TEST(std::memcmp(e->bytes.data(), fx.buffers.back().data(), fx.buffers.back().size()) == 0);
}

BOOST_AUTO_TEST_CASE(groups_with_a_thousand_members_and_deep_nesting_read_back) {
  TempDir dir;
  Fixture fx;
  kh::Writer w;
  auto& wide = w.root().group("wide");
  for (int i = 0; i < 1000; ++i) {
    const std::string name = "member_" + std::to_string(i * 7919 % 1000);
    if (i % 4 == 0) {
      auto& c = wide.group(name);
      fx.ensure_groups("/wide/" + name);
      fx.attr_string(c, "/wide/" + name, "name", name);
    } else {
      fx.dataset(wide, "/wide", name, DType::Int32, {2});
    }
  }
  // 2000 members in one group: a three-level B-tree.
  auto& wider = w.root().group("wider");
  for (int i = 0; i < 2000; ++i) fx.dataset(wider, "/wider", std::to_string(i), DType::UInt8, {1});
  std::string deep;
  for (int i = 0; i < 60; ++i) deep += "/d" + std::to_string(i);
  auto& bottom = w.root().group(deep);
  fx.dataset(bottom, deep, "x", DType::Float64, {3});
  auto& empty = w.root().group("empty");
  (void)empty;
  fx.ensure_groups("/empty");
  check_roundtrip(fx, emit(w, dir, "wide.h5"));
}

BOOST_AUTO_TEST_CASE(attribute_kinds_read_back_in_libhdf5) {
  TempDir dir;
  Fixture fx;
  kh::Writer w;
  auto& root = w.root();
  fx.ensure_groups("/");
  fx.attr_string(root, "/", "backend", "tensorflow", true);
  fx.attr_string(root, "/", "keras_version", "3.16.0");
  fx.attr_string(root, "/", "model_config", "{\"class_name\": \"Sequential\", \"x\": \"" + std::string(200000, 'y') + "\"}", true);
  fx.attr_string(root, "/", "empty", "");
  auto& mw = root.group("model_weights");
  std::vector<std::string> names;
  for (int i = 0; i < 300; ++i) names.push_back("layer_" + std::to_string(i));
  fx.attr_strings(mw, "/model_weights", "layer_names", names);
  fx.attr_strings(mw, "/model_weights", "utf8_names", {"\xce\xb1", "", "b"}, false);
  fx.attr_doubles(mw, "/model_weights", "weight_names", {});
  fx.attr_doubles(mw, "/model_weights", "numbers", {1.5, -0.0, 1e308});
  // Re-setting an attribute replaces it.
  mw.attribute_string("replaced", "first");
  fx.attr_string(mw, "/model_weights", "replaced", "second");
  check_roundtrip(fx, emit(w, dir, "attrs.h5"));
}

BOOST_AUTO_TEST_CASE(writer_rejects_duplicates_and_wrong_sizes) {
  kh::Writer w;
  std::vector<std::byte> four(4);
  w.root().dataset("a", DType::Float32, {1}, four);
  BOOST_CHECK_THROW(w.root().dataset("a", DType::Float32, {1}, four), kserde::ConfigError);
  BOOST_CHECK_THROW(w.root().group("a"), kserde::ConfigError);
  BOOST_CHECK_THROW(w.root().dataset("b", DType::Float32, {2}, four), kserde::ShapeError);
  w.root().group("g");
  BOOST_CHECK_THROW(w.root().dataset("g", DType::Float32, {1}, four), kserde::ConfigError);
  BOOST_CHECK_THROW(w.root().group(""), kserde::ConfigError);
  std::vector<std::string> too_many(5000, "x");
  w.root().attribute_strings("huge", too_many);
  kserde::io::MemorySink sink;
  BOOST_CHECK_THROW(w.write(sink), kserde::ConfigError);
  // Nested dataset paths create their groups.
  kh::Writer w2;
  w2.root().dataset("x/y/z", DType::Float32, {1}, four);
  kserde::io::MemorySink s2;
  w2.write(s2);
  std::vector<std::byte> bytes(s2.buffer().size());
  std::memcpy(bytes.data(), s2.buffer().data(), bytes.size());
  BOOST_TEST(kh::File::open(source_of(bytes, "n.h5")).root().find_dataset("x/y/z").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

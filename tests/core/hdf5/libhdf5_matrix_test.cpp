// libhdf5 writes a matrix of files (file format bounds earliest and latest; compact, contiguous and
// chunked layouts with deflate/shuffle; every datatype kserde maps; every attribute kind; deep and
// wide groups; dense link and attribute storage) and kserde must read each exactly as libhdf5
// does, compared element by element.
#include <array>
#include <cmath>
#include <limits>

#include "hdf5_test_util.hpp"
#include "kserde/dtype.hpp"

using namespace h5test;
namespace kh = kserde::hdf5;

namespace {

struct Rng {
  std::mt19937_64 g{12345};
  std::vector<unsigned char> bytes(std::size_t n) {
    std::vector<unsigned char> v(n);
    for (auto& b : v) b = static_cast<unsigned char>(g());
    return v;
  }
  double real() { return std::uniform_real_distribution<double>(-1000, 1000)(g); }
};

Hid fapl_for(bool latest) {
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_libver_bounds(fapl, latest ? H5F_LIBVER_LATEST : H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST);
  return fapl;
}

Hid half_type(bool big_endian) {
  Hid t(H5Tcopy(H5T_IEEE_F32LE), H5Tclose);
  H5Tset_fields(t, 15, 10, 5, 0, 10);
  H5Tset_precision(t, 16);
  H5Tset_size(t, 2);
  H5Tset_ebias(t, 15);
  if (big_endian) H5Tset_order(t, H5T_ORDER_BE);
  return t;
}

Hid bool_type() {
  Hid t(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose);
  signed char v = 0;
  H5Tenum_insert(t, "FALSE", &v);
  v = 1;
  H5Tenum_insert(t, "TRUE", &v);
  return t;
}

void put_vlen_attr(hid_t obj, const char* name, const std::vector<std::string>& values, bool utf8, bool scalar) {
  Hid t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
  const hsize_t n = values.size();
  Hid s(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
  Hid a(H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  std::vector<const char*> p;
  for (const auto& v : values) p.push_back(v.c_str());
  BOOST_REQUIRE(H5Awrite(a, t, p.data()) >= 0);
}

void put_fixed_attr(hid_t obj, const char* name, const std::vector<std::string>& values, std::size_t size, H5T_str_t pad, bool scalar) {
  Hid t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t, size);
  H5Tset_strpad(t, pad);
  const hsize_t n = values.size();
  Hid s(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
  Hid a(H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  std::string buf;
  for (const auto& v : values) {
    std::string x = v.substr(0, size);
    x.resize(size, pad == H5T_STR_SPACEPAD ? ' ' : '\0');
    buf += x;
  }
  BOOST_REQUIRE(H5Awrite(a, t, buf.data()) >= 0);
}

template <class T>
void put_num_attr(hid_t obj, const char* name, hid_t ftype, hid_t mtype, const std::vector<T>& v, bool scalar = false) {
  const hsize_t n = v.size();
  Hid s(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
  Hid a(H5Acreate2(obj, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!v.empty()) BOOST_REQUIRE(H5Awrite(a, mtype, v.data()) >= 0);
}

enum class Lay { Contiguous, Compact, Chunked, ChunkedDeflate, ChunkedShuffleDeflate, SingleChunk, Unlimited };

// Creates dataset `name` of file type `ftype` from memory bytes of type `mtype`.
void make_dataset(hid_t loc, const std::string& name, hid_t ftype, hid_t mtype, const std::vector<hsize_t>& dims,
                  const void* data, Lay lay) {
  std::vector<hsize_t> maxdims(dims);
  if (lay == Lay::Unlimited) std::fill(maxdims.begin(), maxdims.end(), H5S_UNLIMITED);
  Hid space(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), maxdims.data()), H5Sclose);
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  std::vector<hsize_t> chunk(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) chunk[i] = std::max<hsize_t>(1, (dims[i] + 2) / 3);
  switch (lay) {
    case Lay::Contiguous: break;
    case Lay::Compact: H5Pset_layout(dcpl, H5D_COMPACT); break;
    case Lay::SingleChunk: H5Pset_chunk(dcpl, static_cast<int>(dims.size()), dims.data()); H5Pset_deflate(dcpl, 4); break;
    case Lay::ChunkedShuffleDeflate: H5Pset_chunk(dcpl, static_cast<int>(dims.size()), chunk.data()); H5Pset_shuffle(dcpl); H5Pset_deflate(dcpl, 6); break;
    case Lay::ChunkedDeflate: H5Pset_chunk(dcpl, static_cast<int>(dims.size()), chunk.data()); H5Pset_deflate(dcpl, 1); break;
    case Lay::Chunked: case Lay::Unlimited: H5Pset_chunk(dcpl, static_cast<int>(dims.size()), chunk.data()); break;
  }
  Hid d(H5Dcreate2(loc, name.c_str(), ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
  BOOST_REQUIRE_MESSAGE(d.ok(), "libhdf5 cannot create " << name);
  BOOST_REQUIRE(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
}

struct TypeCase {
  std::string name;
  hid_t ftype, mtype;
  std::size_t msize;
};

// Writes every datatype in every layout into group `g`.
void write_type_matrix(hid_t g, bool latest, Rng& rng) {
  const std::vector<hsize_t> dims{13, 7};
  const std::size_t n = 13 * 7;
  const Hid f16le = half_type(false), f16be = half_type(true), boolt = bool_type();
  const Hid opaque(H5Tcreate(H5T_OPAQUE, 2), H5Tclose);
  std::vector<TypeCase> types = {
      {"i8le", H5T_STD_I8LE, H5T_STD_I8LE, 1},     {"i8be", H5T_STD_I8BE, H5T_STD_I8LE, 1},
      {"u8le", H5T_STD_U8LE, H5T_STD_U8LE, 1},     {"u8be", H5T_STD_U8BE, H5T_STD_U8LE, 1},
      {"i16le", H5T_STD_I16LE, H5T_STD_I16LE, 2},  {"i16be", H5T_STD_I16BE, H5T_STD_I16LE, 2},
      {"u16le", H5T_STD_U16LE, H5T_STD_U16LE, 2},  {"u16be", H5T_STD_U16BE, H5T_STD_U16LE, 2},
      {"i32le", H5T_STD_I32LE, H5T_STD_I32LE, 4},  {"i32be", H5T_STD_I32BE, H5T_STD_I32LE, 4},
      {"u32le", H5T_STD_U32LE, H5T_STD_U32LE, 4},  {"u32be", H5T_STD_U32BE, H5T_STD_U32LE, 4},
      {"i64le", H5T_STD_I64LE, H5T_STD_I64LE, 8},  {"i64be", H5T_STD_I64BE, H5T_STD_I64LE, 8},
      {"u64le", H5T_STD_U64LE, H5T_STD_U64LE, 8},  {"u64be", H5T_STD_U64BE, H5T_STD_U64LE, 8},
      {"f32le", H5T_IEEE_F32LE, H5T_IEEE_F32LE, 4}, {"f32be", H5T_IEEE_F32BE, H5T_IEEE_F32LE, 4},
      {"f64le", H5T_IEEE_F64LE, H5T_IEEE_F64LE, 8}, {"f64be", H5T_IEEE_F64BE, H5T_IEEE_F64LE, 8},
      {"f16le", f16le, f16le, 2},                  {"f16be", f16be, f16le, 2},
      {"bool", boolt, boolt, 1},                   {"bf16", opaque, opaque, 2},
  };
  for (const auto& t : types) {
    std::vector<unsigned char> data = rng.bytes(n * t.msize);
    // Floats: meaningful values (no NaN payload games), including specials.
    if (t.name.starts_with("f32")) {
      for (std::size_t i = 0; i < n; ++i) {
        float v = static_cast<float>(rng.real());
        if (i == 0) v = std::numeric_limits<float>::infinity();
        if (i == 1) v = -0.0f;
        if (i == 2) v = std::numeric_limits<float>::denorm_min();
        std::memcpy(data.data() + i * 4, &v, 4);
      }
    } else if (t.name.starts_with("f64")) {
      for (std::size_t i = 0; i < n; ++i) {
        double v = rng.real();
        if (i == 0) v = -std::numeric_limits<double>::infinity();
        if (i == 1) v = std::numeric_limits<double>::max();
        std::memcpy(data.data() + i * 8, &v, 8);
      }
    } else if (t.name.starts_with("f16")) {
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t h = kserde::float_to_half(static_cast<float>(rng.real() / 10));
        std::memcpy(data.data() + i * 2, &h, 2);
      }
    } else if (t.name == "bool") {
      for (auto& b : data) b &= 1;
    }
    for (Lay lay : {Lay::Contiguous, Lay::Compact, Lay::ChunkedShuffleDeflate, Lay::ChunkedDeflate, Lay::Chunked, Lay::SingleChunk}) {
      const std::string name = t.name + "_" + std::to_string(static_cast<int>(lay));
      make_dataset(g, name, t.ftype, t.mtype, dims, data.data(), lay);
      if (t.name == "bf16") {
        Hid d(H5Dopen2(g, name.c_str(), H5P_DEFAULT), H5Dclose);
        put_vlen_attr(d, "dtype", {"bfloat16"}, true, true);
      }
    }
    // Scalars and a rank-3 chunked case.
    make_dataset(g, t.name + "_scalar", t.ftype, t.mtype, {}, data.data(), Lay::Contiguous);
    make_dataset(g, t.name + "_r3", t.ftype, t.mtype, {3, 5, 6}, data.data(), Lay::ChunkedShuffleDeflate);
  }
  // Unlimited in two dimensions: v1 B-tree (earliest) or v2 B-tree chunk index (latest).
  std::vector<float> fv(n);
  for (auto& v : fv) v = static_cast<float>(rng.real());
  make_dataset(g, "unlimited2d", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, dims, fv.data(), Lay::Unlimited);
  Hid gz(H5Gcreate2(g, "unlimited2d_deflate", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  {
    Hid space(H5Screate_simple(2, dims.data(), std::array<hsize_t, 2>{H5S_UNLIMITED, H5S_UNLIMITED}.data()), H5Sclose);
    Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    const hsize_t chunk[2] = {4, 4};
    H5Pset_chunk(dcpl, 2, chunk);
    H5Pset_deflate(dcpl, 5);
    Hid d(H5Dcreate2(gz, "x", H5T_IEEE_F32BE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
    BOOST_REQUIRE(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, fv.data()) >= 0);
  }
  // Many chunks: multi-level v1 chunk B-tree (earliest) / paged fixed array (latest).
  {
    const hsize_t bd[2] = {400, 60}, chunk[2] = {4, 5};
    std::vector<std::int32_t> v(400 * 60);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int32_t>(i * 7919 % 100003);
    Hid space(H5Screate_simple(2, bd, nullptr), H5Sclose);
    Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(dcpl, 2, chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 3);
    Hid d(H5Dcreate2(g, "many_chunks", H5T_STD_I32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
    BOOST_REQUIRE(H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0);
  }
  // Storage never written: contiguous (zeros) and chunked with a fill value, partly written.
  {
    const hsize_t bd[1] = {50};
    Hid space(H5Screate_simple(1, bd, nullptr), H5Sclose);
    Hid d(H5Dcreate2(g, "never_written", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    const hsize_t chunk[1] = {8};
    H5Pset_chunk(dcpl, 1, chunk);
    const float fill = 42.5f;
    H5Pset_fill_value(dcpl, H5T_NATIVE_FLOAT, &fill);
    Hid d2(H5Dcreate2(g, "partly_written", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
    const hsize_t start[1] = {10}, count[1] = {5};
    Hid fs(H5Dget_space(d2), H5Sclose);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, nullptr, count, nullptr);
    Hid ms(H5Screate_simple(1, count, nullptr), H5Sclose);
    const float part[5] = {1, 2, 3, 4, 5};
    BOOST_REQUIRE(H5Dwrite(d2, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, part) >= 0);
    Hid dcpl3(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    const double fill3 = -7.25;
    H5Pset_fill_value(dcpl3, H5T_NATIVE_DOUBLE, &fill3);
    H5Pset_alloc_time(dcpl3, H5D_ALLOC_TIME_EARLY);
    Hid d3(H5Dcreate2(g, "early_fill", H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl3, H5P_DEFAULT), H5Dclose);
    const hsize_t zero[1] = {0};
    Hid es(H5Screate_simple(1, zero, nullptr), H5Sclose);
    Hid ed(H5Dcreate2(g, "empty", H5T_IEEE_F32LE, es, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  }
  (void)latest;
}

void write_attribute_matrix(hid_t obj) {
  put_vlen_attr(obj, "vlen_utf8", {"h\xc3\xa9llo w\xc3\xb6rld"}, true, true);
  put_vlen_attr(obj, "vlen_ascii", {"plain ascii"}, false, true);
  put_vlen_attr(obj, "vlen_empty", {""}, true, true);
  put_vlen_attr(obj, "vlen_array_ascii", {"dense/kernel:0", "dense/bias:0", "", "x"}, false, false);
  put_vlen_attr(obj, "vlen_array_utf8", {"\xce\xb1", "\xce\xb2\xce\xb3"}, true, false);
  put_vlen_attr(obj, "vlen_long", {std::string(100000, 'j')}, true, true);
  put_fixed_attr(obj, "fixed_nullterm", {"abc"}, 8, H5T_STR_NULLTERM, true);
  put_fixed_attr(obj, "fixed_nullpad", {"abcd"}, 4, H5T_STR_NULLPAD, true);
  put_fixed_attr(obj, "fixed_spacepad", {"ab"}, 6, H5T_STR_SPACEPAD, true);
  put_fixed_attr(obj, "fixed_array", {"layer_a", "b", "layer_ccc"}, 9, H5T_STR_NULLPAD, false);
  put_num_attr<double>(obj, "f64_array", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {1.5, -2.25, 1e300});
  put_num_attr<double>(obj, "f64_empty", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {});
  put_num_attr<std::int32_t>(obj, "i32be_array", H5T_STD_I32BE, H5T_NATIVE_INT32, {1, -2, 2147483647});
  put_num_attr<std::uint16_t>(obj, "u16_scalar", H5T_STD_U16LE, H5T_NATIVE_UINT16, {65535}, true);
  put_num_attr<float>(obj, "f32be_scalar", H5T_IEEE_F32BE, H5T_NATIVE_FLOAT, {3.25f}, true);
  const Hid bt = bool_type();
  put_num_attr<signed char>(obj, "bool_array", bt, bt, {1, 0, 1});
}

void make_matrix_file(const fs::path& path, bool latest) {
  Rng rng;
  const Hid fapl = fapl_for(latest);
  Hid f(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), H5Fclose);
  BOOST_REQUIRE(f.ok());
  write_attribute_matrix(f);
  Hid types(H5Gcreate2(f, "types", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  write_type_matrix(types, latest, rng);
  Hid attrs_ds_group(H5Gcreate2(f, "attrs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  write_attribute_matrix(attrs_ds_group);
  // Deep nesting: 40 levels with a dataset at the bottom.
  {
    std::string p;
    for (int i = 0; i < 40; ++i) {
      p += "/l" + std::to_string(i);
      Hid g(H5Gcreate2(f, p.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      BOOST_REQUIRE(g.ok());
      if (i == 39) {
        const double v[2] = {1, 2};
        make_dataset(g, "bottom", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {2}, v, Lay::Contiguous);
      }
    }
  }
  // Wide groups: 500 members (dense link storage under libver latest), with a name order that is
  // not creation order.
  {
    Hid wide(H5Gcreate2(f, "wide", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    for (int i = 499; i >= 0; --i) {
      const std::string name = "m" + std::to_string(i * 7 % 500);
      if (i % 3 == 0) {
        Hid g(H5Gcreate2(wide, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      } else {
        const std::int16_t v = static_cast<std::int16_t>(i);
        make_dataset(wide, name, H5T_STD_I16LE, H5T_NATIVE_INT16, {1}, &v, Lay::Contiguous);
      }
    }
  }
  // Many attributes: dense attribute storage under libver latest.
  {
    Hid many(H5Gcreate2(f, "many_attrs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    for (int i = 0; i < 120; ++i) {
      const std::string name = "attr_" + std::to_string(i);
      if (i % 2) put_vlen_attr(many, name.c_str(), {"value " + std::to_string(i)}, true, true);
      else put_num_attr<double>(many, name.c_str(), H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {i * 0.5, -i * 1.0});
    }
    const double v = 1;
    make_dataset(many, "ds", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {}, &v, Lay::Contiguous);
    Hid d(H5Dopen2(many, "ds", H5P_DEFAULT), H5Dclose);
    for (int i = 0; i < 30; ++i) put_vlen_attr(d, ("a" + std::to_string(i)).c_str(), {std::to_string(i)}, false, true);
  }
  // Creation order tracked and indexed: link and attribute messages carry creation order fields.
  {
    Hid gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
    H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    H5Pset_attr_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    Hid g(H5Gcreate2(f, "ordered", H5P_DEFAULT, gcpl, H5P_DEFAULT), H5Gclose);
    for (int i = 0; i < 20; ++i) {
      Hid c(H5Gcreate2(g, ("z" + std::to_string(19 - i)).c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      put_vlen_attr(g, ("at" + std::to_string(19 - i)).c_str(), {"v"}, true, true);
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hdf5_libhdf5_matrix)

BOOST_AUTO_TEST_CASE(reads_libhdf5_earliest_format_files_like_libhdf5) {
  TempDir dir;
  const auto p = dir / "earliest.h5";
  make_matrix_file(p, false);
  compare_models(h5_model(p), kserde_model(read_bytes(p), "earliest.h5"), "earliest");
}

BOOST_AUTO_TEST_CASE(reads_libhdf5_latest_format_files_like_libhdf5) {
  TempDir dir;
  const auto p = dir / "latest.h5";
  make_matrix_file(p, true);
  const auto bytes = read_bytes(p);
  BOOST_TEST(static_cast<int>(bytes[8]) >= 2);  // superblock v2+
  compare_models(h5_model(p), kserde_model(bytes, "latest.h5"), "latest");
}

BOOST_AUTO_TEST_CASE(maps_datatypes_to_kserde_dtypes) {
  TempDir dir;
  for (bool latest : {false, true}) {
    const auto p = dir / "types.h5";
    make_matrix_file(p, latest);
    const auto f = kh::File::open(source_of(read_bytes(p), "types.h5"));
    const auto g = f.root().group("types");
    const std::map<std::string, kserde::DType> want = {
        {"i8le_0", kserde::DType::Int8},     {"u8be_0", kserde::DType::UInt8},    {"i16be_0", kserde::DType::Int16},
        {"u16le_0", kserde::DType::UInt16},  {"i32be_0", kserde::DType::Int32},   {"u32le_0", kserde::DType::UInt32},
        {"i64be_0", kserde::DType::Int64},   {"u64be_0", kserde::DType::UInt64},  {"f16be_0", kserde::DType::Float16},
        {"f32be_0", kserde::DType::Float32}, {"f64le_0", kserde::DType::Float64}, {"bool_0", kserde::DType::Bool},
        {"bf16_0", kserde::DType::BFloat16}};
    for (const auto& [name, dt] : want) {
      const auto d = g.dataset(name);
      BOOST_TEST((d.dtype() == dt), name);
      BOOST_TEST(d.is_little_endian() == (name.find("be") == std::string::npos), name);
      BOOST_TEST((d.shape() == std::vector<std::uint64_t>{13, 7}), name);
    }
    // Contiguous little-endian data has an extent that matches read(); chunked data has none.
    const auto c = g.dataset("f32le_0");
    const auto e = c.extent();
    BOOST_REQUIRE(e.has_value());
    std::vector<std::byte> buf(c.num_elements() * 4);
    c.read(buf, kserde::DType::Float32);
    BOOST_TEST(e->length == buf.size());
    BOOST_TEST(std::memcmp(e->bytes.data(), buf.data(), buf.size()) == 0);
    BOOST_TEST(e->file_offset == static_cast<std::uint64_t>(e->bytes.data() - f.source().bytes.data()));
    BOOST_TEST(!g.dataset("f32le_2").extent().has_value());
    BOOST_TEST(g.dataset("f32le_1").extent().has_value());  // compact
    // Conversions on read: big-endian f16 read as float32 equals half_to_float of its f16 read.
    std::vector<std::byte> h(91 * 2), fbe(91 * 4);
    g.dataset("f16be_0").read(h, kserde::DType::Float16);
    g.dataset("f16be_0").read(fbe, kserde::DType::Float32);
    for (std::size_t i = 0; i < 91; ++i) {
      std::uint16_t hv;
      float fv;
      std::memcpy(&hv, h.data() + 2 * i, 2);
      std::memcpy(&fv, fbe.data() + 4 * i, 4);
      BOOST_TEST(kserde::half_to_float(hv) == fv);
    }
    BOOST_CHECK_THROW(g.dataset("f32le_0").read(std::span<std::byte>(buf).first(8), kserde::DType::Float32), kserde::ShapeError);
  }
}

BOOST_AUTO_TEST_CASE(attributes_decode_strings_and_numbers) {
  TempDir dir;
  const auto p = dir / "attrs.h5";
  make_matrix_file(p, true);
  const auto root = kh::File::open(source_of(read_bytes(p), "attrs.h5")).root();
  BOOST_TEST(root.attribute("vlen_utf8").as_string() == "h\xc3\xa9llo w\xc3\xb6rld");
  BOOST_TEST(root.attribute("vlen_utf8").datatype().utf8);
  BOOST_TEST(!root.attribute("vlen_ascii").datatype().utf8);
  BOOST_TEST(root.attribute("fixed_spacepad").as_string() == "ab");
  BOOST_TEST(root.attribute("fixed_array").as_strings().size() == 3u);
  BOOST_TEST((root.attribute("f64_array").as_doubles() == std::vector<double>{1.5, -2.25, 1e300}));
  BOOST_TEST(root.attribute("f64_empty").as_doubles().empty());
  BOOST_TEST((root.attribute("f64_empty").shape() == std::vector<std::uint64_t>{0}));
  BOOST_TEST(root.attribute("u16_scalar").shape().empty());
  BOOST_CHECK_THROW(root.attribute("f64_array").as_string(), kserde::FormatError);
  BOOST_CHECK_THROW(root.attribute("vlen_ascii").as_doubles(), kserde::FormatError);
  BOOST_CHECK_THROW(root.attribute("no_such_attribute"), kserde::FormatError);
  BOOST_TEST(root.has_attribute("vlen_long"));
  BOOST_TEST(!root.has_attribute("vlen_lon"));
  const auto many = root.group("many_attrs");
  BOOST_TEST(many.attribute_names().size() == 120u);
  BOOST_TEST(many.attribute("attr_7").as_string() == "value 7");
}

BOOST_AUTO_TEST_CASE(group_navigation_by_path) {
  TempDir dir;
  const auto p = dir / "nav.h5";
  make_matrix_file(p, false);
  const auto root = kh::File::open(source_of(read_bytes(p), "nav.h5")).root();
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "l" + std::to_string(i) + "/";
  const auto d = root.dataset(deep + "bottom");
  BOOST_TEST(d.path() == "/" + deep + "bottom");
  BOOST_TEST(root.group("l0/l1").path() == "/l0/l1");
  BOOST_TEST(!root.find_group("l0/nope").has_value());
  BOOST_TEST(!root.find_dataset("l0").has_value());
  BOOST_TEST(root.find_dataset("types/i8le_0").has_value());
  BOOST_TEST((root.member_kind("types") == kh::ObjectKind::Group));
  BOOST_TEST(!root.member_kind("absent").has_value());
  try {
    (void)root.group("l0/missing");
    BOOST_ERROR("expected FormatError");
  } catch (const kserde::FormatError& e) {
    BOOST_TEST(std::string(e.what()).find("nav.h5: /l0/missing") != std::string::npos, e.what());
  }
  BOOST_CHECK_THROW((void)root.dataset("types"), kserde::FormatError);
  BOOST_CHECK_THROW((void)root.group("types/i8le_0"), kserde::FormatError);
}

BOOST_AUTO_TEST_CASE(read_limits_are_enforced) {
  TempDir dir;
  const auto p = dir / "limits.h5";
  make_matrix_file(p, true);
  const auto bytes = read_bytes(p);
  {
    kh::ReadLimits l;
    l.max_depth = 10;
    const auto root = kh::File::open(source_of(bytes, "limits.h5"), l).root();
    BOOST_CHECK_THROW((void)root.group("l0/l1/l2/l3/l4/l5/l6/l7/l8/l9/l10"), kserde::LimitError);
    BOOST_CHECK_NO_THROW((void)root.group("l0/l1/l2/l3/l4/l5/l6/l7/l8"));
  }
  {
    kh::ReadLimits l;
    l.max_dataset_bytes = 1000;
    const auto root = kh::File::open(source_of(bytes, "limits.h5"), l).root();
    BOOST_CHECK_THROW((void)root.dataset("types/many_chunks"), kserde::LimitError);
    BOOST_CHECK_NO_THROW((void)root.dataset("types/i8le_0"));
  }
  {
    kh::ReadLimits l;
    l.max_attribute_bytes = 1000;
    const auto root = kh::File::open(source_of(bytes, "limits.h5"), l).root();
    BOOST_CHECK_THROW((void)root.attribute("vlen_long"), kserde::LimitError);
    BOOST_CHECK_NO_THROW((void)root.attribute("vlen_utf8"));
  }
  {
    kh::ReadLimits l;
    l.max_rank = 2;
    const auto root = kh::File::open(source_of(bytes, "limits.h5"), l).root();
    BOOST_CHECK_THROW((void)root.dataset("types/i8le_r3"), kserde::LimitError);
  }
  {
    kh::ReadLimits l;
    l.max_objects_visited = 50;
    BOOST_CHECK_THROW(kserde_model(bytes, "limits.h5", l), kserde::LimitError);
  }
}

BOOST_AUTO_TEST_CASE(extensible_array_chunk_index_is_refused_as_unsupported) {
  TempDir dir;
  const auto p = dir / "earray.h5";
  {
    const Hid fapl = fapl_for(true);
    Hid f(H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), H5Fclose);
    const std::vector<float> v(10, 1.0f);
    make_dataset(f, "x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {10}, v.data(), Lay::Unlimited);
  }
  const auto root = kh::File::open(source_of(read_bytes(p), "earray.h5")).root();
  try {
    (void)root.dataset("x");
    BOOST_ERROR("expected UnsupportedError");
  } catch (const kserde::UnsupportedError& e) {
    BOOST_TEST(std::string(e.what()).find("unsupported HDF5 feature: extensible array") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_SUITE_END()

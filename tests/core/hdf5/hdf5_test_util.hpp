// Shared helpers for the HDF5 tests: a temp directory, file bytes, and two independent walkers
// (libhdf5's C API and kserde's reader) that reduce a file to a comparable model: every object
// path with its kind, members, shape, element values and attributes.
#pragma once

#include <hdf5.h>

#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kserde/error.hpp"
#include "kserde/hdf5/reader.hpp"
#include "kserde/io/byte_source.hpp"

namespace h5test {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("kserde_hdf5_" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  fs::path operator/(const std::string& name) const { return path_ / name; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::vector<std::byte> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in, "cannot open " << p);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  std::memcpy(out.data(), c.data(), c.size());
  return out;
}

inline void write_bytes(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline kserde::io::ByteSource source_of(const std::vector<std::byte>& b, const std::string& name) {
  return kserde::io::bytes_from_copy(b, name);
}

inline fs::path data_dir() { return fs::path(KSERDE_TEST_DATA_DIR); }

// RAII for hid_t.
class Hid {
 public:
  Hid() = default;
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Hid() {
    if (id_ >= 0 && close_) close_(id_);
  }
  Hid(Hid&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Hid& operator=(Hid&& o) noexcept {
    std::swap(id_, o.id_);
    std::swap(close_, o.close_);
    return *this;
  }
  operator hid_t() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

struct AttrModel {
  std::string kind;  // "string", "number" or "other"
  std::vector<std::uint64_t> shape;
  std::vector<std::string> strings;
  std::vector<double> numbers;
  bool operator==(const AttrModel&) const = default;
};

struct ObjModel {
  bool group = false;
  std::vector<std::string> members;
  std::vector<std::uint64_t> shape;
  std::string dtype;  // comparison category: i64, u64, f64, bool, bf16, other
  std::vector<std::byte> values;
  std::map<std::string, AttrModel> attrs;
};
using FileModel = std::map<std::string, ObjModel>;

inline std::string join(const std::string& parent, const std::string& name) {
  return parent == "/" ? "/" + name : parent + "/" + name;
}

// ---- kserde side -------------------------------------------------------------------------------

template <class Obj>
std::map<std::string, AttrModel> kserde_attrs(const Obj& o) {
  std::map<std::string, AttrModel> out;
  for (const auto& name : o.attribute_names()) {
    const kserde::hdf5::Attribute a = o.attribute(name);
    AttrModel m;
    m.shape = a.shape();
    using C = kserde::hdf5::Datatype::Class;
    const auto& t = a.datatype();
    if (a.is_string()) {
      m.kind = "string";
      m.strings = a.as_strings();
    } else if (t.dtype && t.cls != C::Opaque) {
      m.kind = "number";
      m.numbers = a.as_doubles();
    } else {
      m.kind = "other";
    }
    out[name] = std::move(m);
  }
  return out;
}

inline std::string category(const kserde::hdf5::Datatype& t) {
  using C = kserde::hdf5::Datatype::Class;
  if (!t.dtype) return "other";
  switch (*t.dtype) {
    case kserde::DType::Bool: return "bool";
    case kserde::DType::BFloat16: return "bf16";
    default: break;
  }
  if (t.cls == C::Float) return "f64";
  return t.is_signed ? "i64" : "u64";
}

inline void kserde_walk(const kserde::hdf5::Group& g, FileModel& out) {
  ObjModel& m = out[g.path()];
  m.group = true;
  m.members = g.member_names();
  m.attrs = kserde_attrs(g);
  for (const auto& name : m.members) {
    const auto kind = g.member_kind(name);
    if (!kind) continue;
    if (*kind == kserde::hdf5::ObjectKind::Group) {
      kserde_walk(g.group(name), out);
    } else {
      const kserde::hdf5::Dataset d = g.dataset(name);
      ObjModel& dm = out[d.path()];
      dm.shape = d.shape();
      dm.attrs = kserde_attrs(d);
      dm.dtype = category(d.datatype());
      const std::map<std::string, kserde::DType> target = {
          {"i64", kserde::DType::Int64}, {"u64", kserde::DType::UInt64}, {"f64", kserde::DType::Float64},
          {"bool", kserde::DType::Bool}, {"bf16", kserde::DType::BFloat16}};
      if (dm.dtype != "other") {
        const kserde::DType t = target.at(dm.dtype);
        dm.values.resize(static_cast<std::size_t>(d.num_elements() * kserde::dtype_size(t)));
        d.read(dm.values, t);
      }
    }
  }
}

inline FileModel kserde_model(const std::vector<std::byte>& bytes, const std::string& name,
                              const kserde::hdf5::ReadLimits& limits = {}) {
  const auto f = kserde::hdf5::File::open(source_of(bytes, name), limits);
  FileModel m;
  kserde_walk(f.root(), m);
  return m;
}

// ---- libhdf5 side ------------------------------------------------------------------------------

inline std::vector<std::uint64_t> space_dims(hid_t space) {
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> d(static_cast<std::size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space, d.data(), nullptr);
  return {d.begin(), d.end()};
}

inline std::uint64_t count_of(hid_t space) {
  if (H5Sget_simple_extent_type(space) == H5S_NULL) return 0;
  return static_cast<std::uint64_t>(H5Sget_simple_extent_npoints(space));
}

inline bool is_h5py_bool(hid_t type) {
  if (H5Tget_class(type) != H5T_ENUM || H5Tget_size(type) != 1 || H5Tget_nmembers(type) != 2) return false;
  for (unsigned i = 0; i < 2; ++i) {
    char* n = H5Tget_member_name(type, i);
    signed char v = 0;
    H5Tget_member_value(type, i, &v);
    const bool ok = (std::string(n) == "FALSE" && v == 0) || (std::string(n) == "TRUE" && v == 1);
    H5free_memory(n);
    if (!ok) return false;
  }
  return true;
}

inline std::vector<std::string> h5_strings(hid_t attr_or_dset, hid_t ftype, std::uint64_t n, bool is_attr) {
  std::vector<std::string> out;
  if (H5Tis_variable_str(ftype) > 0) {
    Hid mt(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(ftype));
    std::vector<char*> p(static_cast<std::size_t>(n), nullptr);
    if (n) BOOST_REQUIRE(is_attr ? H5Aread(attr_or_dset, mt, p.data()) >= 0 : H5Dread(attr_or_dset, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()) >= 0);
    for (char* s : p) {
      out.emplace_back(s ? s : "");
      H5free_memory(s);
    }
  } else {
    const std::size_t size = H5Tget_size(ftype);
    std::vector<char> buf(static_cast<std::size_t>(n) * size + 1);
    if (n) BOOST_REQUIRE(is_attr ? H5Aread(attr_or_dset, ftype, buf.data()) >= 0 : H5Dread(attr_or_dset, ftype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) >= 0);
    const H5T_str_t pad = H5Tget_strpad(ftype);
    for (std::uint64_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * size, size);
      if (pad == H5T_STR_SPACEPAD) s.erase(s.find_last_not_of(' ') + 1);
      else s.resize(strnlen(s.data(), s.size()));
      out.push_back(s);
    }
  }
  return out;
}

inline std::map<std::string, AttrModel> h5_attrs(hid_t obj) {
  std::map<std::string, AttrModel> out;
  H5O_info_t info;
  H5Oget_info(obj, &info);
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    Hid a(H5Aopen_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    BOOST_REQUIRE(a.ok());
    const ssize_t len = H5Aget_name(a, 0, nullptr);
    std::string name(static_cast<std::size_t>(len), '\0');
    H5Aget_name(a, static_cast<std::size_t>(len) + 1, name.data());
    Hid type(H5Aget_type(a), H5Tclose);
    Hid space(H5Aget_space(a), H5Sclose);
    AttrModel m;
    m.shape = space_dims(space);
    const std::uint64_t n = count_of(space);
    const H5T_class_t cls = H5Tget_class(type);
    if (cls == H5T_STRING) {
      m.kind = "string";
      m.strings = h5_strings(a, type, n, true);
    } else if (cls == H5T_INTEGER || cls == H5T_FLOAT || is_h5py_bool(type)) {
      m.kind = "number";
      m.numbers.resize(static_cast<std::size_t>(n));
      if (is_h5py_bool(type)) {
        std::vector<signed char> v(static_cast<std::size_t>(n));
        if (n) H5Aread(a, type, v.data());
        for (std::size_t k = 0; k < v.size(); ++k) m.numbers[k] = v[k];
      } else if (n) {
        BOOST_REQUIRE(H5Aread(a, H5T_NATIVE_DOUBLE, m.numbers.data()) >= 0);
      }
    } else {
      m.kind = "other";
    }
    out[name] = std::move(m);
  }
  return out;
}

inline void h5_walk(hid_t file, const std::string& path, FileModel& out) {
  Hid g(H5Gopen2(file, path.c_str(), H5P_DEFAULT), H5Gclose);
  BOOST_REQUIRE_MESSAGE(g.ok(), "libhdf5 cannot open group " << path);
  ObjModel& m = out[path];
  m.group = true;
  m.attrs = h5_attrs(g);
  H5G_info_t gi;
  H5Gget_info(g, &gi);
  for (hsize_t i = 0; i < gi.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(static_cast<std::size_t>(len), '\0');
    H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), static_cast<std::size_t>(len) + 1, H5P_DEFAULT);
    m.members.push_back(name);
  }
  for (const auto& name : std::vector<std::string>(m.members)) {
    const std::string child = join(path, name);
    H5L_info_t li;
    H5Lget_info(g, name.c_str(), &li, H5P_DEFAULT);
    if (li.type != H5L_TYPE_HARD) continue;
    H5O_info_t oi;
    H5Oget_info_by_name(g, name.c_str(), &oi, H5P_DEFAULT);
    if (oi.type == H5O_TYPE_GROUP) {
      h5_walk(file, child, out);
    } else if (oi.type == H5O_TYPE_DATASET) {
      Hid d(H5Dopen2(file, child.c_str(), H5P_DEFAULT), H5Dclose);
      Hid type(H5Dget_type(d), H5Tclose);
      Hid space(H5Dget_space(d), H5Sclose);
      ObjModel& dm = out[child];
      dm.shape = space_dims(space);
      dm.attrs = h5_attrs(d);
      const std::uint64_t n = count_of(space);
      const H5T_class_t cls = H5Tget_class(type);
      hid_t mem = -1;
      std::size_t es = 0;
      if (cls == H5T_INTEGER) {
        const bool sgn = H5Tget_sign(type) == H5T_SGN_2;
        dm.dtype = sgn ? "i64" : "u64";
        mem = sgn ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64;
        es = 8;
      } else if (cls == H5T_FLOAT) {
        dm.dtype = "f64";
        mem = H5T_NATIVE_DOUBLE;
        es = 8;
      } else if (is_h5py_bool(type)) {
        dm.dtype = "bool";
        mem = type;
        es = 1;
      } else if (cls == H5T_OPAQUE && H5Tget_size(type) == 2) {
        dm.dtype = "bf16";
        mem = type;
        es = 2;
      } else {
        dm.dtype = "other";
      }
      if (mem >= 0) {
        dm.values.resize(static_cast<std::size_t>(n * es));
        if (n) BOOST_REQUIRE(H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, dm.values.data()) >= 0);
      }
    }
  }
}

inline FileModel h5_model(const fs::path& p) {
  Hid f(H5Fopen(p.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  BOOST_REQUIRE_MESSAGE(f.ok(), "libhdf5 cannot open " << p);
  FileModel m;
  h5_walk(f, "/", m);
  return m;
}

inline void compare_models(const FileModel& expected, const FileModel& got, const std::string& what) {
  BOOST_TEST_CONTEXT(what) {
    std::vector<std::string> ek, gk;
    for (const auto& [k, v] : expected) ek.push_back(k);
    for (const auto& [k, v] : got) gk.push_back(k);
    BOOST_TEST(ek == gk, boost::test_tools::per_element());
    for (const auto& [path, e] : expected) {
      auto it = got.find(path);
      if (it == got.end()) continue;
      const ObjModel& g = it->second;
      BOOST_TEST_CONTEXT("object " << path) {
        BOOST_TEST(e.group == g.group);
        BOOST_TEST(e.members == g.members, boost::test_tools::per_element());
        BOOST_TEST(e.shape == g.shape, boost::test_tools::per_element());
        BOOST_TEST(e.dtype == g.dtype);
        BOOST_TEST(e.values.size() == g.values.size());
        if (e.values.size() == g.values.size() && e.values != g.values) {
          std::size_t i = 0;
          while (e.values[i] == g.values[i]) ++i;
          BOOST_ERROR("values differ first at byte " << i << " of " << e.values.size());
        }
        std::vector<std::string> ea, ga;
        for (const auto& [k, v] : e.attrs) ea.push_back(k);
        for (const auto& [k, v] : g.attrs) ga.push_back(k);
        BOOST_TEST(ea == ga, boost::test_tools::per_element());
        for (const auto& [name, a] : e.attrs) {
          auto ai = g.attrs.find(name);
          if (ai == g.attrs.end()) continue;
          BOOST_TEST_CONTEXT("attribute " << name) {
            BOOST_TEST(a.kind == ai->second.kind);
            BOOST_TEST(a.shape == ai->second.shape, boost::test_tools::per_element());
            BOOST_TEST(a.strings == ai->second.strings, boost::test_tools::per_element());
            BOOST_TEST(a.numbers == ai->second.numbers, boost::test_tools::per_element());
          }
        }
      }
    }
  }
}

// Reads every object of a (possibly hostile) file with kserde, capping dataset sizes. Any
// kserde::Error is the expected outcome for corrupt input; other exceptions propagate.
inline void kserde_read_everything(const std::vector<std::byte>& bytes, const kserde::hdf5::ReadLimits& limits) {
  const auto f = kserde::hdf5::File::open(kserde::io::ByteSource{bytes, nullptr, 0, "fuzz.h5"}, limits);
  std::vector<kserde::hdf5::Group> stack{f.root()};
  while (!stack.empty()) {
    const kserde::hdf5::Group g = stack.back();
    stack.pop_back();
    for (const auto& n : g.attribute_names()) (void)g.attribute(n);
    for (const auto& name : g.member_names()) {
      const auto kind = g.member_kind(name);
      if (!kind) continue;
      if (*kind == kserde::hdf5::ObjectKind::Group) {
        stack.push_back(g.group(name));
      } else {
        const auto d = g.dataset(name);
        for (const auto& n : d.attribute_names()) (void)d.attribute(n);
        (void)d.extent();
        if (!d.datatype().dtype) continue;
        std::vector<std::byte> buf(static_cast<std::size_t>(d.num_elements() * kserde::dtype_size(d.dtype())));
        d.read(buf, d.dtype());
      }
    }
  }
}

}  // namespace h5test

// Reads a whole HDF5 file with Debian's libhdf5 (the independent reference) into a flat map:
// "/path" -> {kind, attributes as text, dataset dtype/shape/raw bytes}. Tests compare two files
// through it, so neither side is read by the code under test.
#pragma once

#include <hdf5.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace kserde::test {

struct H5Object {
  bool is_dataset = false;
  std::map<std::string, std::string> attributes;  // rendered as text
  std::string type;                               // class + size + order, e.g. "float4le"
  std::vector<unsigned long long> shape;
  std::string bytes;                              // raw data in the file's byte order
};

namespace detail {

inline std::string render_type(hid_t t) {
  const H5T_class_t cls = H5Tget_class(t);
  const size_t size = H5Tget_size(t);
  std::string name = cls == H5T_INTEGER ? (H5Tget_sign(t) == H5T_SGN_NONE ? "uint" : "int")
                     : cls == H5T_FLOAT  ? "float"
                     : cls == H5T_STRING ? "string"
                     : cls == H5T_OPAQUE ? "opaque"
                     : cls == H5T_ENUM   ? "enum"
                                         : "other";
  name += std::to_string(size);
  if (cls == H5T_INTEGER || cls == H5T_FLOAT) name += H5Tget_order(t) == H5T_ORDER_BE ? "be" : "le";
  if (cls == H5T_STRING && H5Tis_variable_str(t) > 0) name += "vlen";
  return name;
}

inline std::string read_attribute(hid_t attr) {
  hid_t type = H5Aget_type(attr);
  hid_t space = H5Aget_space(attr);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::string out = render_type(type) + ":";
  if (H5Tget_class(type) == H5T_STRING) {
    if (H5Tis_variable_str(type) > 0) {
      std::vector<char*> ptrs(static_cast<size_t>(n));
      hid_t mem = H5Tcopy(H5T_C_S1);
      H5Tset_size(mem, H5T_VARIABLE);
      H5Tset_cset(mem, H5Tget_cset(type));
      H5Aread(attr, mem, ptrs.data());
      for (char* p : ptrs) out += std::string(p ? p : "") + "|";
      H5Dvlen_reclaim(mem, space, H5P_DEFAULT, ptrs.data());
      H5Tclose(mem);
    } else {
      const size_t size = H5Tget_size(type);
      std::string buf(size * static_cast<size_t>(n), '\0');
      H5Aread(attr, type, buf.data());
      for (hssize_t i = 0; i < n; ++i) {
        std::string s = buf.substr(static_cast<size_t>(i) * size, size);
        s = s.substr(0, s.find('\0'));
        out += s + "|";
      }
    }
  } else {
    std::vector<double> v(static_cast<size_t>(n));
    if (n > 0) H5Aread(attr, H5T_NATIVE_DOUBLE, v.data());
    for (double d : v) out += std::to_string(d) + "|";
  }
  H5Sclose(space);
  H5Tclose(type);
  return out;
}

inline herr_t attr_cb(hid_t loc, const char* name, const H5A_info_t*, void* data) {
  auto* obj = static_cast<H5Object*>(data);
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  obj->attributes[name] = read_attribute(a);
  H5Aclose(a);
  return 0;
}

inline herr_t visit_cb(hid_t root, const char* name, const H5O_info_t* info, void* data) {
  auto* out = static_cast<std::map<std::string, H5Object>*>(data);
  const std::string path = std::string(name) == "." ? "/" : "/" + std::string(name);
  H5Object obj;
  hid_t o = H5Oopen(root, name, H5P_DEFAULT);
  H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, nullptr, attr_cb, &obj);
  if (info->type == H5O_TYPE_DATASET) {
    obj.is_dataset = true;
    hid_t type = H5Dget_type(o);
    hid_t space = H5Dget_space(o);
    obj.type = render_type(type);
    const int rank = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    obj.shape.assign(dims.begin(), dims.end());
    const hssize_t n = H5Sget_simple_extent_npoints(space);
    obj.bytes.resize(static_cast<size_t>(n) * H5Tget_size(type));
    if (n > 0) H5Dread(o, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, obj.bytes.data());
    H5Sclose(space);
    H5Tclose(type);
  }
  H5Oclose(o);
  (*out)[path] = std::move(obj);
  return 0;
}

}  // namespace detail

inline std::map<std::string, H5Object> read_with_libhdf5(const std::filesystem::path& file) {
  std::map<std::string, H5Object> out;
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) throw std::runtime_error("libhdf5 cannot open " + file.string());
  H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, detail::visit_cb, &out);
  H5Fclose(f);
  return out;
}

}  // namespace kserde::test

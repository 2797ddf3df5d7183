// .npy reading and writing. Expected values come from the golden files (written by NumPy), from
// case.json, or from hand-written headers and bytes.
#include <bit>
#include <boost/test/unit_test.hpp>
#include <cstring>

#include "io_test_util.hpp"
#include "kserde/error.hpp"
#include "kserde/io/npy.hpp"

using namespace kserde;
using namespace kserde::test;

namespace {

static_assert(std::endian::native == std::endian::little, "these tests spell native bytes as LE");

// A .npy image with a hand-written header dict (padded with spaces and '\n' like NumPy does).
std::string make_npy(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const std::size_t n = header.size();
  out += static_cast<char>(n & 0xFF);
  out += static_cast<char>((n >> 8) & 0xFF);
  if (major != 1) {
    out += static_cast<char>((n >> 16) & 0xFF);
    out += static_cast<char>((n >> 24) & 0xFF);
  }
  return out + header + data;
}

std::string dict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

Tensor parse(const std::string& image, const io::NpyLimits& limits = {}) {
  return io::parse_npy(as_bytes(image), "hand.npy", limits);
}

bool names_file(const std::exception& e) {
  return std::string(e.what()).find("hand.npy") != std::string::npos;
}

Shape shape_of(const rapidjson::Value& v) {
  Shape s;
  for (const auto& d : v.GetArray()) s.push_back(d.GetInt64());
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(io_npy)

BOOST_AUTO_TEST_CASE(every_golden_npy_has_the_shape_and_dtype_listed_in_case_json) {
  int checked = 0;
  for (const auto& dir : golden_cases()) {
    const auto doc = load_json(dir / "case.json");
    for (const char* list : {"inputs", "outputs"}) {
      for (const auto& entry : doc[list].GetArray()) {
        const auto file = dir / entry["file"].GetString();
        const Tensor t = io::read_npy(file);
        BOOST_TEST_CONTEXT(file) {
          BOOST_TEST(t.shape() == shape_of(entry["shape"]));
          BOOST_TEST(std::string(dtype_name(t.dtype())) == entry["dtype"].GetString());
          // The tensor holds exactly the bytes after NumPy's header (all goldens are '<' C order).
          const std::string raw = slurp(file);
          BOOST_TEST(to_string(t.bytes()) == raw.substr(raw.size() - t.nbytes()));
        }
        ++checked;
      }
    }
  }
  BOOST_TEST(checked >= 18);
  // cnn's evaluation set: 8 images like the input, int32 class ids (case.json "evaluate").
  const Tensor x = io::read_npy(golden_dir() / "cnn/x_eval.npy");
  const Tensor y = io::read_npy(golden_dir() / "cnn/y_eval.npy");
  BOOST_TEST(x.shape() == (Shape{8, 28, 28, 1}));
  BOOST_TEST(x.dtype() == DType::Float32);
  BOOST_TEST(y.shape() == (Shape{8}));
  BOOST_TEST(y.dtype() == DType::Int32);
}

BOOST_AUTO_TEST_CASE(serialize_npy_reproduces_numpy_save_byte_for_byte_on_every_golden_file) {
  for (const auto& dir : golden_cases()) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() != ".npy") continue;
      BOOST_TEST_CONTEXT(e.path()) {
        const std::string raw = slurp(e.path());
        BOOST_TEST(io::serialize_npy(io::read_npy(e.path())) == raw);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(every_dtype_reads_the_same_in_little_and_big_endian_byte_order) {
  struct Case {
    const char* code;
    DType dtype;
  };
  const Case cases[] = {{"f2", DType::Float16}, {"f4", DType::Float32}, {"f8", DType::Float64},
                        {"i1", DType::Int8},    {"i2", DType::Int16},   {"i4", DType::Int32},
                        {"i8", DType::Int64},   {"u1", DType::UInt8},   {"u2", DType::UInt16},
                        {"u4", DType::UInt32},  {"u8", DType::UInt64}};
  for (const auto& c : cases) {
    const std::size_t size = dtype_size(c.dtype);
    std::string le, be;  // three elements with distinct bytes; BE is LE reversed per element
    for (int e = 0; e < 3; ++e) {
      std::string elem;
      for (std::size_t k = 0; k < size; ++k) elem += static_cast<char>(0x10 * e + k + 1);
      le += elem;
      be += std::string(elem.rbegin(), elem.rend());
    }
    BOOST_TEST_CONTEXT(c.code) {
      for (const char* order_c : {"<", ">", "="}) {
        const std::string order = order_c;
        const Tensor t = parse(make_npy(dict(order + c.code, "(3,)"), order == ">" ? be : le));
        BOOST_TEST(t.dtype() == c.dtype);
        BOOST_TEST(t.shape() == (Shape{3}));
        BOOST_TEST(to_string(t.bytes()) == le);
      }
      if (size == 1)
        BOOST_TEST(
            to_string(parse(make_npy(dict(std::string("|") + c.code, "(3,)"), le)).bytes()) == le);
    }
  }
}

BOOST_AUTO_TEST_CASE(hand_worked_values_decode_for_each_kind) {
  // 1.0f is 0x3f800000, 1.0 is 0x3ff0000000000000, half 1.0 is 0x3c00, -2 as int16 is 0xfffe.
  BOOST_TEST(
      parse(make_npy(dict("<f4", "(1,)"), std::string("\x00\x00\x80\x3f", 4))).values<float>()[0] ==
      1.0f);
  BOOST_TEST(
      parse(make_npy(dict(">f4", "(1,)"), std::string("\x3f\x80\x00\x00", 4))).values<float>()[0] ==
      1.0f);
  BOOST_TEST(parse(make_npy(dict(">f8", "(1,)"), std::string("\x3f\xf0\0\0\0\0\0\0", 8)))
                 .values<double>()[0] == 1.0);
  const Tensor h = parse(make_npy(dict("<f2", "(2,)"), std::string("\x00\x3c\x00\xc0", 4)));
  std::uint16_t hv[2];
  std::memcpy(hv, h.bytes().data(), 4);
  BOOST_TEST(half_to_float(hv[0]) == 1.0f);
  BOOST_TEST(half_to_float(hv[1]) == -2.0f);
  BOOST_TEST(parse(make_npy(dict(">i4", "(1,)"), std::string("\xff\xff\xff\xfe", 4)))
                 .values<std::int32_t>()[0] == -2);
  BOOST_TEST(parse(make_npy(dict(">i8", "(1,)"), std::string("\0\0\0\0\0\0\x01\x00", 8)))
                 .values<std::int64_t>()[0] == 256);
  BOOST_TEST(parse(make_npy(dict("|u1", "(1,)"), "\xff")).values<std::uint8_t>()[0] == 255);
  const Tensor b = parse(make_npy(dict("|b1", "(3,)"), std::string("\x00\x01\x07", 3)));
  BOOST_TEST(b.dtype() == DType::Bool);
  BOOST_TEST(to_string(b.bytes()) == std::string("\x00\x01\x01", 3));  // nonzero reads as true
}

BOOST_AUTO_TEST_CASE(version_2_and_3_headers_read_like_version_1) {
  const std::string data("\x01\0\0\0\x02\0\0\0", 8);
  for (int major : {1, 2, 3}) {
    const Tensor t = parse(make_npy(dict("<i4", "(2,)"), data, major));
    BOOST_TEST(t.values<std::int32_t>()[1] == 2);
  }
}

BOOST_AUTO_TEST_CASE(fortran_order_arrays_are_transposed_into_c_order) {
  // 2x3 int32 [[1,2,3],[4,5,6]] stored column by column: 1 4 2 5 3 6.
  std::string f;
  for (std::int32_t v : {1, 4, 2, 5, 3, 6}) f.append(reinterpret_cast<const char*>(&v), 4);
  const Tensor t = parse(make_npy(dict("<i4", "(2, 3)", true), f));
  BOOST_TEST(t.shape() == (Shape{2, 3}));
  const auto v = t.values<std::int32_t>();
  BOOST_TEST(std::vector<std::int32_t>(v.begin(), v.end()) ==
             (std::vector<std::int32_t>{1, 2, 3, 4, 5, 6}));

  // 2x3x4, element (i,j,k) = 100i+10j+k, at Fortran position i + 2j + 6k; big-endian int16.
  std::string f3(2 * 3 * 4 * 2, '\0');
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) {
        const int pos = i + 2 * j + 6 * k, val = 100 * i + 10 * j + k;
        f3[2 * pos] = static_cast<char>(val >> 8);
        f3[2 * pos + 1] = static_cast<char>(val & 0xFF);
      }
  const Tensor t3 = parse(make_npy(dict(">i2", "(2, 3, 4)", true), f3));
  std::vector<std::int16_t> c(24);
  std::memcpy(c.data(), t3.bytes().data(), 48);
  for (int i = 0, n = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k, ++n) BOOST_TEST(c[n] == 100 * i + 10 * j + k);
  // 1-D Fortran order is the same as C order.
  BOOST_TEST(parse(make_npy(dict("<i4", "(2,)", true), f.substr(0, 8))).values<std::int32_t>()[1] ==
             4);
}

BOOST_AUTO_TEST_CASE(shape_tuples_scalars_empty_arrays_and_header_spelling_variants_parse) {
  const Tensor s = parse(make_npy(dict("<f4", "()"), std::string("\x00\x00\x80\x3f", 4)));
  BOOST_TEST(s.rank() == 0u);
  BOOST_TEST(s.num_elements() == 1);
  BOOST_TEST(s.values<float>()[0] == 1.0f);
  BOOST_TEST(parse(make_npy(dict("<f4", "(0, 5)"), "")).shape() == (Shape{0, 5}));
  // Double quotes, key order, no trailing comma, no spaces, Python 2 long literals.
  const Tensor t = parse(make_npy("{\"shape\":(2L,1,),\"fortran_order\":False,\"descr\":\"<u2\"}",
                                  std::string("\x05\0\x06\0", 4)));
  BOOST_TEST(t.shape() == (Shape{2, 1}));
  BOOST_TEST(t.dtype() == DType::UInt16);
}

BOOST_AUTO_TEST_CASE(write_then_read_is_bitwise_identical_for_every_dtype_and_rank) {
  TempDir dir;
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::Int8,
                          DType::Int16,   DType::Int32,   DType::Int64,   DType::UInt8,
                          DType::UInt16,  DType::UInt32,  DType::UInt64,  DType::Bool};
  const Shape shapes[] = {{}, {7}, {2, 3, 5}, {0, 4}};
  for (DType dt : dtypes) {
    for (const Shape& shape : shapes) {
      Tensor t(shape, dt);
      auto b = t.mutable_bytes();
      for (std::size_t i = 0; i < b.size(); ++i)
        b[i] = std::byte(dt == DType::Bool ? (i * 7 % 3 == 0) : i * 37 + 11);
      const auto path = dir / "t.npy";
      io::write_npy(path, t);
      BOOST_TEST_CONTEXT(dtype_name(dt) << " " << shape_to_string(shape)) {
        BOOST_TEST(io::read_npy(path).bitwise_equal(t));
        const std::string raw = slurp(path);
        BOOST_TEST(raw == io::serialize_npy(t));
        // Version 1.0, data aligned to 64 bytes, header ended by '\n'.
        const std::size_t hlen =
            static_cast<unsigned char>(raw[8]) | static_cast<unsigned char>(raw[9]) << 8;
        BOOST_TEST(raw.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
        BOOST_TEST((10 + hlen) % 64 == 0u);
        BOOST_TEST(raw[10 + hlen - 1] == '\n');
        BOOST_TEST(raw.size() == 10 + hlen + t.nbytes());
      }
    }
  }
  // Only the final file remains: no temp files.
  BOOST_TEST(std::distance(std::filesystem::directory_iterator(dir.path()), {}) == 1);
}

BOOST_AUTO_TEST_CASE(bfloat16_is_written_as_float32) {
  Tensor t({3}, DType::BFloat16);
  const std::uint16_t v[3] = {0x3f80, 0xc000, 0x4049};  // 1.0, -2.0, 3.140625
  std::memcpy(t.mutable_bytes().data(), v, 6);
  const Tensor r = parse(io::serialize_npy(t));
  BOOST_TEST(r.dtype() == DType::Float32);
  const auto f = r.values<float>();
  BOOST_TEST((f[0] == 1.0f && f[1] == -2.0f && f[2] == 3.140625f));
}

BOOST_AUTO_TEST_CASE(a_shape_that_disagrees_with_the_data_size_is_a_format_error_naming_the_file) {
  const std::string data(12, '\0');
  BOOST_CHECK_EXCEPTION(parse(make_npy(dict("<f4", "(4,)"), data)), FormatError, names_file);
  BOOST_CHECK_EXCEPTION(parse(make_npy(dict("<f4", "(2,)"), data)), FormatError, names_file);
  BOOST_CHECK_EXCEPTION(parse(make_npy(dict("<f4", "(1000000, 1000000)"), data)), FormatError,
                        names_file);
}

BOOST_AUTO_TEST_CASE(absurd_sizes_are_limit_errors_before_any_allocation) {
  // 2^62 * 2^62 elements overflow 64 bits; 2^40 floats exceed the default 16 GiB max_bytes.
  BOOST_CHECK_THROW(parse(make_npy(dict("<f4", "(4611686018427387904, 4611686018427387904)"), "")),
                    LimitError);
  BOOST_CHECK_THROW(parse(make_npy(dict("<f4", "(1099511627776,)"), "")), LimitError);
  BOOST_CHECK_THROW(parse(make_npy(dict("<f4", "(99999999999999999999,)"), "")), FormatError);
  io::NpyLimits small;
  small.max_rank = 2;
  BOOST_CHECK_THROW(parse(make_npy(dict("<f4", "(1, 1, 1)"), "\0\0\0\0"), small), LimitError);
  small.max_header_bytes = 32;
  BOOST_CHECK_THROW(parse(make_npy(dict("<f4", "(1,)"), std::string(4, '\0')), small), LimitError);
  // A version-2 header length of 4 GiB - 1 in a tiny file.
  std::string huge = "\x93NUMPY\x02";
  huge += std::string("\x00\xff\xff\xff\xff{}", 7);
  BOOST_CHECK_EXCEPTION(parse(huge), LimitError, names_file);
  io::NpyLimits roomy;
  roomy.max_header_bytes = ~std::uint64_t{0};
  BOOST_CHECK_EXCEPTION(parse(huge, roomy), FormatError, names_file);  // longer than the file
}

BOOST_AUTO_TEST_CASE(malformed_header_dicts_are_format_errors_naming_the_file) {
  const std::string four(4, '\0');
  for (const std::string& bad :
       {std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"),
        std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (1), }"),
        std::string("{'descr': '<f4', 'fortran_order': False, 'shape': [1], }"),
        std::string("{'descr': '<f4', 'fortran_order': false, 'shape': (1,), }"),
        std::string("{'descr': '<f4', 'fortran_order': False}"),
        std::string("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}"),
        std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}"),
        std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } junk"),
        std::string("{'descr': '<f4"),
        std::string("{'descr' '<f4', 'fortran_order': False, 'shape': (1,), }"),
        std::string("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (1,), }"),
        std::string("{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }"),
        std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (1,,), }"),
        std::string("__import__('os')"), std::string(""), std::string("{")}) {
    BOOST_TEST_CONTEXT(bad) {
      BOOST_CHECK_EXCEPTION(parse(make_npy(bad, four)), FormatError, names_file);
    }
  }
}

BOOST_AUTO_TEST_CASE(unsupported_dtypes_and_versions_are_unsupported_errors) {
  for (const std::string descr :
       std::initializer_list<const char*>{"<c8", "|O", "<U5", "|S3", "<M8[ns]", "<f16", "<i3"}) {
    BOOST_TEST_CONTEXT(descr) {
      BOOST_CHECK_EXCEPTION(parse(make_npy(dict(descr, "(0,)"), "")), UnsupportedError, names_file);
    }
  }
  BOOST_CHECK_THROW(
      parse(make_npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (0,), }", "")),
      UnsupportedError);
  std::string v4 = make_npy(dict("<f4", "(0,)"), "", 2);
  v4[6] = '\x04';
  BOOST_CHECK_THROW(parse(v4), UnsupportedError);
}

BOOST_AUTO_TEST_CASE(truncation_at_every_byte_is_a_format_error) {
  const std::string image = make_npy(dict("<i2", "(3,)"), std::string("\x01\0\x02\0\x03\0", 6));
  BOOST_TEST(parse(image).num_elements() == 3);
  for (std::size_t n = 0; n < image.size(); ++n) {
    BOOST_TEST_CONTEXT("length " << n) {
      BOOST_CHECK_EXCEPTION(parse(image.substr(0, n)), FormatError, names_file);
    }
  }
  BOOST_CHECK_THROW(parse(image + "x"), FormatError);
  BOOST_CHECK_THROW(parse("PK\x03\x04 not numpy"), FormatError);
}

BOOST_AUTO_TEST_CASE(read_npy_of_a_missing_file_is_an_io_error) {
  BOOST_CHECK_THROW(io::read_npy("/nonexistent/kserde/x.npy"), IoError);
}

BOOST_AUTO_TEST_CASE(npy_reader_gives_row_ranges_equal_to_the_whole_array) {
  TempDir tmp;
  // 5 x 3 float32, element (i, j) = 10i + j, little-endian: rows borrowed from the mapping.
  std::string le;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 3; ++j) {
      const float v = static_cast<float>(10 * i + j);
      le.append(reinterpret_cast<const char*>(&v), 4);
    }
  spit(tmp / "le.npy", make_npy(dict("<f4", "(5, 3)"), le));
  io::NpyReader r(tmp / "le.npy");
  BOOST_TEST(r.rows() == 5);
  BOOST_TEST(r.shape() == (Shape{5, 3}));
  const Tensor mid = r.rows(1, 4);
  BOOST_TEST(mid.is_borrowed());
  BOOST_TEST(mid.shape() == (Shape{3, 3}));
  BOOST_TEST(mid.values<float>()[0] == 10.0f);
  BOOST_TEST(mid.values<float>()[8] == 32.0f);
  BOOST_TEST(r.rows(4, 5).values<float>()[2] == 42.0f);
  BOOST_TEST(r.rows(2, 2).num_elements() == 0);
  r.release(0, 4);  // the rows stay readable from the page cache
  BOOST_TEST(mid.values<float>()[4] == 21.0f);
  BOOST_CHECK_THROW(r.rows(3, 6), ShapeError);

  // The same values big-endian: converted per range.
  std::string be;
  for (std::size_t k = 0; k < le.size(); k += 4)
    for (int b = 3; b >= 0; --b) be += le[k + static_cast<std::size_t>(b)];
  spit(tmp / "be.npy", make_npy(dict(">f4", "(5, 3)"), be));
  io::NpyReader rb(tmp / "be.npy");
  BOOST_TEST(rb.rows(1, 4).bitwise_equal(mid));
  BOOST_TEST(!rb.rows(1, 4).is_borrowed());

  // Fortran order (rows not contiguous): read whole, then sliced. 2x3 int32 [[1,2,3],[4,5,6]].
  std::string f;
  for (std::int32_t v : {1, 4, 2, 5, 3, 6}) f.append(reinterpret_cast<const char*>(&v), 4);
  spit(tmp / "f.npy", make_npy(dict("<i4", "(2, 3)", true), f));
  const Tensor second = io::NpyReader(tmp / "f.npy").rows(1, 2);
  const auto v = second.values<std::int32_t>();
  BOOST_TEST(std::vector<std::int32_t>(v.begin(), v.end()) == (std::vector<std::int32_t>{4, 5, 6}));
}

BOOST_AUTO_TEST_CASE(npy_writer_in_parts_writes_the_bytes_write_npy_writes) {
  TempDir tmp;
  std::vector<float> v(7 * 2 * 3);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.5f - 3.0f;
  const Tensor whole = Tensor::from_floats({7, 2, 3}, v);
  {
    io::NpyWriter w(tmp / "parts.npy", whole.shape(), DType::Float32);
    w.write_rows(whole.slice_rows(0, 3));
    BOOST_TEST(!fs::exists(tmp / "parts.npy"));  // nothing at the target before commit
    w.write_rows(whole.slice_rows(3, 6));
    w.write_rows(whole.slice_rows(6, 7));
    BOOST_CHECK_THROW(w.write_rows(whole.slice_rows(0, 1)), ShapeError);  // past the end
    w.commit();
  }
  BOOST_TEST(slurp(tmp / "parts.npy") == io::serialize_npy(whole));

  // Rows of the wrong trailing shape, and a commit before every row is in.
  io::NpyWriter w(tmp / "short.npy", {4, 3}, DType::Float32);
  BOOST_CHECK_THROW(w.write_rows(whole.slice_rows(0, 1)), ShapeError);
  w.write_rows(Tensor::from_floats({1, 3}, std::vector<float>{1, 2, 3}));
  BOOST_CHECK_THROW(w.commit(), ShapeError);
}

BOOST_AUTO_TEST_SUITE_END()

// map_file, sub_range and read_text_file.
#include <boost/test/unit_test.hpp>

#include "io_test_util.hpp"
#include "kserde/error.hpp"
#include "kserde/io/mapped_file.hpp"

using namespace kserde;
using namespace kserde::test;

namespace {
bool mentions(const std::exception& e, const std::string& what) {
  return std::string(e.what()).find(what) != std::string::npos;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(io_mapped_file)

BOOST_AUTO_TEST_CASE(
    map_file_returns_the_file_bytes_and_keeps_them_alive_after_the_source_is_dropped) {
  TempDir dir;
  const std::string content = "0123456789abcdef";
  spit(dir / "f.bin", content);
  io::ByteSource part;
  {
    const io::ByteSource whole = io::map_file(dir / "f.bin", true);
    BOOST_TEST(to_string(whole.bytes) == content);
    BOOST_TEST(whole.file_offset == 0u);
    BOOST_TEST(whole.file_name == (dir / "f.bin").string());
    part = io::sub_range(whole, 10, 6, "tail");
  }
  // The mapping lives on through the sub-range's shared owner, even after the file is gone.
  std::filesystem::remove(dir / "f.bin");
  BOOST_TEST(to_string(part.bytes) == "abcdef");
  BOOST_TEST(part.file_offset == 10u);
  BOOST_TEST(part.file_name == "tail");
}

BOOST_AUTO_TEST_CASE(map_file_of_an_empty_file_is_an_empty_span) {
  TempDir dir;
  spit(dir / "empty", "");
  const io::ByteSource src = io::map_file(dir / "empty");
  BOOST_TEST(src.bytes.empty());
}

BOOST_AUTO_TEST_CASE(map_file_of_a_missing_file_or_a_directory_is_an_io_error_naming_the_path) {
  TempDir dir;
  BOOST_CHECK_EXCEPTION(io::map_file(dir / "missing.bin"), IoError,
                        [](const IoError& e) { return mentions(e, "missing.bin"); });
  BOOST_CHECK_EXCEPTION(io::map_file(dir.path()), IoError,
                        [&](const IoError& e) { return mentions(e, dir.path().string()); });
}

BOOST_AUTO_TEST_CASE(sub_range_rejects_ranges_past_the_end_with_a_format_error_naming_the_file) {
  io::ByteSource src = io::bytes_from_copy(as_bytes("abcd"), "buf.bin");
  BOOST_TEST(io::sub_range(src, 4, 0, "end").bytes.empty());
  BOOST_TEST(to_string(io::sub_range(src, 1, 3, "x").bytes) == "bcd");
  auto names_buf = [](const FormatError& e) {
    return mentions(e, "buf.bin") && mentions(e, "member");
  };
  BOOST_CHECK_EXCEPTION(io::sub_range(src, 2, 3, "member"), FormatError, names_buf);
  BOOST_CHECK_EXCEPTION(io::sub_range(src, 5, 0, "member"), FormatError, names_buf);
  // offset + length overflowing 64 bits must not wrap around into range.
  BOOST_CHECK_THROW(io::sub_range(src, 2, ~std::uint64_t{0}, "member"), FormatError);
}

BOOST_AUTO_TEST_CASE(read_text_file_reads_whole_files_up_to_the_limit_and_refuses_larger_ones) {
  TempDir dir;
  std::string big(100000, 'x');
  spit(dir / "big.json", big);
  BOOST_TEST(io::read_text_file(dir / "big.json", 100000) == big);
  BOOST_CHECK_EXCEPTION(io::read_text_file(dir / "big.json", 99999), LimitError,
                        [](const LimitError& e) { return mentions(e, "big.json"); });
  BOOST_CHECK_THROW(io::read_text_file(dir / "nope.json", 10), IoError);
  // Golden: the unzipped model's metadata.json is 64 bytes per the mlp case's zip listing.
  BOOST_TEST(
      io::read_text_file(golden_dir() / "mlp/model_unzipped/metadata.json", 1 << 20).size() == 64u);
}

BOOST_AUTO_TEST_SUITE_END()

// ArchiveReader / ArchiveWriter. Expected values: case.json "zip_members" (listed by Python's
// zipfile from archives Keras wrote), the unzipped golden model, hand-composed zips.
#include <boost/test/unit_test.hpp>
#include <cstring>

#include "io_test_util.hpp"
#include "kserde/error.hpp"
#include "kserde/io/archive.hpp"
#include "kserde/io/mapped_file.hpp"

using namespace kserde;
using namespace kserde::test;

namespace {

const std::string kHdf5Signature("\x89HDF\r\n\x1a\n", 8);

// Raw DEFLATE of kInflated, made by Python's zlib (level 9, wbits -15).
const std::string kDeflated(
    "\xcb\x2e\x4e\x2d\x4a\x49\x55\xc8\xcc\x4b\xcb\x49\x2c\x49\x2d\x56\x28\xc9\xc8\x2c\x56\x70\x71"
    "\x75\xf3\x71\x0c\x71\x55\xc8\x4d\xcd\x4d\x4a\x2d\x02\x8a\x15\xe5\x97\xa6\x67\x28\xe4\x64\x26"
    "\x25\x16\x25\x67\x64\x96\xa5\xea\x29\x64\x8f\xea\xc3\xaa\xcf\xc0\xd0\xc8\xd8\xc4\xd4\xcc\xdc"
    "\xc2\x92\x0b\x00",
    73);
std::string inflated_text() {
  std::string s;
  for (int i = 0; i < 6; ++i) s += "kserde inflates this DEFLATE member through libarchive. ";
  return s + "0123456789\n";
}

bool mentions(const std::exception& e, const std::string& what) {
  return std::string(e.what()).find(what) != std::string::npos;
}

io::ArchiveReader open_bytes(const TempDir& dir, const std::string& image,
                             const io::ArchiveLimits& limits = {}) {
  spit(dir / "t.keras", image);
  return io::ArchiveReader::open(dir / "t.keras", limits);
}

// Opening must fail with E, naming the archive (and `member` when given).
template <class E>
void expect_refused(const TempDir& dir, const std::string& image, const std::string& member = "",
                    const io::ArchiveLimits& limits = {}) {
  spit(dir / "t.keras", image);
  BOOST_CHECK_EXCEPTION(io::ArchiveReader::open(dir / "t.keras", limits), E, [&](const E& e) {
    const bool ok = mentions(e, "t.keras") && (member.empty() || mentions(e, member));
    if (!ok) BOOST_TEST_MESSAGE("message was: " << e.what());
    return ok;
  });
}

std::string written_archive(const TempDir& dir) {
  {
    io::ArchiveWriter w(dir / "w.zip");
    w.add("metadata.json", std::string_view("{\"keras_version\": \"3.16.0\"}"));
    w.add("config.json", std::string_view("{}"));
    w.add("model.weights.h5", as_bytes(kHdf5Signature + "weights"));
    w.finish();
  }
  return slurp(dir / "w.zip");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(io_archive)

BOOST_AUTO_TEST_CASE(every_golden_model_keras_lists_the_members_of_case_json) {
  int cases = 0;
  for (const auto& dir : golden_cases()) {
    const auto path = dir / "model.keras";
    const auto doc = load_json(dir / "case.json");
    const auto r = io::ArchiveReader::open(path);
    const auto& expected = doc["zip_members"];
    BOOST_TEST_CONTEXT(path) {
      BOOST_TEST_REQUIRE(r.members().size() == expected.Size());
      for (rapidjson::SizeType i = 0; i < expected.Size(); ++i) {
        const auto& m = r.members()[i];
        BOOST_TEST(m.name == expected[i]["name"].GetString());
        BOOST_TEST(m.uncompressed_size == expected[i]["file_size"].GetUint64());
        BOOST_TEST(m.stored == (expected[i]["compress_type"].GetInt() == 0));
        if (m.stored) BOOST_TEST(m.compressed_size == m.uncompressed_size);
        BOOST_TEST(r.contains(m.name));
        BOOST_TEST(r.member(m.name).bytes.size() == m.uncompressed_size);
      }
      BOOST_TEST(!r.contains("model.weights.npz"));
    }
    ++cases;
  }
  BOOST_TEST(cases == 11);
}

BOOST_AUTO_TEST_CASE(
    stored_weights_member_is_a_zero_copy_range_of_the_file_starting_with_the_hdf5_signature) {
  for (const auto& dir : golden_cases()) {
    const auto path = dir / "model.keras";
    const std::string raw = slurp(path);
    const auto r = io::ArchiveReader::open(path);
    const io::ByteSource w = r.member("model.weights.h5");
    BOOST_TEST_CONTEXT(path) {
      BOOST_TEST(to_string(w.bytes.first(8)) == kHdf5Signature);
      // Config and metadata are text, so the first signature in the file is where the member
      // starts.
      BOOST_TEST(w.file_offset == raw.find(kHdf5Signature));
      BOOST_TEST(to_string(w.bytes) == raw.substr(w.file_offset, w.bytes.size()));
      BOOST_TEST(w.file_name == path.string() + "!model.weights.h5");
      // Zero copy: every call hands out the same mapped bytes, kept alive by a shared owner.
      const io::ByteSource again = r.member("model.weights.h5");
      BOOST_TEST(static_cast<const void*>(again.bytes.data()) ==
                 static_cast<const void*>(w.bytes.data()));
      BOOST_TEST(w.owner != nullptr);
      BOOST_TEST(w.owner.get() == again.owner.get());
    }
  }
}

BOOST_AUTO_TEST_CASE(golden_text_members_equal_the_files_of_the_unzipped_save) {
  const auto r = io::ArchiveReader::open(golden_dir() / "mlp/model.keras");
  for (const char* name : {"config.json", "metadata.json"}) {
    BOOST_TEST(to_string(r.member(name).bytes) ==
               slurp(golden_dir() / "mlp/model_unzipped" / name));
  }
  // The reader outlives nothing: a member stays valid after the reader is gone.
  io::ByteSource cfg;
  {
    const auto r2 = io::ArchiveReader::open(golden_dir() / "mlp/model.keras");
    cfg = r2.member("config.json");
  }
  BOOST_TEST(cfg.bytes.size() == 2185u);
}

BOOST_AUTO_TEST_CASE(missing_files_non_zips_and_absent_members_are_typed_errors_naming_the_path) {
  TempDir dir;
  BOOST_CHECK_EXCEPTION(io::ArchiveReader::open(dir / "none.keras"), IoError,
                        [](const IoError& e) { return mentions(e, "none.keras"); });
  expect_refused<FormatError>(dir, "");
  expect_refused<FormatError>(dir, "this is a text file, not a zip archive at all......");
  expect_refused<FormatError>(dir, slurp(golden_dir() / "mlp/input.npy"));
  const auto r = io::ArchiveReader::open(golden_dir() / "mlp/model.keras");
  BOOST_CHECK_EXCEPTION(r.member("assets/vocab.txt"), FormatError, [](const FormatError& e) {
    return mentions(e, "model.keras!assets/vocab.txt");
  });
}

BOOST_AUTO_TEST_CASE(writer_output_reads_back_with_names_sizes_order_and_bytes) {
  TempDir dir;
  written_archive(dir);
  const auto r = io::ArchiveReader::open(dir / "w.zip");
  BOOST_TEST_REQUIRE(r.members().size() == 3u);
  const char* names[] = {"metadata.json", "config.json", "model.weights.h5"};
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(r.members()[i].name == names[i]);
    BOOST_TEST(r.members()[i].stored);
  }
  BOOST_TEST(to_string(r.member("config.json").bytes) == "{}");
  BOOST_TEST(to_string(r.member("model.weights.h5").bytes) == kHdf5Signature + "weights");
  // An empty member and a UTF-8 name round-trip too.
  {
    io::ArchiveWriter w(dir / "u.zip");
    w.add("assets/layers/lookup/vocabulary.txt", std::string_view(""));
    w.add("assets/\xc3\xa4.txt", std::string_view("umlaut"));
    w.finish();
  }
  const auto u = io::ArchiveReader::open(dir / "u.zip");
  BOOST_TEST(u.members()[1].name == "assets/\xc3\xa4.txt");
  BOOST_TEST(u.member("assets/layers/lookup/vocabulary.txt").bytes.empty());
  BOOST_TEST(to_string(u.member("assets/\xc3\xa4.txt").bytes) == "umlaut");
}

BOOST_AUTO_TEST_CASE(add_streamed_writes_a_multi_megabyte_member_in_chunks) {
  TempDir dir;
  const std::uint64_t size = (5u << 20) + 123;  // 5 MiB and an odd tail
  auto byte_at = [](std::uint64_t i) { return static_cast<char>((i * 2654435761u) >> 13); };
  {
    io::ArchiveWriter w(dir / "s.keras");
    w.add("config.json", std::string_view("{}"));
    w.add_streamed("model.weights.h5", size, [&](io::ByteSink& sink) {
      std::string chunk;
      for (std::uint64_t pos = 0; pos < size;) {
        const std::uint64_t n = std::min<std::uint64_t>(size - pos, 65536 + 7);
        chunk.resize(n);
        for (std::uint64_t k = 0; k < n; ++k) chunk[k] = byte_at(pos + k);
        sink.write(as_bytes(chunk));
        pos += n;
        BOOST_REQUIRE(sink.position() == pos);
      }
    });
    w.add("metadata.json", std::string_view("{}"));
    w.finish();
  }
  const auto r = io::ArchiveReader::open(dir / "s.keras");
  const auto m = r.member("model.weights.h5");
  BOOST_TEST_REQUIRE(m.bytes.size() == size);
  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < size; ++i) bad += m.bytes[i] != std::byte(byte_at(i));
  BOOST_TEST(bad == 0u);
  BOOST_TEST(r.members().back().name == "metadata.json");
}

BOOST_AUTO_TEST_CASE(add_streamed_refuses_a_producer_that_writes_too_much_or_too_little) {
  TempDir dir;
  {
    io::ArchiveWriter w(dir / "a.zip");
    BOOST_CHECK_THROW(w.add_streamed("x", 4, [](io::ByteSink& s) { s.write(as_bytes("12345")); }),
                      IoError);
    // The archive is broken now; finishing it must not pretend success.
    BOOST_CHECK_THROW(w.finish(), IoError);
  }
  {
    io::ArchiveWriter w(dir / "b.zip");
    BOOST_CHECK_EXCEPTION(w.add_streamed("x", 4, [](io::ByteSink& s) { s.write(as_bytes("123")); }),
                          IoError, [](const IoError& e) { return mentions(e, "b.zip!x"); });
  }
  {
    io::ArchiveWriter w(dir / "c.zip");
    BOOST_CHECK_THROW(
        w.add_streamed("x", 4, [](io::ByteSink&) { throw std::runtime_error("producer"); }),
        std::runtime_error);
    BOOST_CHECK_THROW(w.finish(), IoError);
  }
}

BOOST_AUTO_TEST_CASE(writer_refuses_names_the_reader_would_refuse) {
  TempDir dir;
  io::ArchiveWriter w(dir / "n.zip");
  for (const char* bad : {"../x", "/abs", "a\\b", "", "dir/", "a//b"}) {
    BOOST_CHECK_THROW(w.add(bad, std::string_view("x")), FormatError);
  }
  w.add("ok", std::string_view("x"));
  BOOST_CHECK_THROW(w.add("ok", std::string_view("y")), FormatError);
  w.finish();
  BOOST_TEST(io::ArchiveReader::open(dir / "n.zip").members().size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_deflate_member_is_inflated_and_checked) {
  TempDir dir;
  const std::string text = inflated_text();
  BOOST_TEST(crc32("123456789") == 0xCBF43926u);  // the CRC-32 check value, so crc32() is right
  BOOST_TEST(crc32(text) == 0x7a0a4960u);         // as Python's zlib.crc32 computed it
  {
    const auto r = open_bytes(dir, build_zip({stored_entry("config.json", "{}"),
                                              deflated_entry("notes.txt", kDeflated, text)}));
    BOOST_TEST(!r.members()[1].stored);
    BOOST_TEST(r.members()[1].compressed_size == kDeflated.size());
    const auto m = r.member("notes.txt");
    BOOST_TEST(to_string(m.bytes) == text);
    BOOST_TEST(m.file_name == (dir / "t.keras").string() + "!notes.txt");
  }
  // Wrong CRC: libarchive notices when inflating.
  ZipEntry bad_crc = deflated_entry("notes.txt", kDeflated, text);
  bad_crc.crc ^= 1;
  {
    const auto r = open_bytes(dir, build_zip({bad_crc}));
    BOOST_CHECK_EXCEPTION(r.member("notes.txt"), FormatError,
                          [](const FormatError& e) { return mentions(e, "t.keras!notes.txt"); });
  }
  // A declared size that is not what the stream inflates to.
  ZipEntry bad_size = deflated_entry("notes.txt", kDeflated, text);
  bad_size.size += 10;
  {
    const auto r = open_bytes(dir, build_zip({bad_size}));
    BOOST_CHECK_THROW(r.member("notes.txt"), FormatError);
  }
  // Corrupted compressed bytes.
  std::string garbage = kDeflated;
  garbage[5] = static_cast<char>(garbage[5] ^ 0x5a);
  garbage[20] = static_cast<char>(garbage[20] ^ 0xa5);
  {
    const auto r = open_bytes(dir, build_zip({deflated_entry("notes.txt", garbage, text)}));
    BOOST_CHECK_THROW(r.member("notes.txt"), FormatError);
  }
}

BOOST_AUTO_TEST_CASE(compression_bombs_over_the_ratio_limit_are_limit_errors) {
  TempDir dir;
  const std::uint64_t n = 1u << 20;
  const std::string bomb = deflate_repeat('A', n);  // ~158:1
  const std::string zip =
      build_zip({deflated_entry("model.weights.h5", bomb, std::string(n, 'A'))});
  io::ArchiveLimits strict;
  strict.max_compression_ratio = 100;
  expect_refused<LimitError>(dir, zip, "model.weights.h5", strict);
  // Under the default ratio (200) the same member is fine, and inflates to what was encoded.
  const auto r = open_bytes(dir, zip);
  const auto m = r.member("model.weights.h5");
  BOOST_TEST(m.bytes.size() == n);
  BOOST_TEST((to_string(m.bytes) == std::string(n, 'A')));
  // A member claiming any size from zero compressed bytes is an infinite ratio.
  ZipEntry empty = deflated_entry("x", "", "");
  empty.size = 1000;
  expect_refused<LimitError>(dir, build_zip({empty}), "x");
}

BOOST_AUTO_TEST_CASE(member_count_size_and_total_limits_are_limit_errors) {
  TempDir dir;
  const std::string zip = build_zip(
      {stored_entry("a", std::string(100, 'a')), stored_entry("b", std::string(100, 'b'))});
  io::ArchiveLimits l;
  l.max_members = 1;
  expect_refused<LimitError>(dir, zip, "", l);
  l = {};
  l.max_member_bytes = 99;
  expect_refused<LimitError>(dir, zip, "a", l);
  l = {};
  l.max_total_bytes = 150;
  expect_refused<LimitError>(dir, zip, "", l);
  l = {};
  l.max_name_length = 0;
  expect_refused<FormatError>(dir, zip, "", l);
  BOOST_TEST(open_bytes(dir, zip).members().size() == 2u);
}

BOOST_AUTO_TEST_CASE(hostile_member_names_are_format_errors_naming_archive_and_member) {
  TempDir dir;
  const std::pair<std::string, std::string> cases[] = {
      {"../x", "../x"},
      {"a/../../etc/passwd", "passwd"},
      {"/abs", "/abs"},
      {"a\\b", "a\\b"},
      {"C:/windows", "C:/windows"},
      {"x\x01y", "x\\x01y"},
      {std::string("nul\0byte", 8), "nul\\x00byte"},
      {"./config.json", "./config.json"}};
  for (const auto& [name, shown] : cases) {
    BOOST_TEST_CONTEXT(shown) {
      expect_refused<FormatError>(
          dir, build_zip({stored_entry("config.json", "{}"), stored_entry(name, "x")}), shown);
    }
  }
  expect_refused<FormatError>(
      dir, build_zip({stored_entry("config.json", "{}"), stored_entry("config.json", "{}")}),
      "config.json");
}

BOOST_AUTO_TEST_CASE(truncation_at_every_offset_is_a_format_error) {
  TempDir dir;
  const std::string full = written_archive(dir);
  BOOST_TEST(open_bytes(dir, full).members().size() == 3u);
  for (std::size_t n = 0; n < full.size(); ++n) {
    BOOST_TEST_CONTEXT("length " << n) {
      expect_refused<FormatError>(dir, full.substr(0, n));
    }
  }
}

BOOST_AUTO_TEST_CASE(damaged_local_headers_and_directories_are_format_errors) {
  TempDir dir;
  const std::string good =
      build_zip({stored_entry("config.json", "{}"), stored_entry("model.weights.h5", "HDF")});
  BOOST_TEST(open_bytes(dir, good).members().size() == 2u);
  auto patched = [&](std::size_t at, const std::string& bytes) {
    std::string s = good;
    s.replace(at, bytes.size(), bytes);
    return s;
  };
  const std::size_t second = 30 + 11 + 2;  // the second local header
  expect_refused<FormatError>(dir, patched(second, "PK\x09\x09"), "model.weights.h5");  // signature
  expect_refused<FormatError>(dir, patched(second + 30, "MODEL"), "model.weights.h5");  // name
  expect_refused<FormatError>(dir, patched(second + 18, std::string("\x09\0\0\0", 4)), "");  // size
  expect_refused<FormatError>(dir, patched(second + 14, std::string("\0\0\0\0", 4)), "");    // crc
  expect_refused<FormatError>(dir, patched(second + 28, std::string("\xff\x7f", 2)),
                              "");  // extra len
  // The central directory's sizes promising more data than lies before it.
  const std::size_t cd = good.find("PK\x01\x02");
  expect_refused<FormatError>(dir, patched(cd + 20, std::string("\x00\x10\0\0\x00\x10\0\0", 8)),
                              "config.json");
  // Stored with differing compressed/uncompressed sizes.
  expect_refused<FormatError>(dir, patched(cd + 20, std::string("\x03\0\0\0", 4)), "config.json");
  // Trailing garbage after the end record is tolerated (like Python's zipfile); prepended data is
  // not.
  BOOST_TEST(open_bytes(dir, good + "trailing").members().size() == 2u);
  expect_refused<FormatError>(dir, "prefix" + good);
}

BOOST_AUTO_TEST_CASE(overlapping_members_are_refused) {
  TempDir dir;
  std::string z = build_zip({stored_entry("a", "aaaa"), stored_entry("b", "bbbb")});
  // a's sizes 4 -> 30 in its local header and directory entry: its data now runs over b's header
  // (a "better zip bomb" shares data between entries this way) yet stays before the directory.
  const std::size_t cd = z.find("PK\x01\x02");
  for (std::size_t at : {std::size_t{18}, std::size_t{22}, cd + 20, cd + 24}) z[at] = 30;
  expect_refused<FormatError>(dir, z, "overlaps");
}

BOOST_AUTO_TEST_CASE(a_directory_listed_in_another_order_than_the_data_reads_correctly) {
  TempDir dir;
  const std::string text = inflated_text();
  const auto r = open_bytes(
      dir, build_zip({stored_entry("a.txt", "first"), deflated_entry("b.txt", kDeflated, text),
                      stored_entry("c.txt", "third")},
                     false, true));
  BOOST_TEST_REQUIRE(r.members().size() == 3u);
  BOOST_TEST(r.members()[0].name == "c.txt");  // central directory order
  BOOST_TEST(to_string(r.member("a.txt").bytes) == "first");
  BOOST_TEST(to_string(r.member("b.txt").bytes) == text);
  BOOST_TEST(to_string(r.member("c.txt").bytes) == "third");
  // A compressed member whose UTF-8 name libarchive cannot show in the C locale is still found.
  ZipEntry utf8 = deflated_entry("assets/\xc3\xa4.txt", kDeflated, text);
  utf8.flags = 0x800;  // "name is UTF-8"
  const auto u = open_bytes(dir, build_zip({stored_entry("config.json", "{}"), utf8}));
  BOOST_TEST(to_string(u.member("assets/\xc3\xa4.txt").bytes) == text);
}

BOOST_AUTO_TEST_CASE(zip64_records_are_read) {
  TempDir dir;
  const std::string text = inflated_text();
  const auto r = open_bytes(dir, build_zip({stored_entry("config.json", "{\"zip64\": true}"),
                                            deflated_entry("notes.txt", kDeflated, text),
                                            stored_entry("model.weights.h5", kHdf5Signature)},
                                           true));
  BOOST_TEST_REQUIRE(r.members().size() == 3u);
  BOOST_TEST(r.members()[0].uncompressed_size == 15u);
  BOOST_TEST(to_string(r.member("config.json").bytes) == "{\"zip64\": true}");
  BOOST_TEST(to_string(r.member("notes.txt").bytes) == text);
  BOOST_TEST(to_string(r.member("model.weights.h5").bytes) == kHdf5Signature);
}

BOOST_AUTO_TEST_SUITE_END()

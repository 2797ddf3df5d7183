// Helpers for the io tests: temp directories, file I/O, golden cases, and hand-written encoders
// (CRC-32, a fixed-Huffman DEFLATE encoder, a zip composer) written from RFC 1951 / PKWARE APPNOTE
// so that tests build hostile inputs byte by byte, independently of the code under test.
#pragma once

#include <rapidjson/document.h>
#include <stdlib.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace kserde::test {

namespace fs = std::filesystem;

inline fs::path golden_dir() {
  return fs::path(KSERDE_TEST_DATA_DIR) / "golden";
}

// Every golden case directory that holds a model.keras, sorted.
inline std::vector<fs::path> golden_cases() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(golden_dir())) {
    if (fs::exists(e.path() / "case.json")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in, "cannot read " << p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void spit(const fs::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  BOOST_REQUIRE_MESSAGE(out.good(), "cannot write " << p);
}

inline rapidjson::Document load_json(const fs::path& p) {
  rapidjson::Document d;
  d.Parse(slurp(p));
  BOOST_REQUIRE_MESSAGE(!d.HasParseError() && d.IsObject(), "bad JSON in " << p);
  return d;
}

inline std::span<const std::byte> as_bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}
inline std::string to_string(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// A fresh directory removed (with its contents) at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "kserde-io-test-XXXXXX").string();
    BOOST_REQUIRE(::mkdtemp(templ.data()) != nullptr);
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// CRC-32 (IEEE, reflected, as zip uses), bit by bit.
inline std::uint32_t crc32(std::string_view data) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (char ch : data) {
    c ^= static_cast<unsigned char>(ch);
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

// RFC 1951 stream of `count` copies of `c`: one fixed-Huffman block, a literal, then
// back-references of length 258 at distance 1 (13 bits per 258 bytes: a ratio of ~158).
inline std::string deflate_repeat(char c, std::uint64_t count) {
  std::string out;
  std::uint32_t acc = 0;
  int nbits = 0;
  auto bits = [&](std::uint32_t v, int n) {  // LSB first
    for (int i = 0; i < n; ++i) {
      acc |= ((v >> i) & 1u) << nbits;
      if (++nbits == 8) {
        out += static_cast<char>(acc);
        acc = 0;
        nbits = 0;
      }
    }
  };
  auto code = [&](std::uint32_t v, int n) {  // Huffman codes go MSB first
    for (int i = n - 1; i >= 0; --i) bits((v >> i) & 1u, 1);
  };
  auto literal = [&](unsigned char l) { code(0x30 + l, 8); };  // literals 0..143: 8 bits
  bits(1, 1);                                                  // BFINAL
  bits(1, 2);                                                  // BTYPE = 01, fixed Huffman
  std::uint64_t left = count;
  if (left > 0) {
    literal(static_cast<unsigned char>(c));
    --left;
  }
  for (; left >= 258; left -= 258) {
    code(0xC0 + (285 - 280), 8);  // length 258 (symbol 285, no extra bits)
    code(0, 5);                   // distance 1 (code 0)
  }
  for (; left > 0; --left) literal(static_cast<unsigned char>(c));
  code(0, 7);  // end of block (symbol 256)
  if (nbits) out += static_cast<char>(acc);
  return out;
}

// A zip member as it will be laid out: `data` is what lies in the file (already compressed).
struct ZipEntry {
  std::string name;
  std::string data;
  std::uint16_t method = 0;
  std::uint32_t crc = 0;
  std::uint64_t size = 0;  // uncompressed
  std::uint16_t flags = 0;
};

inline ZipEntry stored_entry(std::string name, std::string content) {
  ZipEntry e{std::move(name), std::move(content)};
  e.crc = crc32(e.data);
  e.size = e.data.size();
  return e;
}

inline ZipEntry deflated_entry(std::string name, std::string deflated, std::string_view plain) {
  ZipEntry e{std::move(name), std::move(deflated), 8};
  e.crc = crc32(plain);
  e.size = plain.size();
  return e;
}

// Composes a zip per APPNOTE 4.3. With zip64, every size and offset goes into ZIP64 extra fields
// and a ZIP64 end record (as writers do for > 4 GiB archives), with all-ones in the 32-bit fields.
// With reverse_directory, the central directory lists the members in the opposite order.
inline std::string build_zip(const std::vector<ZipEntry>& entries, bool zip64 = false,
                             bool reverse_directory = false) {
  auto le = [](std::string& s, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  std::string out;
  std::vector<std::string> records;
  for (const ZipEntry& e : entries) {
    const std::uint64_t offset = out.size();
    std::string lextra, cextra;
    if (zip64) {
      le(lextra, 1, 2), le(lextra, 16, 2), le(lextra, e.size, 8), le(lextra, e.data.size(), 8);
      le(cextra, 1, 2), le(cextra, 24, 2), le(cextra, e.size, 8), le(cextra, e.data.size(), 8);
      le(cextra, offset, 8);
    }
    const std::uint64_t csize32 = zip64 ? 0xFFFFFFFF : e.data.size();
    const std::uint64_t usize32 = zip64 ? 0xFFFFFFFF : e.size;
    out += "PK\x03\x04";
    le(out, zip64 ? 45 : 20, 2), le(out, e.flags, 2), le(out, e.method, 2), le(out, 0, 2);
    le(out, 0x21, 2), le(out, e.crc, 4), le(out, csize32, 4), le(out, usize32, 4);
    le(out, e.name.size(), 2), le(out, lextra.size(), 2);
    out += e.name + lextra + e.data;
    std::string& cd = records.emplace_back();
    cd += "PK\x01\x02";
    le(cd, 0x0314, 2), le(cd, zip64 ? 45 : 20, 2), le(cd, e.flags, 2), le(cd, e.method, 2);
    le(cd, 0, 2), le(cd, 0x21, 2), le(cd, e.crc, 4), le(cd, csize32, 4), le(cd, usize32, 4);
    le(cd, e.name.size(), 2), le(cd, cextra.size(), 2), le(cd, 0, 2), le(cd, 0, 2), le(cd, 0, 2);
    le(cd, 0x81800000u, 4), le(cd, zip64 ? 0xFFFFFFFF : offset, 4);
    cd += e.name + cextra;
  }
  if (reverse_directory) std::reverse(records.begin(), records.end());
  std::string cd;
  for (const auto& r : records) cd += r;
  const std::uint64_t cd_offset = out.size();
  out += cd;
  if (zip64) {
    const std::uint64_t z = out.size();
    out += "PK\x06\x06";
    le(out, 44, 8), le(out, 45, 2), le(out, 45, 2), le(out, 0, 4), le(out, 0, 4);
    le(out, entries.size(), 8), le(out, entries.size(), 8), le(out, cd.size(), 8),
        le(out, cd_offset, 8);
    out += "PK\x06\x07";
    le(out, 0, 4), le(out, z, 8), le(out, 1, 4);
  }
  out += "PK\x05\x06";
  le(out, 0, 2), le(out, 0, 2);
  le(out, zip64 ? 0xFFFF : entries.size(), 2), le(out, zip64 ? 0xFFFF : entries.size(), 2);
  le(out, zip64 ? 0xFFFFFFFF : cd.size(), 4), le(out, zip64 ? 0xFFFFFFFF : cd_offset, 4),
      le(out, 0, 2);
  return out;
}

}  // namespace kserde::test

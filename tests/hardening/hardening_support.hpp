// Helpers for the hardening tests: a minimal zip writer that can lie (hostile archives), and a
// runner for the `kserde` command in a child process with a time limit and an address-space limit.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kserde::test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;  // sanitizers reserve terabytes of address space
#else
inline constexpr bool kSanitized = false;
#endif

struct ZipEntry {
  ZipEntry(std::string n, std::string d, bool def = true,
           std::optional<std::uint32_t> size = std::nullopt,
           std::optional<std::uint32_t> crc = std::nullopt)
      : name(std::move(n)), data(std::move(d)), deflate(def), lie_size(size), lie_crc(crc) {}
  std::string name;
  std::string data;
  bool deflate = true;
  std::optional<std::uint32_t> lie_size;  // uncompressed size to claim
  std::optional<std::uint32_t> lie_crc;
};

inline std::string raw_deflate(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A zip archive (no zip64) holding `entries` as given, names unchecked.
inline std::string make_zip(const std::vector<ZipEntry>& entries) {
  std::string out;
  std::string central;
  auto u16 = [](std::string& s, unsigned v) {
    s += static_cast<char>(v & 0xff);
    s += static_cast<char>((v >> 8) & 0xff);
  };
  auto u32 = [&](std::string& s, std::uint32_t v) {
    u16(s, v & 0xffff);
    u16(s, v >> 16);
  };
  for (const ZipEntry& e : entries) {
    const std::string body = e.deflate ? raw_deflate(e.data) : e.data;
    const std::uint32_t crc = e.lie_crc.value_or(static_cast<std::uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(e.data.data()), static_cast<uInt>(e.data.size()))));
    const std::uint32_t usize = e.lie_size.value_or(static_cast<std::uint32_t>(e.data.size()));
    const auto offset = static_cast<std::uint32_t>(out.size());
    auto header = [&](std::string& s, bool is_central) {
      u32(s, is_central ? 0x02014b50u : 0x04034b50u);
      if (is_central) u16(s, 20);
      u16(s, 20);
      u16(s, 0);
      u16(s, e.deflate ? 8 : 0);
      u16(s, 0);
      u16(s, 0x21);
      u32(s, crc);
      u32(s, static_cast<std::uint32_t>(body.size()));
      u32(s, usize);
      u16(s, static_cast<unsigned>(e.name.size()));
      u16(s, 0);
      if (is_central) {
        u16(s, 0);
        u16(s, 0);
        u16(s, 0);
        u32(s, 0);
        u32(s, offset);
      }
      s += e.name;
    };
    header(out, false);
    out += body;
    header(central, true);
  }
  const auto cd_offset = static_cast<std::uint32_t>(out.size());
  out += central;
  u32(out, 0x06054b50u);
  u16(out, 0);
  u16(out, 0);
  u16(out, static_cast<unsigned>(entries.size()));
  u16(out, static_cast<unsigned>(entries.size()));
  u32(out, static_cast<std::uint32_t>(central.size()));
  u32(out, cd_offset);
  u16(out, 0);
  return out;
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct ChildResult {
  bool timed_out = false;
  int status = -1;  // exit status, or -signal
  std::string out;
  std::string err;
  double seconds = 0;
};

// Runs `argv` with stdout/stderr captured in `scratch`, killed after `timeout`; outside sanitizer
// builds the child's address space is limited to `max_as_bytes`.
inline ChildResult run_child(const std::vector<std::string>& argv, const std::filesystem::path& scratch,
                             std::chrono::milliseconds timeout,
                             std::uint64_t max_as_bytes = 2ULL << 30) {
  const auto out_path = scratch / "child.out";
  const auto err_path = scratch / "child.err";
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (o < 0 || e < 0) ::_exit(126);
    ::dup2(o, 1);
    ::dup2(e, 2);
    if (!kSanitized) {
      rlimit lim{max_as_bytes, max_as_bytes};
      ::setrlimit(RLIMIT_AS, &lim);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ChildResult r;
  int raw = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &raw, WNOHANG);
    if (w == pid) break;
    if (std::chrono::steady_clock::now() - start > timeout) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &raw, 0);
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : WIFSIGNALED(raw) ? -WTERMSIG(raw) : -1;
  r.out = read_bytes(out_path);
  r.err = read_bytes(err_path);
  return r;
}

inline std::size_t count_lines(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace kserde::test

// AtomicFile and write_file_atomic, including a child process killed mid-write.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <random>
#include <regex>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io_test_util.hpp"
#include "kserde/error.hpp"
#include "kserde/io/atomic_file.hpp"

using namespace kserde;
using namespace kserde::test;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

const std::regex kTempName(R"(\.model\.keras\.kserde-tmp-[A-Za-z0-9]{6})");

}  // namespace

BOOST_AUTO_TEST_SUITE(io_atomic_file)

BOOST_AUTO_TEST_CASE(commit_replaces_the_target_and_leaves_only_the_target) {
  TempDir dir;
  const auto target = dir / "model.keras";
  spit(target, "old");
  {
    io::AtomicFile f(target);
    BOOST_TEST(f.target() == target);
    BOOST_TEST(f.temp_path().parent_path() == dir.path());
    BOOST_TEST(std::regex_match(f.temp_path().filename().string(), kTempName));
    BOOST_TEST(fs::exists(f.temp_path()));
    BOOST_TEST(fs::file_size(f.temp_path()) == 0u);
    spit(f.temp_path(), "new content");
    BOOST_TEST(slurp(target) == "old");  // untouched until commit
    f.commit();
    BOOST_TEST(!fs::exists(f.temp_path()));
    BOOST_CHECK_THROW(f.commit(), IoError);
  }
  BOOST_TEST(slurp(target) == "new content");
  BOOST_TEST(entries(dir.path()) == std::vector<std::string>{"model.keras"});
}

BOOST_AUTO_TEST_CASE(destruction_without_commit_keeps_the_target_and_removes_the_temp) {
  TempDir dir;
  const auto target = dir / "model.keras";
  spit(target, "old");
  fs::path temp;
  {
    io::AtomicFile f(target);
    temp = f.temp_path();
    spit(temp, "half written");
  }
  BOOST_TEST(!fs::exists(temp));
  BOOST_TEST(slurp(target) == "old");
  BOOST_TEST(entries(dir.path()) == std::vector<std::string>{"model.keras"});
  // Also when no target existed: nothing appears.
  { io::AtomicFile f(dir / "fresh.bin"); }
  BOOST_TEST(!fs::exists(dir / "fresh.bin"));
}

BOOST_AUTO_TEST_CASE(write_file_atomic_creates_and_replaces_with_sane_permissions) {
  TempDir dir;
  const mode_t old_mask = ::umask(022);
  io::write_file_atomic(dir / "a.txt", "first");
  BOOST_TEST(slurp(dir / "a.txt") == "first");
  BOOST_TEST((fs::status(dir / "a.txt").permissions() ==
              (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
               fs::perms::others_read)));
  // Replacing keeps the existing file's mode.
  fs::permissions(dir / "a.txt",
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  io::write_file_atomic(dir / "a.txt", std::string(100000, 'z'));
  BOOST_TEST(slurp(dir / "a.txt") == std::string(100000, 'z'));
  BOOST_TEST((fs::status(dir / "a.txt").permissions() ==
              (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read)));
  io::write_file_atomic(dir / "a.txt", "");
  BOOST_TEST(fs::file_size(dir / "a.txt") == 0u);
  ::umask(old_mask);
  BOOST_TEST(entries(dir.path()) == std::vector<std::string>{"a.txt"});
}

BOOST_AUTO_TEST_CASE(an_unwritable_location_is_an_io_error_naming_the_target) {
  TempDir dir;
  BOOST_CHECK_EXCEPTION(
      io::write_file_atomic(dir / "no/such/dir/x.keras", "x"), IoError,
      [](const IoError& e) { return std::string(e.what()).find("x.keras") != std::string::npos; });
  BOOST_CHECK_THROW(io::AtomicFile(dir.path() / ""), IoError);
}

BOOST_AUTO_TEST_CASE(
    a_writer_killed_at_random_moments_leaves_old_or_new_content_and_only_temp_files) {
  TempDir dir;
  const auto target = dir / "model.keras";
  const std::size_t size = 4u << 20;
  std::string old_content(size, 'o'), new_content(size, 'n');
  old_content.replace(0, 4, "OLD!");
  new_content.replace(size - 4, 4, "NEW!");

  // Calibrate: how long one complete atomic write takes here.
  const auto t0 = std::chrono::steady_clock::now();
  io::write_file_atomic(target, new_content);
  const auto write_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();

  std::mt19937 rng(12345);
  std::uniform_int_distribution<long> delay(0, std::max<long>(200, write_us * 6 / 5));
  int saw_old = 0, saw_new = 0, strays = 0;
  for (int iter = 0; iter < 30; ++iter) {
    io::write_file_atomic(target, old_content);
    const pid_t pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
      try {
        io::write_file_atomic(target, new_content);
      } catch (...) {
        ::_exit(1);
      }
      ::_exit(0);
    }
    ::usleep(static_cast<useconds_t>(delay(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
    BOOST_TEST((WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0)));

    const std::string now = slurp(target);
    BOOST_TEST_CONTEXT("iteration " << iter) {
      BOOST_TEST((now == old_content || now == new_content));
      for (const auto& name : entries(dir.path())) {
        if (name == "model.keras") continue;
        BOOST_TEST(std::regex_match(name, kTempName), "unexpected file " << name);
        fs::remove(dir / name);
        ++strays;
      }
    }
    (now == old_content ? saw_old : saw_new) += 1;
  }
  BOOST_TEST_MESSAGE("one write took " << write_us << " us; killed runs left old content "
                                       << saw_old << " times, new content " << saw_new << " times, "
                                       << strays << " stray temp files");
  BOOST_TEST(saw_old + saw_new == 30);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(atomic_file_stale_temps)

// A save killed mid-way leaves its temp file; the next save of the same target removes it once
// no process holds its lock and it is older than a minute — and never touches a live one.
BOOST_AUTO_TEST_CASE(stale_temp_files_of_killed_saves_are_removed_by_the_next_save) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("kserde-stale-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto target = dir / "model.keras";
  const auto stale = dir / ".model.keras.kserde-tmp-AbC123";
  const auto fresh = dir / ".model.keras.kserde-tmp-XyZ789";
  const auto other = dir / ".other.keras.kserde-tmp-AbC123";
  for (const auto& p : {stale, fresh, other}) std::ofstream(p) << "partial";
  const auto old = std::filesystem::file_time_type::clock::now() - std::chrono::minutes(5);
  std::filesystem::last_write_time(stale, old);
  std::filesystem::last_write_time(other, old);
  {
    kserde::io::AtomicFile live(target);  // holds its own temp's lock
    kserde::io::write_file_atomic(target, "new");
    BOOST_TEST(std::filesystem::exists(live.temp_path()));
  }
  BOOST_TEST(!std::filesystem::exists(stale));
  BOOST_TEST(std::filesystem::exists(fresh));  // too young: may belong to a save starting now
  BOOST_TEST(std::filesystem::exists(other));  // another target's
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()

// Every HDF5 file of the golden corpus (written by Keras 3.16 through h5py) reads with kserde
// exactly as libhdf5 reads it: groups, members, shapes, dataset values and attributes. The
// model.weights.h5 members of the .keras archives are read in place (a byte range of the .keras
// file), so extents report absolute offsets in the archive.
#include <archive.h>
#include <archive_entry.h>

#include "hdf5_test_util.hpp"

using namespace h5test;
namespace kh = kserde::hdf5;

namespace {

std::vector<std::byte> extract_member(const std::vector<std::byte>& zip, const std::string& member) {
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_zip(a.get());
  BOOST_REQUIRE(archive_read_open_memory(a.get(), zip.data(), zip.size()) == ARCHIVE_OK);
  archive_entry* e = nullptr;
  while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
    if (member != archive_entry_pathname(e)) continue;
    std::vector<std::byte> out(static_cast<std::size_t>(archive_entry_size(e)));
    BOOST_REQUIRE(archive_read_data(a.get(), out.data(), out.size()) == static_cast<la_ssize_t>(out.size()));
    return out;
  }
  BOOST_FAIL("no member " << member);
  return {};
}

std::vector<fs::path> golden_h5_files() {
  std::vector<fs::path> out;
  const fs::path g = data_dir() / "golden";
  for (const char* rel : {"mlp/model.weights.h5", "mlp/model.h5", "mlp/model_unzipped/model.weights.h5"}) out.push_back(g / rel);
  for (const auto& e : fs::directory_iterator(g / "sharded_weights" / "sharded"))
    if (e.path().extension() == ".h5") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> golden_keras_files() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(data_dir() / "golden"))
    if (fs::exists(e.path() / "model.keras")) out.push_back(e.path() / "model.keras");
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hdf5_golden)

BOOST_AUTO_TEST_CASE(golden_h5_files_read_like_libhdf5) {
  const auto files = golden_h5_files();
  BOOST_TEST(files.size() >= 6u);
  for (const auto& p : files) compare_models(h5_model(p), kserde_model(read_bytes(p), p.filename().string()), p.string());
}

BOOST_AUTO_TEST_CASE(golden_keras_weights_members_read_in_place_like_libhdf5) {
  TempDir dir;
  const auto files = golden_keras_files();
  BOOST_TEST(files.size() >= 9u);
  for (const auto& p : files) {
    const auto zip = read_bytes(p);
    const auto member = extract_member(zip, "model.weights.h5");
    // STORED member: its bytes appear verbatim in the archive.
    const auto it = std::search(zip.begin(), zip.end(), member.begin(), member.begin() + 64);
    BOOST_REQUIRE(it != zip.end());
    const auto offset = static_cast<std::uint64_t>(it - zip.begin());
    BOOST_REQUIRE(std::equal(member.begin(), member.end(), it));
    const auto tmp = dir / "member.h5";
    write_bytes(tmp, std::string(reinterpret_cast<const char*>(member.data()), member.size()));
    const std::string name = p.parent_path().filename().string() + "/model.keras!model.weights.h5";
    // Read in place: a range of the archive's bytes with its absolute offset.
    auto owner = std::make_shared<std::vector<std::byte>>(zip);
    kserde::io::ByteSource src{std::span<const std::byte>(*owner).subspan(static_cast<std::size_t>(offset), member.size()), owner, offset, name};
    const auto f = kh::File::open(src);
    FileModel got;
    kserde_walk(f.root(), got);
    compare_models(h5_model(tmp), got, name);
    // Extents are absolute offsets in the archive and hold the dataset's bytes.
    std::vector<kh::Group> stack{f.root()};
    int checked = 0;
    while (!stack.empty()) {
      const auto g = stack.back();
      stack.pop_back();
      for (const auto& n : g.member_names()) {
        if (g.member_kind(n) == kh::ObjectKind::Group) {
          stack.push_back(g.group(n));
          continue;
        }
        const auto d = g.dataset(n);
        const auto e = d.extent();
        if (!e) continue;
        std::vector<std::byte> buf(static_cast<std::size_t>(d.num_elements() * kserde::dtype_size(d.dtype())));
        d.read(buf, d.dtype());
        BOOST_TEST(e->length == buf.size());
        BOOST_TEST(std::equal(buf.begin(), buf.end(), zip.begin() + static_cast<std::ptrdiff_t>(e->file_offset)), d.path());
        ++checked;
      }
    }
    BOOST_TEST(checked > 0, name);
  }
}

BOOST_AUTO_TEST_CASE(legacy_h5_attributes_decode) {
  const auto f = kh::File::open(source_of(read_bytes(data_dir() / "golden/mlp/model.h5"), "model.h5"));
  const auto root = f.root();
  BOOST_TEST(root.attribute("model_config").as_string().find("\"class_name\"") != std::string::npos);
  BOOST_TEST(!root.attribute("keras_version").as_string().empty());
  const auto mw = root.group("model_weights");
  BOOST_TEST(!mw.attribute("layer_names").as_strings().empty());
  const auto layer_names = mw.attribute("layer_names");  // as_strings() refers into it
  for (const auto& layer : layer_names.as_strings()) {
    const auto g = mw.group(layer);
    const auto wn = g.attribute("weight_names");
    if (wn.is_string()) {
      for (const auto& w : wn.as_strings()) BOOST_TEST(g.find_dataset(w).has_value(), w);
    } else {
      BOOST_TEST(wn.as_doubles().empty());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

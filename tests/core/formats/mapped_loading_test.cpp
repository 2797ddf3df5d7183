// Zero-copy loading (LoadOptions::mmap_weights): weights borrow the mapped file for .keras,
// .weights.h5, unzipped directories and sharded sets written by kserde, predict exactly what a
// copying load predicts, and fall back to copying for chunked (libhdf5-written) and misaligned
// datasets.
#include <hdf5.h>

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "formats/weight_store.hpp"
#include "kserde/initializers.hpp"
#include "kserde/io/archive.hpp"
#include "kserde/io/byte_source.hpp"
#include "kserde/io/mapped_file.hpp"
#include "kserde/layers.hpp"
#include "kserde/saving.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<Sequential> mlp() {
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({784}));
  m->add(layers::Dense(32, "relu"));
  m->add(layers::Dense(10, "softmax"));
  initialize_weights(*m, 42);
  return m;
}

// (borrowed, total) over every variable of every layer.
std::pair<int, int> count_borrowed(Model& model) {
  int borrowed = 0, total = 0;
  for (const auto& l : model.layers()) {
    for (const Variable& v : l->variables()) {
      ++total;
      if (v.value.is_borrowed()) ++borrowed;
    }
  }
  return {borrowed, total};
}

LoadOptions mapped() {
  LoadOptions o;
  o.mmap_weights = true;
  return o;
}

void zero_weights(Model& model) {
  for (const auto& l : model.layers()) {
    for (auto& v : l->variables()) v.value = Tensor(v.value.shape(), v.value.dtype());
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(mapped_loading)

BOOST_AUTO_TEST_CASE(kserde_saved_keras_loads_mapped_and_predicts_the_same) {
  test::TempDir tmp;
  auto model = mlp();
  save_model(*model, tmp / "m.keras");
  const Tensor x = test::random_tensor({5, 784}, 11);
  auto copied = load_model(tmp / "m.keras");
  auto mapped_model = load_model(tmp / "m.keras", mapped());
  BOOST_TEST(count_borrowed(*copied).first == 0);
  // kserde's writer puts the weights member on a 64-byte boundary of the file and the datasets on
  // 64-byte boundaries of the HDF5 image, so every variable is borrowed.
  auto zip = io::ArchiveReader::open(tmp / "m.keras");
  BOOST_TEST(zip.member("model.weights.h5").file_offset % 64 == 0u);
  BOOST_TEST(count_borrowed(*mapped_model).first == 4);
  BOOST_TEST(count_borrowed(*mapped_model).second == 4);
  const Tensor y = mapped_model->predict(x);
  BOOST_TEST(y.bitwise_equal(copied->predict(x)));
  BOOST_TEST(y.bitwise_equal(model->predict(x)));
}

BOOST_AUTO_TEST_CASE(keras_member_at_an_aligned_offset_is_borrowed_in_place) {
  test::TempDir tmp;
  auto model = mlp();
  save_model(*model, tmp / "m.keras");
  std::string metadata, config, weights;
  {
    auto zip = io::ArchiveReader::open(tmp / "m.keras");
    auto text = [&](const char* name) {
      auto src = zip.member(name);
      return std::string(reinterpret_cast<const char*>(src.bytes.data()), src.bytes.size());
    };
    metadata = text("metadata.json");
    config = text("config.json");
    weights = text("model.weights.h5");
  }
  auto write = [&](const fs::path& p, const std::string& cfg, const std::string& w) {
    io::ArchiveWriter out(p);
    out.add("metadata.json", std::string_view(metadata));
    out.add("config.json", std::string_view(cfg));
    out.add("model.weights.h5", std::string_view(w));
    out.finish();
  };
  // Trailing JSON whitespace in config.json moves the weights member to a 64-byte boundary.
  write(tmp / "probe.keras", config, "");
  const auto probe = io::ArchiveReader::open(tmp / "probe.keras").member("model.weights.h5");
  config.append((64 - probe.file_offset % 64) % 64, ' ');
  write(tmp / "aligned.keras", config, weights);
  auto zip = io::ArchiveReader::open(tmp / "aligned.keras");
  const io::ByteSource member = zip.member("model.weights.h5");
  BOOST_REQUIRE(member.file_offset % 64 == 0);

  auto loaded = load_model(tmp / "aligned.keras", mapped());
  BOOST_TEST(count_borrowed(*loaded).first == 4);
  for (const auto& l : loaded->layers()) {
    for (const Variable& v : l->variables()) {
      // In the mapped file itself (the archive member range), 64-byte aligned.
      const auto* p = v.value.bytes().data();
      BOOST_TEST(reinterpret_cast<std::uintptr_t>(p) % 64 == 0);
    }
  }
  const Tensor x = test::random_tensor({5, 784}, 11);
  BOOST_TEST(loaded->predict(x).bitwise_equal(model->predict(x)));
}

BOOST_AUTO_TEST_CASE(borrowed_tensors_keep_the_mapping_alive) {
  test::TempDir tmp;
  auto model = mlp();
  save_weights(*model, tmp / "m.weights.h5");
  auto loaded = mlp();
  zero_weights(*loaded);
  load_weights(*loaded, tmp / "m.weights.h5", mapped());
  fs::remove(tmp / "m.weights.h5");  // the mapping outlives the directory entry
  const Tensor x = test::random_tensor({3, 784}, 2);
  BOOST_TEST(loaded->predict(x).bitwise_equal(model->predict(x)));
  // Copy on write: changing a borrowed variable copies it first.
  const auto layer_list = loaded->layers();
  Tensor& k = layer_list[0]->variables()[0].value;
  BOOST_REQUIRE(k.is_borrowed());
  k.mutable_values<float>()[0] += 1.0f;
  BOOST_TEST(!k.is_borrowed());
}

BOOST_AUTO_TEST_CASE(weights_h5_directory_and_sharded_forms_borrow_too) {
  test::TempDir tmp;
  auto model = mlp();
  const Tensor x = test::random_tensor({4, 784}, 5);
  const Tensor want = model->predict(x);

  save_weights(*model, tmp / "m.weights.h5");
  auto a = mlp();
  zero_weights(*a);
  load_weights(*a, tmp / "m.weights.h5", mapped());
  BOOST_TEST(count_borrowed(*a).first == 4);
  BOOST_TEST(a->predict(x).bitwise_equal(want));

  save_model(*model, tmp / "dir_model");
  auto d = load_model(tmp / "dir_model", mapped());
  BOOST_TEST(count_borrowed(*d).first == 4);
  BOOST_TEST(d->predict(x).bitwise_equal(want));

  SaveOptions sharded;
  sharded.max_shard_size = 110'000;  // the first kernel is 100352 bytes
  save_weights(*model, tmp / "s.weights.json", sharded);
  auto s = mlp();
  zero_weights(*s);
  load_weights(*s, tmp / "s.weights.json", mapped());
  BOOST_TEST(count_borrowed(*s).first == 4);
  BOOST_TEST(s->predict(x).bitwise_equal(want));
}

BOOST_AUTO_TEST_CASE(chunked_datasets_written_by_libhdf5_are_copied) {
  test::TempDir tmp;
  auto model = mlp();
  const fs::path file = tmp / "chunked.weights.h5";
  {
    hid_t f = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    BOOST_REQUIRE(f >= 0);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    const auto layer_list = model->layers();
    for (std::size_t li = 0; li < layer_list.size(); ++li) {
      const auto& l = layer_list[li];
      // The saving traversal names groups by class: dense, dense_1 (spec §5.2).
      const std::string path = std::string("layers/dense") + (li ? "_" + std::to_string(li) : "") + "/vars";
      hid_t g = H5Gcreate2(f, path.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT);
      BOOST_REQUIRE(g >= 0);
      const auto& vars = l->variables();
      for (std::size_t i = 0; i < vars.size(); ++i) {
        const Tensor& t = vars[i].value;
        std::vector<hsize_t> dims(t.shape().begin(), t.shape().end());
        hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        std::vector<hsize_t> chunk = dims;
        chunk[0] = (chunk[0] + 1) / 2;  // two chunks along the first axis
        H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
        hid_t ds = H5Dcreate2(g, std::to_string(i).c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT,
                              dcpl, H5P_DEFAULT);
        BOOST_REQUIRE(ds >= 0);
        BOOST_REQUIRE(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.f32()) >= 0);
        H5Dclose(ds);
        H5Pclose(dcpl);
        H5Sclose(space);
      }
      H5Gclose(g);
    }
    H5Pclose(lcpl);
    H5Fclose(f);
  }
  auto loaded = mlp();
  zero_weights(*loaded);
  load_weights(*loaded, file, mapped());
  BOOST_TEST(count_borrowed(*loaded).first == 0);
  const Tensor x = test::random_tensor({4, 784}, 6);
  BOOST_TEST(loaded->predict(x).bitwise_equal(model->predict(x)));
}

BOOST_AUTO_TEST_CASE(misaligned_data_is_copied) {
  test::TempDir tmp;
  auto model = mlp();
  save_weights(*model, tmp / "m.weights.h5");
  const io::ByteSource file = io::map_file(tmp / "m.weights.h5");
  // The same image one byte past an aligned address: no float32 dataset is 4-aligned there.
  auto buffer = std::shared_ptr<std::byte[]>(new std::byte[file.bytes.size() + 64]);
  std::byte* start = buffer.get() + 1;
  std::memcpy(start, file.bytes.data(), file.bytes.size());
  io::ByteSource shifted{{start, file.bytes.size()}, buffer, 0, "shifted.weights.h5"};
  auto loaded = mlp();
  zero_weights(*loaded);
  auto store = weights::open_h5(std::move(shifted), mapped());
  weights::load_into(*loaded, *store, true);
  BOOST_TEST(count_borrowed(*loaded).first == 0);
  const Tensor x = test::random_tensor({4, 784}, 8);
  BOOST_TEST(loaded->predict(x).bitwise_equal(model->predict(x)));
}

BOOST_AUTO_TEST_SUITE_END()

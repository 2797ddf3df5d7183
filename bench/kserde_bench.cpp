// kserde's benchmark suite (driven by bench/run.sh, which writes bench/RESULTS.md). Every section
// prints rows "ROW<TAB>work<TAB>kserde<TAB>reference<TAB>ratio<TAB>goal" and free-form notes
// "NOTE<TAB>text". Benchmarks are never tests: nothing fails on time.
//   kserde_bench load  <tmpdir>            load a ~256 MB .keras / .weights.h5 (copying, mapped)
//   kserde_bench save  <tmpdir>            save it vs write+fsync of the same bytes
//   kserde_bench rss   <mode> <file>       (child) peak RSS of one load-copy|load-mapped|save|idle
//   kserde_bench infer <golden dir>        predict: golden mlp/cnn, 3xConv2D CNN, 256 MB MLP; 1 and
//                                          all threads; also "KSERDE" lines for bench/run.sh
//   kserde_bench export <golden dir> <out> the same cases for kserde_torch_bench (torch_bench.cpp)
//   kserde_bench train <outdir> [digits.csv.gz]
//                                          training steps/s (fit) of the seed workflow's digits CNN
//                                          and an MLP 784-256-256-10 at 1 and 2 threads, as
//                                          "KTRAIN" lines; writes each case (initial weights, data)
//                                          to <outdir> for kserde_torch_bench --train
//   kserde_bench plugin <library>          (child) time of load_plugin
//   kserde_bench spawn <runs> <cmd...>     median wall time of a command, start to exit
//   kserde_bench arch <name> <dir> <batch>...
//                                          ResNet50 / MobileNetV2 (Keras's layer names and configs,
//                                          random weights) saved to <dir>/<name>.keras with inputs
//                                          <dir>/<name>_b<batch>.npy; prints "ARCH name batch
//                                          weight_bytes largest_live_set_bytes" per batch
//   kserde_bench peak <cmd...>             peak RSS (KiB) of a command run as a child
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

#include "io/crc32.hpp"
#include "kserde/functional.hpp"
#include "kserde/initializers.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/layers.hpp"
#include "kserde/model.hpp"
#include "kserde/plugin.hpp"
#include "kserde/saving.hpp"
#include "kserde/training.hpp"
#include "ops/thread_pool.hpp"
#include "timing.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using bench::Clock;
using bench::median;
using bench::since;
using bench::time_adaptive;
using bench::time_median;

std::string fmt_time(double s) {
  char b[32];
  if (s >= 1)
    std::snprintf(b, sizeof b, "%.2f s", s);
  else if (s >= 1e-3)
    std::snprintf(b, sizeof b, "%.2f ms", s * 1e3);
  else
    std::snprintf(b, sizeof b, "%.1f us", s * 1e6);
  return b;
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

void row(const std::string& work, const std::string& ks, const std::string& ref, double ratio,
         const std::string& goal) {
  std::printf("ROW\t%s\t%s\t%s\t%s\t%s\n", work.c_str(), ks.c_str(), ref.c_str(),
              std::isfinite(ratio) ? fmt("%.2fx", ratio).c_str() : "-", goal.c_str());
  std::fflush(stdout);
}

void note(const std::string& text) {
  std::printf("NOTE\t%s\n", text.c_str());
  std::fflush(stdout);
}

std::size_t size_of(const fs::path& p) {
  return static_cast<std::size_t>(fs::file_size(p));
}

void pread_into(const fs::path& p, std::byte* buf, std::size_t n) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("open " + p.string());
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(done));
    if (r <= 0) throw std::runtime_error("pread " + p.string());
    done += static_cast<std::size_t>(r);
  }
  ::close(fd);
}

// 4 Dense(4096) layers on a 4096-wide input: 4 * (4096*4096 + 4096) float32 = 268.5 MB.
std::shared_ptr<kserde::Sequential> big_mlp() {
  auto m = std::make_shared<kserde::Sequential>("big_mlp");
  m->add(kserde::layers::Input({4096}));
  for (int i = 0; i < 4; ++i) m->add(kserde::layers::Dense(4096, i < 3 ? "relu" : "linear"));
  kserde::initialize_weights(*m, 7);
  return m;
}

std::uint64_t weight_bytes(kserde::Model& m) {
  std::uint64_t n = 0;
  for (const auto& l : m.layers())
    for (const auto& v : l->variables()) n += v.value.nbytes();
  return n;
}

void ensure_big_files(const fs::path& dir) {
  if (fs::exists(dir / "big.keras") && fs::exists(dir / "big.weights.h5")) return;
  auto m = big_mlp();
  kserde::save_model(*m, dir / "big.keras");
  kserde::save_weights(*m, dir / "big.weights.h5");
}

// Reads the whole file once so that it is in the page cache.
void warm(const fs::path& p) {
  std::vector<std::byte> b(size_of(p));
  pread_into(p, b.data(), b.size());
}

std::string python_h5py_median(const fs::path& file) {
  const std::string script =
      "import h5py, time, sys\n"
      "f = h5py.File(sys.argv[1], 'r')\n"
      "names = []\n"
      "f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)\n"
      "ts = []\n"
      "for _ in range(6):\n"
      "    t0 = time.perf_counter()\n"
      "    arrs = [f[n][()] for n in names]\n"
      "    ts.append(time.perf_counter() - t0)\n"
      "    del arrs\n"
      "print(sorted(ts[1:])[len(ts[1:]) // 2])\n";
  const fs::path py = file.parent_path() / "h5py_read.py";
  if (FILE* f = std::fopen(py.c_str(), "w")) {
    std::fputs(script.c_str(), f);
    std::fclose(f);
  }
  const std::string cmd = "/usr/bin/python3 " + py.string() + " " + file.string() + " 2>/dev/null";
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  return out;
}

std::string threads_label(std::size_t n);

int cmd_load(const fs::path& dir) {
  ensure_big_files(dir);
  const fs::path keras = dir / "big.keras", h5 = dir / "big.weights.h5";
  warm(keras);
  warm(h5);
  const std::size_t n = size_of(keras);
  note("load: " + keras.filename().string() + " " + fmt("%.1f MB", static_cast<double>(n) / 1e6) +
       " (4 x Dense(4096) float32), from the page cache; medians of 5");

  const double fresh = time_median(5, [&] {
    std::unique_ptr<std::byte[]> b(new std::byte[n]);  // untouched: pread takes the page faults
    pread_into(keras, b.get(), n);
  });
  std::unique_ptr<std::byte[]> touched(new std::byte[n]);
  std::memset(touched.get(), 1, n);
  const double hot = time_median(5, [&] { pread_into(keras, touched.get(), n); });

  kserde::LoadOptions copy_opts, map_opts;
  map_opts.mmap_weights = true;
  const double copy = time_median(5, [&] { auto m = kserde::load_model(keras, copy_opts); });
  std::uint64_t wbytes = 0;
  const double mapped = time_median(5, [&] {
    auto m = kserde::load_model(keras, map_opts);
    wbytes = weight_bytes(*m);
  });
  int borrowed = 0, total = 0;
  {
    auto m = kserde::load_model(keras, map_opts);
    for (const auto& l : m->layers())
      for (const auto& v : l->variables()) {
        ++total;
        borrowed += v.value.is_borrowed() ? 1 : 0;
      }
  }
  row("load .keras, copying (fresh pread of the file = reference)", fmt_time(copy), fmt_time(fresh),
      copy / fresh, "<= 1.5x, and < 61 ms (LibTorch, issue table)");
  row("load .keras, copying (pread into a touched buffer = reference)", fmt_time(copy),
      fmt_time(hot), copy / hot, "(floor; page faults excluded)");
  row("load .keras, mapped (mmap_weights; fresh pread = reference)", fmt_time(mapped),
      fmt_time(fresh), mapped / fresh, "<= 0.2x");
  (void)wbytes;

  // CRC-32 verification (on by default above): its cost on the load, and the kernels against
  // zlib's crc32_z and against a plain read of the same bytes.
  kserde::LoadOptions copy_trust = copy_opts, map_trust = map_opts;
  copy_trust.verify_checksums = false;
  map_trust.verify_checksums = false;
  const double copy_nv = time_median(5, [&] { auto m = kserde::load_model(keras, copy_trust); });
  const double mapped_nv = time_median(5, [&] { auto m = kserde::load_model(keras, map_trust); });
  row("load .keras, copying, with CRC-32 check (verify_checksums = false = reference)",
      fmt_time(copy), fmt_time(copy_nv), copy / copy_nv, "<= 1.15x");
  row("load .keras, mapped, with CRC-32 check (verify_checksums = false = reference)",
      fmt_time(mapped), fmt_time(mapped_nv), mapped / mapped_nv, "(reads every byte once)");
  row("load .keras, mapped, with CRC-32 check (pread into a touched buffer = reference)",
      fmt_time(mapped), fmt_time(hot), mapped / hot, "");
  const std::span<const std::byte> all(touched.get(), n);
  std::uint32_t sink = 0;
  const double crc_zlib = time_median(5, [&] { sink ^= kserde::io::detail::crc32_zlib(all, 0); });
  const double crc_one = time_median(5, [&] { sink ^= kserde::io::crc32(all); });
  const double crc_all = time_median(5, [&] { sink ^= kserde::io::crc32_parallel(all); });
  row(std::string("CRC-32 of the file in memory, 1 thread, ") + kserde::io::crc32_kernel() +
          " (zlib crc32_z = reference)",
      fmt_time(crc_one), fmt_time(crc_zlib), crc_one / crc_zlib, "<= 0.5x");
  row("CRC-32 of the file in memory, " + threads_label(kserde::ops::num_threads()) +
          " (pread into a touched buffer = reference)",
      fmt_time(crc_all), fmt_time(hot), crc_all / hot, "<= 1.0x");
  char crc_note[160];
  std::snprintf(crc_note, sizeof crc_note,
                "CRC-32: %.1f GB/s with %s on one thread, %.1f GB/s with zlib (check value %08x)",
                static_cast<double>(n) / crc_one / 1e9, kserde::io::crc32_kernel(),
                static_cast<double>(n) / crc_zlib / 1e9, static_cast<unsigned>(sink));
  note(crc_note);

  // Weights file: kserde load_weights vs h5py reading every dataset.
  auto model = big_mlp();
  const double lw = time_median(5, [&] { kserde::load_weights(*model, h5); });
  const std::string py = python_h5py_median(h5);
  const double h5py_s = py.empty() ? NAN : std::atof(py.c_str());
  row("load_weights .weights.h5, copying (h5py reading every dataset = reference)", fmt_time(lw),
      py.empty() ? "h5py unavailable" : fmt_time(h5py_s), lw / h5py_s, "<= 1.0x");
  kserde::LoadOptions wmap;
  wmap.mmap_weights = true;
  const double lwm = time_median(5, [&] { kserde::load_weights(*model, h5, wmap); });
  int wb = 0;
  for (const auto& l : model->layers())
    for (const auto& v : l->variables()) wb += v.value.is_borrowed() ? 1 : 0;
  row("load_weights .weights.h5, mapped (fresh pread = reference)", fmt_time(lwm), fmt_time(fresh),
      lwm / fresh, "<= 0.05x");
  note("mapped load_weights of the .weights.h5 borrowed " + std::to_string(wb) +
       "/8 tensors; the .keras above borrowed " + std::to_string(borrowed) + "/" +
       std::to_string(total));
  return 0;
}

void write_fsync(const fs::path& p, const std::byte* data, std::size_t n) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("open " + p.string());
  std::size_t done = 0;
  while (done < n) {
    const ssize_t w = ::write(fd, data + done, std::min<std::size_t>(n - done, 8u << 20));
    if (w <= 0) throw std::runtime_error("write " + p.string());
    done += static_cast<std::size_t>(w);
  }
  ::fsync(fd);
  ::close(fd);
}

int cmd_save(const fs::path& dir) {
  ensure_big_files(dir);
  auto m = kserde::load_model(dir / "big.keras");
  const std::size_t n = size_of(dir / "big.keras");
  std::unique_ptr<std::byte[]> data(new std::byte[n]);
  std::memset(data.get(), 3, n);
  const fs::path out = dir / "saved.keras", raw = dir / "raw.bin";
  // Alternating, each after a sync(): writeback left over from earlier work (or from the other
  // side's last run) would otherwise land in one side's timings.
  std::vector<double> kt, rt;
  for (int i = 0; i < 5; ++i) {
    ::sync();
    const auto t0 = Clock::now();
    kserde::save_model(*m, out);
    kt.push_back(since(t0));
    ::sync();
    const auto t1 = Clock::now();
    write_fsync(raw, data.get(), n);
    rt.push_back(since(t1));
  }
  const double ks = median(kt), ref = median(rt);
  fs::remove(raw);
  fs::remove(out);
  row("save .keras (write+fsync of the same bytes = reference)", fmt_time(ks), fmt_time(ref),
      ks / ref, "<= 1.5x");
  return 0;
}

long rss_now_kb() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

// Peak RSS (VmHWM) since the last reset_peak(): Linux resets it on "5" > /proc/self/clear_refs.
long peak_kb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  long kb = 0;
  char line[256];
  while (f && std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) kb = std::atol(line + 6);
  }
  if (f) std::fclose(f);
  return kb;
}

void reset_peak() {
  if (FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);
    std::fclose(f);
  }
}

int cmd_rss(const std::string& mode, const fs::path& file) {
  long before = rss_now_kb();
  if (mode == "load-copy" || mode == "load-mapped") {
    kserde::LoadOptions o;
    o.mmap_weights = mode == "load-mapped";
    auto m = kserde::load_model(file, o);
    std::printf("%ld %ld\n", peak_kb(), before);
  } else if (mode == "weights-copy" || mode == "weights-mapped") {
    auto m = big_mlp();
    kserde::LoadOptions o;
    o.mmap_weights = mode == "weights-mapped";
    before = rss_now_kb();
    reset_peak();
    kserde::load_weights(*m, file, o);
    std::printf("%ld %ld\n", peak_kb(), before);
  } else if (mode == "save") {
    auto m = kserde::load_model(file);
    before = rss_now_kb();
    reset_peak();
    kserde::save_model(*m, file.parent_path() / "rss_saved.keras");
    std::printf("%ld %ld\n", peak_kb(), before);
    fs::remove(file.parent_path() / "rss_saved.keras");
  } else {
    std::printf("%ld %ld\n", peak_kb(), before);
  }
  return 0;
}

// ---- inference ---------------------------------------------------------------------------------

kserde::Tensor random_input(kserde::Shape shape, unsigned seed) {
  kserde::Tensor t(std::move(shape), kserde::DType::Float32);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(0.0f, 1.0f);
  for (float& v : t.mutable_values<float>()) v = d(rng);
  return t;
}

// Naive reference for the 3xConv2D CNN: direct 3x3 'same' convolution + bias + relu loops,
// then flatten + dense, one thread.
struct NaiveCnn {
  struct Conv {
    std::int64_t cin, cout;
    const float* w;  // (3, 3, cin, cout)
    const float* b;
  };
  std::vector<Conv> convs;
  const float* dw = nullptr;
  const float* db = nullptr;
  std::int64_t units = 0;

  std::vector<float> run(const float* x, std::int64_t n, std::int64_t h, std::int64_t wd,
                         std::int64_t c) const {
    std::vector<float> cur(x, x + n * h * wd * c), next;
    for (const Conv& cv : convs) {
      next.assign(static_cast<std::size_t>(n * h * wd * cv.cout), 0.0f);
      for (std::int64_t b = 0; b < n; ++b)
        for (std::int64_t i = 0; i < h; ++i)
          for (std::int64_t j = 0; j < wd; ++j) {
            float* o = next.data() + ((b * h + i) * wd + j) * cv.cout;
            for (std::int64_t f = 0; f < cv.cout; ++f) o[f] = cv.b[f];
            for (std::int64_t di = 0; di < 3; ++di)
              for (std::int64_t dj = 0; dj < 3; ++dj) {
                const std::int64_t y = i + di - 1, z = j + dj - 1;
                if (y < 0 || y >= h || z < 0 || z >= wd) continue;
                const float* in = cur.data() + ((b * h + y) * wd + z) * cv.cin;
                const float* k = cv.w + (di * 3 + dj) * cv.cin * cv.cout;
                for (std::int64_t ch = 0; ch < cv.cin; ++ch)
                  for (std::int64_t f = 0; f < cv.cout; ++f) o[f] += in[ch] * k[ch * cv.cout + f];
              }
            for (std::int64_t f = 0; f < cv.cout; ++f) o[f] = std::max(o[f], 0.0f);
          }
      cur.swap(next);
    }
    const std::int64_t feat = static_cast<std::int64_t>(cur.size()) / n;
    std::vector<float> out(static_cast<std::size_t>(n * units));
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t u = 0; u < units; ++u) {
        float s = db[u];
        for (std::int64_t i = 0; i < feat; ++i)
          s += cur[static_cast<std::size_t>(b * feat + i)] * dw[i * units + u];
        out[static_cast<std::size_t>(b * units + u)] = s;
      }
    return out;
  }
};

std::shared_ptr<kserde::Sequential> conv_cnn() {
  auto m = std::make_shared<kserde::Sequential>("conv_cnn");
  m->add(kserde::layers::Input({64, 64, 3}));
  for (int f : {64, 128, 128}) {
    m->add(kserde::layers::from_config(
        "Conv2D",
        "{\"filters\": " + std::to_string(f) +
            ", \"kernel_size\": [3, 3], \"padding\": \"same\", \"activation\": \"relu\"}"));
  }
  m->add(kserde::layers::Flatten());
  m->add(kserde::layers::Dense(10));
  kserde::initialize_weights(*m, 5);
  return m;
}

// The inference cases of `infer` and `export`. Inputs are random_input(seed 1) of each batch.
struct InferCase {
  std::string slug;  // directory name in `export`, key of the KSERDE/TORCH lines
  std::string name;  // as the rows name it
  std::shared_ptr<kserde::Model> model;
  kserde::Shape sample;  // input shape without the batch axis
  std::vector<std::int64_t> batches;
};

std::vector<InferCase> infer_cases(const fs::path& golden) {
  std::vector<InferCase> cases;
  for (const char* g : {"mlp", "cnn"}) {
    auto m = kserde::load_model(golden / g / "model.keras");
    const kserde::Shape full = kserde::io::read_npy(golden / g / "input.npy").shape();
    cases.push_back({std::string("golden_") + g,
                     std::string("golden ") + g,
                     m,
                     kserde::Shape(full.begin() + 1, full.end()),
                     {1, 64}});
  }
  cases.push_back(
      {"conv_cnn", "3xConv2D(64,128,128) 64x64x3 + Dense(10)", conv_cnn(), {64, 64, 3}, {1, 64}});
  // Batch 16 is the reference point of the issue that asked for this comparison.
  cases.push_back({"big_mlp", "256 MB MLP (4 x Dense(4096))", big_mlp(), {4096}, {1, 16, 64}});
  return cases;
}

kserde::Tensor case_input(const InferCase& c, std::int64_t batch) {
  kserde::Shape shape{batch};
  shape.insert(shape.end(), c.sample.begin(), c.sample.end());
  return random_input(std::move(shape), 1);
}

std::string threads_label(std::size_t n) {
  return std::to_string(n) + (n == 1 ? " thread" : " threads");
}

int cmd_infer(const fs::path& golden) {
  const std::size_t all = std::max(1u, std::thread::hardware_concurrency());
  const std::vector<InferCase> cases = infer_cases(golden);
  const InferCase& cnn = *std::find_if(cases.begin(), cases.end(),
                                       [](const InferCase& c) { return c.slug == "conv_cnn"; });

  NaiveCnn ref;
  {
    const auto ls = cnn.model->layers();
    for (std::size_t i = 0; i < 3; ++i) {
      const auto& v = ls[i]->variables();
      ref.convs.push_back(
          {v[0].value.dim(2), v[0].value.dim(3), v[0].value.f32(), v[1].value.f32()});
    }
    const auto& dv = ls[4]->variables();
    ref.dw = dv[0].value.f32();
    ref.db = dv[1].value.f32();
    ref.units = dv[0].value.dim(1);
  }

  // KSERDE lines: case slug, batch, threads, seconds, name (bench/run.sh joins them with
  // kserde_torch_bench's TORCH lines). The ROW lines are the rows without LibTorch.
  const auto times = [](const InferCase& c, std::int64_t batch, std::size_t threads, double s) {
    std::printf("KSERDE\t%s\t%lld\t%zu\t%.9g\t%s\n", c.slug.c_str(), static_cast<long long>(batch),
                threads, s, c.name.c_str());
    std::fflush(stdout);
  };
  std::string differing;  // cases whose predictions differ between 1 and all threads
  double worst_ref_diff = 0;
  std::string naive_times;
  for (const InferCase& c : cases) {
    for (const std::int64_t batch : c.batches) {
      const kserde::Tensor x = case_input(c, batch);
      kserde::ops::set_num_threads(1);
      const kserde::Tensor y1 = c.model->predict(x, batch);
      const double t1 = time_adaptive([&] { c.model->predict(x, batch); });
      kserde::ops::set_num_threads(all);
      const kserde::Tensor yn = c.model->predict(x, batch);
      const double tn = time_adaptive([&] { c.model->predict(x, batch); });
      if (!y1.bitwise_equal(yn)) {
        differing += (differing.empty() ? "" : ", ") + c.name + " batch " + std::to_string(batch);
      }
      times(c, batch, 1, t1);
      times(c, batch, all, tn);
      const std::string what = c.name + ", batch " + std::to_string(batch);
      if (&c == &cnn) {
        std::vector<float> r;
        const double tr = time_median(
            batch == 1 ? 3 : 1, [&] { r = ref.run(x.f32(), batch, 64, 64, 3); }, false);
        for (std::size_t i = 0; i < r.size(); ++i) {
          worst_ref_diff =
              std::max(worst_ref_diff, static_cast<double>(std::abs(r[i] - y1.f32()[i])));
        }
        naive_times +=
            (naive_times.empty() ? "" : ", ") + fmt_time(tr) + " at batch " + std::to_string(batch);
        row(what + ", 1 thread (naive loops = reference)", fmt_time(t1), fmt_time(tr), t1 / tr,
            "<= 0.25x");
        row(what + ", " + threads_label(all) + " (naive loops = reference)", fmt_time(tn),
            fmt_time(tr), tn / tr, "<= 0.25x");
      } else {
        row(what + ", 1 thread", fmt_time(t1), "-", NAN, "-");
        row(what + ", " + threads_label(all) + " (1 thread = reference)", fmt_time(tn),
            fmt_time(t1), tn / t1, fmt("<= %.2fx", 1.0 / static_cast<double>(all) * 1.25));
      }
    }
  }
  note(std::string("predictions with 1 and ") + threads_label(all) + " are " +
       (differing.empty() ? "bitwise identical in every case"
                          : "NOT bitwise identical in: " + differing));
  note("3xConv2D CNN vs naive one-thread direct-convolution loops, same weights: max abs diff " +
       fmt("%.3g", worst_ref_diff) + "; the loops take " + naive_times);
  return 0;
}

// ---- export for kserde_torch_bench -------------------------------------------------------------

const rapidjson::Value& config_entry(const kserde::Layer& l, const char* key) {
  const auto it = l.config().FindMember(key);
  if (it == l.config().MemberEnd()) throw std::runtime_error(l.describe() + ": no '" + key + "'");
  return it->value;
}

std::string config_string(const kserde::Layer& l, const char* key) {
  const rapidjson::Value& v = config_entry(l, key);
  if (!v.IsString()) throw std::runtime_error(l.describe() + ": '" + key + "' is not a string");
  return v.GetString();
}

std::vector<std::int64_t> config_ints(const kserde::Layer& l, const char* key) {
  const rapidjson::Value& v = config_entry(l, key);
  std::vector<std::int64_t> out;
  if (v.IsInt64()) out.push_back(v.GetInt64());
  if (v.IsArray()) {
    for (const auto& e : v.GetArray()) {
      if (!e.IsInt64()) throw std::runtime_error(l.describe() + ": '" + key + "' is not integral");
      out.push_back(e.GetInt64());
    }
  }
  if (out.empty()) throw std::runtime_error(l.describe() + ": '" + key + "' is not integral");
  return out;
}

void expect(bool ok, const kserde::Layer& l, const std::string& what) {
  if (!ok) throw std::runtime_error("export: " + l.describe() + ": unsupported " + what);
}

// The activations kserde_torch_bench implements exactly.
std::string export_activation(const kserde::Layer& l) {
  const std::string a = config_string(l, "activation");
  expect(a == "relu" || a == "softmax" || a == "linear", l, "activation '" + a + "'");
  return a;
}

// Writes kernel and bias of `l` as <prefix>_w.npy / <prefix>_b.npy; returns "w.npy b.npy".
std::string export_weights(const kserde::Layer& l, const fs::path& dir, const std::string& prefix) {
  expect(l.variables().size() == 2 && config_entry(l, "use_bias").IsTrue(), l,
         "variables (kernel and bias expected)");
  kserde::io::write_npy(dir / (prefix + "_w.npy"), l.variables()[0].value);
  kserde::io::write_npy(dir / (prefix + "_b.npy"), l.variables()[1].value);
  return prefix + "_w.npy " + prefix + "_b.npy";
}

// One line per layer of a Sequential model of Dense/Conv2D/MaxPooling2D/Flatten layers, channels
// last; anything else throws.
std::string export_model(const InferCase& c, const fs::path& dir) {
  const auto* seq = dynamic_cast<const kserde::Sequential*>(c.model.get());
  if (seq == nullptr) throw std::runtime_error("export: " + c.name + " is not a Sequential model");
  std::string text = "name " + c.name + "\ninput";
  for (const std::int64_t d : c.sample) text += " " + std::to_string(d);
  text += "\n";
  int index = 0;
  for (const auto& lp : seq->layers()) {
    const kserde::Layer& l = *lp;
    const std::string cls = l.class_name(), prefix = "l" + std::to_string(index++);
    if (cls == "Dense") {
      text += "dense " + export_weights(l, dir, prefix) + " " + export_activation(l) + "\n";
    } else if (cls == "Conv2D") {
      expect(config_string(l, "data_format") == "channels_last", l, "data_format");
      expect(config_ints(l, "dilation_rate") == std::vector<std::int64_t>{1, 1}, l,
             "dilation_rate");
      expect(config_ints(l, "groups") == std::vector<std::int64_t>{1}, l, "groups");
      const std::string padding = config_string(l, "padding");
      expect(padding == "same" || padding == "valid", l, "padding '" + padding + "'");
      const std::vector<std::int64_t> s = config_ints(l, "strides");
      expect(s.size() == 2, l, "strides");
      text += "conv2d " + export_weights(l, dir, prefix) + " " + std::to_string(s[0]) + " " +
              std::to_string(s[1]) + " " + padding + " " + export_activation(l) + "\n";
    } else if (cls == "MaxPooling2D") {
      const std::vector<std::int64_t> p = config_ints(l, "pool_size");
      expect(config_string(l, "data_format") == "channels_last", l, "data_format");
      expect(config_string(l, "padding") == "valid", l, "padding");
      expect(p.size() == 2 && config_ints(l, "strides") == p, l, "strides (!= pool_size)");
      text += "maxpool2d " + std::to_string(p[0]) + " " + std::to_string(p[1]) + "\n";
    } else if (cls == "Flatten") {
      const auto df = l.config().FindMember("data_format");
      expect(df == l.config().MemberEnd() || df->value.IsNull() ||
                 config_string(l, "data_format") == "channels_last",
             l, "data_format");
      text += "flatten\n";
    } else {
      expect(false, l, "layer class");
    }
  }
  return text;
}

void write_text(const fs::path& p, const std::string& text) {
  FILE* f = std::fopen(p.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + p.string());
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) throw std::runtime_error("cannot write " + p.string());
}

// outdir/<slug>/: model.txt (layers), inputs.txt ("<batch> <input.npy> <prediction.npy>" lines),
// the weights, the inputs and kserde's 1-thread predictions as .npy.
int cmd_export(const fs::path& golden, const fs::path& outdir) {
  kserde::ops::set_num_threads(1);
  for (const InferCase& c : infer_cases(golden)) {
    const fs::path dir = outdir / c.slug;
    fs::create_directories(dir);
    write_text(dir / "model.txt", export_model(c, dir));
    std::string inputs;
    for (const std::int64_t batch : c.batches) {
      const std::string b = std::to_string(batch);
      const kserde::Tensor x = case_input(c, batch);
      kserde::io::write_npy(dir / ("input_b" + b + ".npy"), x);
      kserde::io::write_npy(dir / ("kserde_b" + b + ".npy"), c.model->predict(x, batch));
      inputs += b + " input_b" + b + ".npy kserde_b" + b + ".npy\n";
    }
    write_text(dir / "inputs.txt", inputs);
    std::fprintf(stderr, "exported %s to %s\n", c.name.c_str(), dir.c_str());
  }
  return 0;
}

// ---- training: kserde fit against LibTorch (kserde_torch_bench --train) -------------------------

// Both sides train from the same initial weights on the same data, for a warm-up epoch and then
// kTimedEpochs timed ones, with a fresh model at each thread count.
constexpr int kTimedEpochs = 9;
constexpr std::size_t kTrainThreads[] = {1, 2};

struct TrainCase {
  std::string slug;  // directory name in the export, key of the KTRAIN/TTRAIN lines
  std::string name;  // as the rows name it
  // The model initialized from a fixed seed and compiled: the same weights on every call.
  std::function<std::shared_ptr<kserde::Sequential>()> build;
  kserde::Shape sample;
  kserde::Tensor x, y;  // y: Int32 class indices
  std::int64_t batch = 0;
  double learning_rate = 0;
};

void compile_adam(kserde::Model& m, double learning_rate) {
  // No metrics: a step is forward, loss, backward and the update, as in the LibTorch loop.
  kserde::compile(
      m,
      R"({"class_name": "Adam", "config": {"learning_rate": )" + fmt("%.9g", learning_rate) + "}}",
      "sparse_categorical_crossentropy");
}

// The seed workflow's digits CNN (examples/seed_workflow.cpp): same layers, seed and optimizer.
std::shared_ptr<kserde::Sequential> digits_cnn() {
  auto m = std::make_shared<kserde::Sequential>("digits_cnn");
  m->add(kserde::layers::Input({8, 8, 1}));
  m->add(kserde::layers::from_config(
      "Conv2D", R"({"filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"})"));
  m->add(kserde::layers::from_config("MaxPooling2D", R"({"pool_size": 2})"));
  m->add(kserde::layers::Flatten());
  m->add(kserde::layers::Dense(64, "relu"));
  m->add(kserde::layers::Dense(10, "softmax"));
  kserde::initialize_weights(*m, 7);
  compile_adam(*m, 0.003);
  return m;
}

std::shared_ptr<kserde::Sequential> train_mlp() {
  auto m = std::make_shared<kserde::Sequential>("mlp");
  m->add(kserde::layers::Input({784}));
  m->add(kserde::layers::Dense(256, "relu"));
  m->add(kserde::layers::Dense(256, "relu"));
  m->add(kserde::layers::Dense(10, "softmax"));
  kserde::initialize_weights(*m, 11);
  compile_adam(*m, 1e-3);
  return m;
}

// scikit-learn's digits as the seed workflow reads them (rows of 64 pixels 0..16 and the digit,
// gzip-compressed CSV), split the same way: shuffled by mt19937(42), the last 80% to train.
bool read_digits_train(const fs::path& csv_gz, kserde::Tensor& x, kserde::Tensor& y) {
  if (!fs::exists(csv_gz)) return false;
  std::string text;
  if (FILE* p = ::popen(("gzip -dc '" + csv_gz.string() + "'").c_str(), "r")) {
    char buf[1 << 16];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) text.append(buf, n);
    ::pclose(p);
  }
  std::vector<std::vector<float>> rows;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    std::vector<float> r;
    for (std::size_t p = pos; p < end;) {
      std::size_t used = 0;
      r.push_back(std::stof(text.substr(p, end - p), &used));
      p += used + 1;
    }
    if (r.size() == 65) rows.push_back(std::move(r));
    pos = end + 1;
  }
  if (rows.empty()) return false;
  std::vector<std::size_t> order(rows.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  const std::vector<std::size_t> train(order.begin() + static_cast<std::ptrdiff_t>(rows.size() / 5),
                                       order.end());
  const auto n = static_cast<std::int64_t>(train.size());
  x = kserde::Tensor({n, 8, 8, 1}, kserde::DType::Float32);
  y = kserde::Tensor({n}, kserde::DType::Int32);
  for (std::size_t i = 0; i < train.size(); ++i) {
    const std::vector<float>& r = rows[train[i]];
    for (std::size_t k = 0; k < 64; ++k) x.f32_mut()[i * 64 + k] = r[k] / 16.0f;
    y.mutable_values<std::int32_t>()[i] = static_cast<std::int32_t>(r[64]);
  }
  return true;
}

// Labels from a fixed random linear teacher on the centred inputs, so that there is something to
// learn and the loss visibly falls.
kserde::Tensor teacher_labels(const kserde::Tensor& x, unsigned seed) {
  const std::int64_t n = x.dim(0), d = x.dim(1);
  std::vector<float> t(static_cast<std::size_t>(d * 10));
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  for (float& v : t) v = g(rng);
  kserde::Tensor y({n}, kserde::DType::Int32);
  for (std::int64_t r = 0; r < n; ++r) {
    float score[10] = {};
    for (std::int64_t i = 0; i < d; ++i) {
      const float xi = x.f32()[r * d + i] - 0.5f;
      for (int k = 0; k < 10; ++k) score[k] += xi * t[static_cast<std::size_t>(i * 10 + k)];
    }
    y.mutable_values<std::int32_t>()[static_cast<std::size_t>(r)] =
        static_cast<std::int32_t>(std::max_element(score, score + 10) - score);
  }
  return y;
}

std::vector<TrainCase> train_cases(const fs::path& digits_csv_gz) {
  std::vector<TrainCase> cases;
  TrainCase digits{"digits_cnn", "", digits_cnn, {8, 8, 1}, {}, {}, 32, 0.003};
  if (read_digits_train(digits_csv_gz, digits.x, digits.y)) {
    digits.name = "digits CNN (seed workflow), sklearn digits";
  } else {
    // Same shapes as the real split: 1437 images.
    digits.x = random_input({1437, 8, 8, 1}, 2);
    digits.y = kserde::Tensor({1437}, kserde::DType::Int32);
    std::mt19937 rng(3);
    for (auto& v : digits.y.mutable_values<std::int32_t>())
      v = static_cast<std::int32_t>(rng() % 10);
    digits.name = "digits CNN (seed workflow), random digits-shaped data";
  }
  cases.push_back(std::move(digits));
  TrainCase mlp{"mlp", "MLP 784-256-256-10", train_mlp, {784}, {}, {}, 64, 1e-3};
  mlp.x = random_input({4096, 784}, 11);
  mlp.y = teacher_labels(mlp.x, 12);
  cases.push_back(std::move(mlp));
  return cases;
}

kserde::Tensor first_rows(const kserde::Tensor& t, std::int64_t n) {
  kserde::Shape s = t.shape();
  s[0] = std::min(n, s[0]);
  kserde::Tensor out(s, t.dtype());
  std::memcpy(out.mutable_bytes().data(), t.bytes().data(), out.nbytes());
  return out;
}

std::string join(const std::vector<double>& v) {
  std::string s;
  for (const double d : v) s += (s.empty() ? "" : ",") + fmt("%.4f", d);
  return s;
}

// outdir/<slug>/: model.txt and the initial weights (as `export` writes them), x.npy, y.npy
// (labels as float32) and train.txt (batch, learning rate, epochs) for kserde_torch_bench --train.
void export_train_case(const TrainCase& c, const fs::path& outdir) {
  const fs::path dir = outdir / c.slug;
  fs::create_directories(dir);
  const InferCase ic{c.slug, c.name, c.build(), c.sample, {}};
  write_text(dir / "model.txt", export_model(ic, dir));
  kserde::io::write_npy(dir / "x.npy", c.x);
  kserde::io::write_npy(dir / "y.npy", c.y.to(kserde::DType::Float32));
  write_text(dir / "train.txt", "batch " + std::to_string(c.batch) + "\nlearning_rate " +
                                    fmt("%.9g", c.learning_rate) + "\nepsilon 1e-07\nepochs " +
                                    std::to_string(kTimedEpochs) + "\n");
}

// KTRAIN lines: case, threads, steps/s (median epoch), steps per epoch, batch, trainable
// parameters, loss of the initial weights on the first batch, each epoch's mean loss (warm-up
// first), name.
int cmd_train(const fs::path& outdir, const fs::path& digits_csv_gz) {
  std::string same_losses, different_losses;
  for (const TrainCase& c : train_cases(digits_csv_gz)) {
    export_train_case(c, outdir);
    const std::int64_t steps = (c.x.dim(0) + c.batch - 1) / c.batch;
    std::vector<double> first_losses;
    for (const std::size_t threads : kTrainThreads) {
      kserde::ops::set_num_threads(threads);
      const auto model = c.build();
      std::int64_t params = 0;
      for (const kserde::Variable* v : kserde::trainable_variables(*model))
        params += v->value.num_elements();
      const double initial =
          kserde::compute_gradients(*model, {first_rows(c.x, c.batch)}, {first_rows(c.y, c.batch)})
              .loss;
      kserde::FitOptions options;
      options.batch_size = c.batch;
      options.seed = 1;
      std::vector<double> losses;
      // One epoch per call: fit's own loop (shuffle, batch gather, forward, backward, Adam).
      const double epoch = time_median(kTimedEpochs, [&] {
        losses.push_back(kserde::fit(*model, {c.x}, {c.y}, options)["loss"].front());
      });
      std::printf("KTRAIN\t%s\t%zu\t%.6g\t%lld\t%lld\t%lld\t%.6f\t%s\t%s\n", c.slug.c_str(),
                  threads, static_cast<double>(steps) / epoch, static_cast<long long>(steps),
                  static_cast<long long>(c.batch), static_cast<long long>(params), initial,
                  join(losses).c_str(), c.name.c_str());
      std::fflush(stdout);
      if (first_losses.empty()) {
        first_losses = losses;
      } else {
        std::string& list = losses == first_losses ? same_losses : different_losses;
        list += (list.empty() ? "" : ", ") + c.name;
      }
    }
  }
  note("kserde training: each epoch's loss is the same at 1 and 2 threads for: " +
       (same_losses.empty() ? "none" : same_losses) +
       (different_losses.empty() ? "" : "; it differs for: " + different_losses));
  return 0;
}

int cmd_plugin(const fs::path& lib) {
  const auto t0 = Clock::now();
  kserde::load_plugin(lib);
  std::printf("%.9f\n", since(t0));
  return 0;
}

double spawn_once(std::vector<char*> argv) {
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  const auto t0 = Clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error(std::string("cannot spawn ") + argv[0]);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double t = since(t0);
  posix_spawn_file_actions_destroy(&fa);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(std::string(argv[0]) + " failed");
  }
  return t;
}

int cmd_spawn(int runs, int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  spawn_once(args);  // warm
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) t.push_back(spawn_once(args));
  std::printf("%.9f\n", median(t));
  return 0;
}

// ---- inference memory: ResNet50 and MobileNetV2 as keras.applications builds them -------------

// A Functional config written layer by layer (Keras's class names, layer names and config keys;
// keys left out take Keras's defaults).
class GraphBuilder {
 public:
  explicit GraphBuilder(const std::string& input_shape) {
    layers_ =
        R"({"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, )" +
        input_shape +
        R"(], "dtype": "float32", "name": "input_layer"}, "registered_name": null, "name": "input_layer", "inbound_nodes": []})";
  }
  // Adds a layer called on `inputs` (a list argument when there are several); returns its name.
  std::string add(const std::string& cls, const std::string& name, const std::string& config,
                  const std::vector<std::string>& inputs) {
    std::string args;
    for (const std::string& in : inputs) {
      args += (args.empty() ? "" : ", ") +
              std::string(R"({"class_name": "__keras_tensor__", "config": {"keras_history": [")") +
              in + R"(", 0, 0]}})";
    }
    if (inputs.size() > 1) args = "[" + args + "]";
    layers_ += R"(, {"module": "keras.layers", "class_name": ")" + cls +
               R"(", "config": {"name": ")" + name + "\"" + (config.empty() ? "" : ", ") + config +
               R"(}, "registered_name": null, "name": ")" + name +
               R"(", "inbound_nodes": [{"args": [)" + args + R"(], "kwargs": {}}]})";
    return name;
  }
  std::string json(const std::string& model_name, const std::string& output) const {
    return R"({"module": "keras.src.models.functional", "class_name": "Functional", "config": {"name": ")" +
           model_name + R"(", "trainable": true, "layers": [)" + layers_ +
           R"(], "input_layers": [["input_layer", 0, 0]], "output_layers": [[")" + output +
           R"(", 0, 0]]}, "registered_name": "Functional", "build_config": {"input_shape": null}, "compile_config": {}})";
  }

 private:
  std::string layers_;
};

std::string conv_cfg(std::int64_t filters, std::int64_t k, std::int64_t stride,
                     const std::string& padding, bool bias) {
  return R"("filters": )" + std::to_string(filters) + R"(, "kernel_size": [)" + std::to_string(k) +
         ", " + std::to_string(k) + R"(], "strides": [)" + std::to_string(stride) + ", " +
         std::to_string(stride) + R"(], "padding": ")" + padding + R"(", "use_bias": )" +
         (bias ? "true" : "false");
}

std::string resnet50_json() {
  GraphBuilder g("224, 224, 3");
  const std::string bn = R"("axis": -1, "epsilon": 1.001e-05)";
  const std::string relu = R"("activation": "relu")";
  std::string x =
      g.add("ZeroPadding2D", "conv1_pad", R"("padding": [[3, 3], [3, 3]])", {"input_layer"});
  x = g.add("Conv2D", "conv1_conv", conv_cfg(64, 7, 2, "valid", true), {x});
  x = g.add("BatchNormalization", "conv1_bn", bn, {x});
  x = g.add("Activation", "conv1_relu", relu, {x});
  x = g.add("ZeroPadding2D", "pool1_pad", R"("padding": [[1, 1], [1, 1]])", {x});
  x = g.add("MaxPooling2D", "pool1_pool", R"("pool_size": [3, 3], "strides": [2, 2])", {x});
  const std::int64_t filters[] = {64, 128, 256, 512}, blocks[] = {3, 4, 6, 3};
  for (int s = 0; s < 4; ++s) {
    for (std::int64_t b = 1; b <= blocks[s]; ++b) {
      const std::string name = "conv" + std::to_string(s + 2) + "_block" + std::to_string(b);
      const std::int64_t f = filters[s];
      const std::int64_t stride = b == 1 && s > 0 ? 2 : 1;
      std::string shortcut = x;
      if (b == 1) {
        shortcut =
            g.add("Conv2D", name + "_0_conv", conv_cfg(4 * f, 1, stride, "valid", true), {x});
        shortcut = g.add("BatchNormalization", name + "_0_bn", bn, {shortcut});
      }
      std::string y = g.add("Conv2D", name + "_1_conv", conv_cfg(f, 1, stride, "valid", true), {x});
      y = g.add("BatchNormalization", name + "_1_bn", bn, {y});
      y = g.add("Activation", name + "_1_relu", relu, {y});
      y = g.add("Conv2D", name + "_2_conv", conv_cfg(f, 3, 1, "same", true), {y});
      y = g.add("BatchNormalization", name + "_2_bn", bn, {y});
      y = g.add("Activation", name + "_2_relu", relu, {y});
      y = g.add("Conv2D", name + "_3_conv", conv_cfg(4 * f, 1, 1, "valid", true), {y});
      y = g.add("BatchNormalization", name + "_3_bn", bn, {y});
      y = g.add("Add", name + "_add", "", {shortcut, y});
      x = g.add("Activation", name + "_out", relu, {y});
    }
  }
  x = g.add("GlobalAveragePooling2D", "avg_pool", "", {x});
  x = g.add("Dense", "predictions", R"("units": 1000, "activation": "softmax")", {x});
  return g.json("resnet50", x);
}

std::string mobilenetv2_json() {
  GraphBuilder g("224, 224, 3");
  const std::string bn = R"("axis": -1, "epsilon": 0.001, "momentum": 0.999)";
  const std::string relu6 = R"("max_value": 6.0)";
  std::string x = g.add("Conv2D", "Conv1", conv_cfg(32, 3, 2, "same", false), {"input_layer"});
  x = g.add("BatchNormalization", "bn_Conv1", bn, {x});
  x = g.add("ReLU", "Conv1_relu", relu6, {x});
  // (filters, stride, expansion) per block, block_id 0..16.
  const std::int64_t blocks[17][3] = {{16, 1, 1},  {24, 2, 6}, {24, 1, 6}, {32, 2, 6},  {32, 1, 6},
                                      {32, 1, 6},  {64, 2, 6}, {64, 1, 6}, {64, 1, 6},  {64, 1, 6},
                                      {96, 1, 6},  {96, 1, 6}, {96, 1, 6}, {160, 2, 6}, {160, 1, 6},
                                      {160, 1, 6}, {320, 1, 6}};
  std::int64_t channels = 32;
  for (int id = 0; id < 17; ++id) {
    const std::int64_t filters = blocks[id][0], stride = blocks[id][1], expansion = blocks[id][2];
    const std::string prefix = id == 0 ? "expanded_conv_" : "block_" + std::to_string(id) + "_";
    std::string y = x;
    if (id != 0) {
      y = g.add("Conv2D", prefix + "expand", conv_cfg(expansion * channels, 1, 1, "same", false),
                {y});
      y = g.add("BatchNormalization", prefix + "expand_BN", bn, {y});
      y = g.add("ReLU", prefix + "expand_relu", relu6, {y});
    }
    if (stride == 2) {
      // correct_pad for an even input size and a 3x3 kernel.
      y = g.add("ZeroPadding2D", prefix + "pad", R"("padding": [[0, 1], [0, 1]])", {y});
    }
    y = g.add("DepthwiseConv2D", prefix + "depthwise",
              R"("kernel_size": [3, 3], "strides": [)" + std::to_string(stride) + ", " +
                  std::to_string(stride) + R"(], "padding": ")" + (stride == 1 ? "same" : "valid") +
                  R"(", "use_bias": false)",
              {y});
    y = g.add("BatchNormalization", prefix + "depthwise_BN", bn, {y});
    y = g.add("ReLU", prefix + "depthwise_relu", relu6, {y});
    y = g.add("Conv2D", prefix + "project", conv_cfg(filters, 1, 1, "same", false), {y});
    y = g.add("BatchNormalization", prefix + "project_BN", bn, {y});
    if (channels == filters && stride == 1) y = g.add("Add", prefix + "add", "", {x, y});
    x = y;
    channels = filters;
  }
  x = g.add("Conv2D", "Conv_1", conv_cfg(1280, 1, 1, "valid", false), {x});
  x = g.add("BatchNormalization", "Conv_1_bn", bn, {x});
  x = g.add("ReLU", "out_relu", relu6, {x});
  x = g.add("GlobalAveragePooling2D", "global_average_pooling2d", "", {x});
  x = g.add("Dense", "predictions", R"("units": 1000, "activation": "softmax")", {x});
  return g.json("mobilenetv2_1.00_224", x);
}

// Random weights of a trained network's scale: kernels uniform with variance 1/fan_in, BN scales
// and variances around 1, offsets and means small.
void randomize_weights(kserde::Model& model) {
  std::mt19937 rng(7);
  for (const auto& layer : model.layers()) {
    for (kserde::Variable& v : layer->variables()) {
      kserde::Tensor t(v.value.shape(), kserde::DType::Float32);
      auto values = t.mutable_values<float>();
      float lo = -0.1f, hi = 0.1f;
      if (t.rank() >= 2) {
        const double fan_in =
            static_cast<double>(t.num_elements()) / static_cast<double>(t.dim(t.rank() - 1));
        const auto a = static_cast<float>(std::sqrt(3.0 / fan_in));
        lo = -a;
        hi = a;
      } else if (v.name == "gamma" || v.name == "moving_variance") {
        lo = 0.5f;
        hi = 1.5f;
      }
      std::uniform_real_distribution<float> d(lo, hi);
      for (float& f : values) f = d(rng);
      v.value = t;
    }
  }
}

// The most bytes of activations alive at once while the graph runs in its evaluation order:
// each node's outputs from when it runs until its last consumer has run (the model's outputs to
// the end), the node's own inputs and outputs included. Per sample (batch dimension 1).
std::int64_t largest_live_set(const kserde::Functional& f) {
  const auto& nodes = f.nodes();
  std::vector<std::size_t> last(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) last[i] = i;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& t : nodes[i].inputs) last[t.node] = std::max(last[t.node], i);
  }
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].layer->name() == f.output_names().front()) last[i] = nodes.size();
  }
  auto bytes = [&](std::size_t i) {
    std::int64_t total = 0;
    for (kserde::Shape s : nodes[i].output_shapes) {
      if (!s.empty()) s[0] = 1;
      total += kserde::shape_num_elements(s) * 4;
    }
    return total;
  };
  std::int64_t most = 0;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    std::int64_t live = 0;
    for (std::size_t j = 0; j <= i; ++j) {
      if (last[j] >= i) live += bytes(j);
    }
    most = std::max(most, live);
  }
  return most;
}

int cmd_arch(const std::string& name, const fs::path& dir,
             const std::vector<std::int64_t>& batches) {
  const std::string json = name == "resnet50"      ? resnet50_json()
                           : name == "mobilenetv2" ? mobilenetv2_json()
                                                   : throw std::runtime_error("unknown " + name);
  auto model = kserde::model_from_json(json);
  randomize_weights(*model);
  fs::create_directories(dir);
  kserde::save_model(*model, dir / (name + ".keras"));
  std::int64_t weight_bytes = 0;
  for (const auto& layer : model->layers()) {
    for (const kserde::Variable& v : layer->variables())
      weight_bytes += static_cast<std::int64_t>(v.value.nbytes());
  }
  const auto* f = dynamic_cast<const kserde::Functional*>(model.get());
  const std::int64_t live = f != nullptr ? largest_live_set(*f) : 0;
  for (const std::int64_t b : batches) {
    kserde::io::write_npy(dir / (name + "_b" + std::to_string(b) + ".npy"),
                          random_input({b, 224, 224, 3}, 3));
    std::printf("ARCH\t%s\t%lld\t%lld\t%lld\n", name.c_str(), static_cast<long long>(b),
                static_cast<long long>(weight_bytes), static_cast<long long>(live * b));
  }
  return 0;
}

int cmd_peak(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  if (posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) {
    throw std::runtime_error(std::string("cannot spawn ") + args[0]);
  }
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  posix_spawn_file_actions_destroy(&fa);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(std::string(args[0]) + " failed");
  }
  std::printf("%ld\n", ru.ru_maxrss);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "load" && argc == 3) return cmd_load(argv[2]);
    if (cmd == "save" && argc == 3) return cmd_save(argv[2]);
    if (cmd == "rss" && argc == 4) return cmd_rss(argv[2], argv[3]);
    if (cmd == "infer" && argc == 3) return cmd_infer(argv[2]);
    if (cmd == "export" && argc == 4) return cmd_export(argv[2], argv[3]);
    if (cmd == "train" && (argc == 3 || argc == 4))
      return cmd_train(argv[2], argc == 4 ? argv[3] : "");
    if (cmd == "plugin" && argc == 3) return cmd_plugin(argv[2]);
    if (cmd == "spawn" && argc >= 4) return cmd_spawn(std::atoi(argv[2]), argc - 3, argv + 3);
    if (cmd == "arch" && argc >= 5) {
      std::vector<std::int64_t> batches;
      for (int i = 4; i < argc; ++i) batches.push_back(std::atoll(argv[i]));
      return cmd_arch(argv[2], argv[3], batches);
    }
    if (cmd == "peak" && argc >= 3) return cmd_peak(argc - 2, argv + 2);
    std::fprintf(stderr,
                 "usage: kserde_bench load|save <dir> | rss <mode> <file> | infer <golden> | "
                 "export <golden> <outdir> | train <outdir> [digits.csv.gz] | plugin <lib> | spawn "
                 "<runs> <cmd...> | "
                 "arch <name> <dir> <batch>... | peak <cmd...>\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kserde_bench: %s\n", e.what());
    return 1;
  }
}

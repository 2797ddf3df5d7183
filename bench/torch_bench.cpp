// LibTorch reference for `kserde_bench infer` (driven by bench/run.sh). A separate executable that
// does not link kserde: LibTorch and kserde each bring their own GEMM and thread pool, and sharing
// a process would let one disturb the other.
//   kserde_torch_bench <case dir>...
//   kserde_torch_bench --blas          prints the BLAS that LibTorch's GEMM calls, and exits
//   kserde_torch_bench --train <train case dir>...
//                                      trains each case `kserde_bench train` wrote (same initial
//                                      weights, data, batch, Adam settings) with autograd and
//                                      torch::optim::Adam at 1 and 2 threads; prints TTRAIN lines
//   kserde_torch_bench --rss resnet50|mobilenetv2 <batch>
//                                      builds the architecture (random weights, eval mode), runs
//                                      one prediction and prints "<peak RSS KiB> <weights bytes>"
// Each case dir is written by `kserde_bench export`: model.txt (one line per layer), inputs.txt
// ("<batch> <input.npy> <kserde prediction.npy>" lines) and float32 .npy files. The model is built
// with torch ops as a LibTorch user would (NCHW, weights laid out once at setup) and timed like
// kserde_bench's time_adaptive, with 1 thread and with all threads. Prints
//   TORCH<TAB>case<TAB>batch<TAB>threads<TAB>seconds<TAB>max abs diff vs kserde
// and NOTE<TAB>text lines.
#include <dlfcn.h>
#include <sys/resource.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "timing.hpp"

namespace {

namespace fs = std::filesystem;
using bench::time_adaptive;

// ---- .npy (float32, little-endian, C order only) -----------------------------------------------

[[noreturn]] void npy_fail(const fs::path& p, const std::string& what) {
  throw std::runtime_error(p.string() + ": " + what);
}

// The text after `'key':` in a .npy header dict, with leading spaces skipped.
std::string_view header_value(const fs::path& p, std::string_view header, std::string_view key) {
  const std::string quoted = "'" + std::string(key) + "':";
  const std::size_t at = header.find(quoted);
  if (at == std::string_view::npos) npy_fail(p, "header has no '" + std::string(key) + "'");
  std::string_view v = header.substr(at + quoted.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  return v;
}

torch::Tensor read_npy(const fs::path& p) {
  static_assert(std::endian::native == std::endian::little, "reads little-endian data in place");
  std::ifstream f(p, std::ios::binary);
  if (!f) npy_fail(p, "cannot open");
  const std::uint64_t file_size = fs::file_size(p);
  char pre[12] = {};
  if (!f.read(pre, 10) || std::string_view(pre, 6) != "\x93NUMPY") npy_fail(p, "not a .npy file");
  const auto byte = [&](int i) {
    return static_cast<std::uint64_t>(static_cast<unsigned char>(pre[i]));
  };
  std::uint64_t header_len = byte(8) | byte(9) << 8, offset = 10;
  if (pre[6] == 2 || pre[6] == 3) {
    if (!f.read(pre + 10, 2)) npy_fail(p, "truncated header");
    header_len |= byte(10) << 16 | byte(11) << 24;
    offset = 12;
  } else if (pre[6] != 1) {
    npy_fail(p, "unsupported format version");
  }
  // Bounded before allocating: real headers are a few hundred bytes.
  if (header_len > 65536 || offset + header_len > file_size) npy_fail(p, "bad header length");
  std::string header(header_len, '\0');
  if (!f.read(header.data(), static_cast<std::streamsize>(header_len))) npy_fail(p, "truncated");
  if (header_value(p, header, "descr").substr(0, 5) != "'<f4'") npy_fail(p, "dtype is not '<f4'");
  if (header_value(p, header, "fortran_order").substr(0, 5) != "False") npy_fail(p, "not C order");
  std::string_view shape_text = header_value(p, header, "shape");
  if (shape_text.empty() || shape_text.front() != '(') npy_fail(p, "bad shape");
  shape_text = shape_text.substr(1, shape_text.find(')') - 1);
  std::vector<std::int64_t> shape;
  std::uint64_t count = 1;
  std::istringstream dims{std::string(shape_text)};
  for (std::string d; std::getline(dims, d, ',');) {
    if (d.find_first_not_of(' ') == std::string::npos) continue;  // "(n,)"
    const long long n = std::stoll(d);
    if (n < 0 || n > (1LL << 40)) npy_fail(p, "bad dimension " + d);
    shape.push_back(n);
    count *= static_cast<std::uint64_t>(n);
    if (count > (1ULL << 40)) npy_fail(p, "too large");
  }
  if (file_size - offset - header_len != count * 4) npy_fail(p, "data size does not match shape");
  torch::Tensor t = torch::empty(shape, torch::kFloat32);
  if (!f.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(count * 4))) {
    npy_fail(p, "truncated data");
  }
  return t;
}

// ---- the model ---------------------------------------------------------------------------------

enum class Act { Linear, Relu, Softmax };

struct Step {
  enum class Kind { Dense, Conv, Pool, Flatten } kind;
  torch::Tensor w, b;                     // Linear: (out, in); Conv: (cout, cin, kh, kw)
  std::vector<std::int64_t> stride, pad;  // Conv: symmetric padding (h, w)
  std::vector<std::int64_t> pad4, pool;   // Conv: asymmetric 'same' padding; Pool: window
  Act act = Act::Linear;
};

class Model {
 public:
  explicit Model(const fs::path& dir) {
    std::ifstream f(dir / "model.txt");
    if (!f) throw std::runtime_error("cannot read " + (dir / "model.txt").string());
    for (std::string line; std::getline(f, line);) {
      std::istringstream in(line);
      std::string kind;
      in >> kind;
      if (kind == "name") {
        std::getline(in >> std::ws, name_);
      } else if (kind == "input") {
        for (std::int64_t d; in >> d;) shape_.push_back(d);
        nchw_ = shape_.size() == 3;
        if (nchw_) shape_ = {shape_[2], shape_[0], shape_[1]};  // kept as (C, H, W)
      } else if (kind == "dense") {
        add_dense(dir, in);
      } else if (kind == "conv2d") {
        add_conv(dir, in);
      } else if (kind == "maxpool2d") {
        Step s{Step::Kind::Pool, {}, {}, {}, {}, {}, {}, Act::Linear};
        s.pool.resize(2);
        in >> s.pool[0] >> s.pool[1];
        if (!nchw_ || !in) throw std::runtime_error("maxpool2d: bad line or input not 2-D");
        shape_[1] = (shape_[1] - s.pool[0]) / s.pool[0] + 1;
        shape_[2] = (shape_[2] - s.pool[1]) / s.pool[1] + 1;
        steps_.push_back(std::move(s));
      } else if (kind == "flatten") {
        if (nchw_) flattened_chw_ = shape_;
        std::int64_t n = 1;
        for (const std::int64_t d : shape_) n *= d;
        shape_ = {n};
        nchw_ = false;
        steps_.push_back({Step::Kind::Flatten, {}, {}, {}, {}, {}, {}, Act::Linear});
      } else if (!kind.empty()) {
        throw std::runtime_error("model.txt: unsupported layer '" + kind + "'");
      }
    }
  }

  const std::string& name() const { return name_; }
  bool nchw_output() const { return nchw_; }
  bool ends_in_softmax() const { return !steps_.empty() && steps_.back().act == Act::Softmax; }

  // The weights and biases, made trainable (leaves that autograd accumulates gradients into).
  std::vector<torch::Tensor> parameters() {
    std::vector<torch::Tensor> out;
    for (Step& s : steps_) {
      for (torch::Tensor* t : {&s.w, &s.b}) {
        if (t->defined()) out.push_back(t->requires_grad_(true));
      }
    }
    return out;
  }

  // x: NCHW for image models. `logits`: leaves out the last softmax, for a loss that takes logits.
  torch::Tensor forward(torch::Tensor x, bool logits = false) const {
    for (const Step& s : steps_) {
      switch (s.kind) {
        case Step::Kind::Dense:
          x = torch::linear(x, s.w, s.b);
          break;
        case Step::Kind::Conv:
          if (!s.pad4.empty()) x = torch::constant_pad_nd(x, s.pad4);
          x = torch::conv2d(x, s.w, s.b, s.stride, s.pad);
          break;
        case Step::Kind::Pool:
          x = torch::max_pool2d(x, s.pool);
          break;
        case Step::Kind::Flatten:
          x = x.flatten(1);
          break;
      }
      if (s.act == Act::Relu) x.relu_();
      if (s.act == Act::Softmax && !(logits && &s == &steps_.back())) x = torch::softmax(x, -1);
    }
    return x;
  }

 private:
  static Act parse_act(const std::string& a) {
    if (a == "relu") return Act::Relu;
    if (a == "softmax") return Act::Softmax;
    if (a == "linear") return Act::Linear;
    throw std::runtime_error("model.txt: unsupported activation '" + a + "'");
  }

  void add_dense(const fs::path& dir, std::istringstream& in) {
    std::string wf, bf, act;
    in >> wf >> bf >> act;
    if (!in || nchw_) throw std::runtime_error("dense: bad line or input not flat");
    torch::Tensor w = read_npy(dir / wf);  // (in, units), rows in Keras's order
    if (w.dim() != 2 || w.size(0) != shape_.back()) throw std::runtime_error("dense: bad kernel");
    if (!flattened_chw_.empty()) {
      // Keras flattened (H, W, C); this model flattens (C, H, W): reorder the rows once here
      // instead of permuting every input.
      const std::int64_t c = flattened_chw_[0], h = flattened_chw_[1], wd = flattened_chw_[2];
      w = w.view({h, wd, c, w.size(1)}).permute({2, 0, 1, 3}).reshape({c * h * wd, w.size(1)});
      flattened_chw_.clear();
    }
    shape_.back() = w.size(1);
    steps_.push_back({Step::Kind::Dense,
                      w.t().contiguous(),
                      read_npy(dir / bf),
                      {},
                      {},
                      {},
                      {},
                      parse_act(act)});
  }

  void add_conv(const fs::path& dir, std::istringstream& in) {
    std::string wf, bf, padding, act;
    std::int64_t sh = 0, sw = 0;
    in >> wf >> bf >> sh >> sw >> padding >> act;
    if (!in || !nchw_ || (padding != "same" && padding != "valid")) {
      throw std::runtime_error("conv2d: bad line or input not 2-D");
    }
    const torch::Tensor w = read_npy(dir / wf);  // (kh, kw, cin, cout)
    if (w.dim() != 4 || w.size(2) != shape_[0]) throw std::runtime_error("conv2d: bad kernel");
    Step s{Step::Kind::Conv,
           w.permute({3, 2, 0, 1}).contiguous(),
           read_npy(dir / bf),
           {sh, sw},
           {0, 0},
           {},
           {},
           parse_act(act)};
    std::vector<std::int64_t> before(2), after(2);
    for (int d = 0; d < 2; ++d) {
      const std::int64_t n = shape_[static_cast<std::size_t>(d) + 1], k = w.size(d),
                         st = s.stride[static_cast<std::size_t>(d)];
      const std::int64_t out = padding == "same" ? (n + st - 1) / st : (n - k) / st + 1;
      // Keras/XLA 'same': the odd padding element goes after.
      const std::int64_t total =
          padding == "same" ? std::max<std::int64_t>((out - 1) * st + k - n, 0) : 0;
      before[static_cast<std::size_t>(d)] = total / 2;
      after[static_cast<std::size_t>(d)] = total - total / 2;
      shape_[static_cast<std::size_t>(d) + 1] = out;
    }
    if (before == after) {
      s.pad = before;
    } else {
      s.pad4 = {before[1], after[1], before[0], after[0]};  // (left, right, top, bottom)
    }
    shape_[0] = w.size(3);
    steps_.push_back(std::move(s));
  }

  std::string name_;
  std::vector<Step> steps_;
  std::vector<std::int64_t> shape_;  // per sample; (C, H, W) while nchw_
  bool nchw_ = false;
  std::vector<std::int64_t> flattened_chw_;  // set by a Flatten of an image, for the next Dense
};

// LibTorch's set_num_threads sets OpenMP (and MKL), not OpenBLAS's own pthread pool, which the
// Debian build calls for GEMM: set it as well, or "1 thread" would run BLAS on every core.
void set_threads(int n) {
  torch::set_num_threads(n);
  using SetFn = void (*)(int);
  if (auto* f = reinterpret_cast<SetFn>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(n);
}

std::string blas_info() {
  using GetFn = const char* (*)();
  if (auto* f = reinterpret_cast<GetFn>(::dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    return std::string("OpenBLAS (") + f() + ")";
  }
  std::istringstream config(at::show_config());
  for (std::string line; std::getline(config, line);) {
    const std::size_t at = line.find("BLAS_INFO=");
    if (at != std::string::npos)
      return "BLAS_INFO=" + line.substr(at + 10, line.find(',', at) - at - 10);
  }
  return "BLAS unknown";
}

std::string parallel_backend() {
  std::istringstream info(at::get_parallel_info());
  for (std::string line; std::getline(info, line);) {
    if (line.find("parallel backend") != std::string::npos) return line;
  }
  return "ATen parallel backend unknown";
}

void run_case(const fs::path& dir, int all, std::string& diffs) {
  const Model model(dir);
  const std::string slug = dir.filename().string();
  std::ifstream list(dir / "inputs.txt");
  if (!list) throw std::runtime_error("cannot read " + (dir / "inputs.txt").string());
  double worst = 0, largest = 0;
  for (std::string line; std::getline(list, line);) {
    std::istringstream in(line);
    std::int64_t batch = 0;
    std::string xf, yf;
    if (!(in >> batch >> xf >> yf)) continue;
    torch::Tensor x = read_npy(dir / xf);
    if (x.dim() == 4) x = x.permute({0, 3, 1, 2}).contiguous();  // NHWC -> NCHW, not timed
    const torch::Tensor expected = read_npy(dir / yf);
    largest = std::max(largest, expected.abs().max().item<double>());
    for (const int threads : {1, all}) {
      set_threads(threads);
      torch::Tensor y = model.forward(x);
      if (model.nchw_output()) y = y.permute({0, 2, 3, 1});
      if (y.sizes() != expected.sizes()) throw std::runtime_error(slug + ": output shape differs");
      const double diff = (y - expected).abs().max().item<double>();
      worst = std::max(worst, diff);
      const double s = time_adaptive([&] { model.forward(x); });
      std::printf("TORCH\t%s\t%lld\t%d\t%.9g\t%.3g\n", slug.c_str(), static_cast<long long>(batch),
                  threads, s, diff);
      std::fflush(stdout);
    }
  }
  char b[64];
  std::snprintf(b, sizeof b, " %.3g (outputs up to %.3g)", worst, largest);
  diffs += (diffs.empty() ? "" : ", ") + model.name() + b;
}

// ---- training: the LibTorch side of `kserde_bench train` ---------------------------------------

struct TrainSettings {
  std::int64_t batch = 0;
  double learning_rate = 0, epsilon = 0;
  int epochs = 0;
};

// train.txt: "batch N", "learning_rate R", "epsilon E", "epochs K" lines.
TrainSettings read_train_settings(const fs::path& dir) {
  std::ifstream f(dir / "train.txt");
  TrainSettings t;
  for (std::string key; f >> key;) {
    if (key == "batch") f >> t.batch;
    if (key == "learning_rate") f >> t.learning_rate;
    if (key == "epsilon") f >> t.epsilon;
    if (key == "epochs") f >> t.epochs;
  }
  if (t.batch <= 0 || t.learning_rate <= 0 || t.epsilon <= 0 || t.epochs <= 0) {
    throw std::runtime_error("bad or missing " + (dir / "train.txt").string());
  }
  return t;
}

// Keras's softmax output + sparse categorical crossentropy, written as a LibTorch user writes it:
// cross_entropy (log-softmax and NLL, mean over the batch) on the last Dense's logits.
torch::Tensor train_loss(const Model& model, const torch::Tensor& x, const torch::Tensor& y) {
  return torch::nn::functional::cross_entropy(model.forward(x, true), y);
}

// One epoch as kserde's fit runs it: a fresh shuffled order, then per batch the rows gathered,
// forward, loss, backward and one Adam step. Returns the epoch's mean loss per sample.
double train_epoch(const Model& model, torch::optim::Adam& adam, const torch::Tensor& x,
                   const torch::Tensor& y, std::int64_t batch) {
  const std::int64_t n = x.size(0);
  const torch::Tensor order = torch::randperm(n, torch::kLong);
  double sum = 0;
  for (std::int64_t begin = 0; begin < n; begin += batch) {
    const torch::Tensor rows = order.slice(0, begin, std::min(n, begin + batch));
    adam.zero_grad();
    const torch::Tensor loss = train_loss(model, x.index_select(0, rows), y.index_select(0, rows));
    loss.backward();
    adam.step();
    sum += loss.item<double>() * static_cast<double>(rows.size(0));
  }
  return sum / static_cast<double>(n);
}

// Prints TTRAIN lines in the KTRAIN layout of kserde_bench train: case, threads, steps/s, steps
// per epoch, batch, parameters, loss of the initial weights on the first batch, each epoch's loss.
void run_train(const fs::path& dir) {
  const TrainSettings ts = read_train_settings(dir);
  torch::Tensor x = read_npy(dir / "x.npy");
  if (x.dim() == 4) x = x.permute({0, 3, 1, 2}).contiguous();  // NHWC -> NCHW, not timed
  const torch::Tensor y = read_npy(dir / "y.npy").to(torch::kLong);
  const std::int64_t steps = (x.size(0) + ts.batch - 1) / ts.batch;
  for (const int threads : {1, 2}) {
    set_threads(threads);
    torch::manual_seed(1);
    Model model(dir);  // the initial weights kserde starts from, at each thread count
    if (!model.ends_in_softmax()) throw std::runtime_error(dir.string() + ": no softmax output");
    const std::vector<torch::Tensor> params = model.parameters();
    std::int64_t count = 0;
    for (const torch::Tensor& p : params) count += p.numel();
    double initial = 0;
    {
      torch::NoGradGuard no_grad;
      initial = train_loss(model, x.slice(0, 0, ts.batch), y.slice(0, 0, ts.batch)).item<double>();
    }
    torch::optim::Adam adam(params, torch::optim::AdamOptions(ts.learning_rate).eps(ts.epsilon));
    std::vector<double> losses;
    const double epoch = bench::time_median(
        ts.epochs, [&] { losses.push_back(train_epoch(model, adam, x, y, ts.batch)); });
    std::string list;
    for (const double l : losses) {
      char b[32];
      std::snprintf(b, sizeof b, "%.4f", l);
      list += (list.empty() ? "" : ",") + std::string(b);
    }
    std::printf("TTRAIN\t%s\t%d\t%.6g\t%lld\t%lld\t%lld\t%.6f\t%s\n", dir.filename().c_str(),
                threads, static_cast<double>(steps) / epoch, static_cast<long long>(steps),
                static_cast<long long>(ts.batch), static_cast<long long>(count), initial,
                list.c_str());
    std::fflush(stdout);
  }
}

}  // namespace

// ---- peak memory of one prediction: ResNet50 / MobileNetV2 as torchvision builds them ----------

namespace tnn = torch::nn;

tnn::Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride,
                 std::int64_t pad, bool bias, std::int64_t groups = 1) {
  return tnn::Conv2d(
      tnn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(bias).groups(groups));
}

tnn::BatchNorm2d bn(std::int64_t c) {
  return tnn::BatchNorm2d(c);
}

struct BottleneckImpl : tnn::Module {
  BottleneckImpl(std::int64_t in, std::int64_t width, std::int64_t stride, bool project)
      : c1(register_module("c1", conv(in, width, 1, 1, 0, false))),
        b1(register_module("b1", bn(width))),
        c2(register_module("c2", conv(width, width, 3, stride, 1, false))),
        b2(register_module("b2", bn(width))),
        c3(register_module("c3", conv(width, 4 * width, 1, 1, 0, false))),
        b3(register_module("b3", bn(4 * width))) {
    if (project) {
      sc = register_module("sc", conv(in, 4 * width, 1, stride, 0, false));
      sb = register_module("sb", bn(4 * width));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = b1(c1(x)).relu_();
    y = b2(c2(y)).relu_();
    y = b3(c3(y));
    y += sc ? sb(sc(x)) : x;
    return y.relu_();
  }
  tnn::Conv2d c1;
  tnn::BatchNorm2d b1;
  tnn::Conv2d c2;
  tnn::BatchNorm2d b2;
  tnn::Conv2d c3;
  tnn::BatchNorm2d b3;
  tnn::Conv2d sc{nullptr};
  tnn::BatchNorm2d sb{nullptr};
};
TORCH_MODULE(Bottleneck);

struct ResNet50Impl : tnn::Module {
  ResNet50Impl() {
    stem = register_module("stem", conv(3, 64, 7, 2, 3, false));
    stem_bn = register_module("stem_bn", bn(64));
    std::int64_t in = 64;
    const std::int64_t widths[] = {64, 128, 256, 512}, counts[] = {3, 4, 6, 3};
    for (int s = 0; s < 4; ++s) {
      for (std::int64_t b = 0; b < counts[s]; ++b) {
        const std::int64_t stride = b == 0 && s > 0 ? 2 : 1;
        blocks.push_back(register_module("block" + std::to_string(blocks.size()),
                                         Bottleneck(in, widths[s], stride, b == 0)));
        in = 4 * widths[s];
      }
    }
    fc = register_module("fc", tnn::Linear(2048, 1000));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = stem_bn(stem(x)).relu_();
    x = torch::max_pool2d(x, 3, 2, 1);
    for (auto& b : blocks) x = b->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return torch::softmax(fc(x), 1);
  }
  tnn::Conv2d stem{nullptr};
  tnn::BatchNorm2d stem_bn{nullptr};
  std::vector<Bottleneck> blocks;
  tnn::Linear fc{nullptr};
};
TORCH_MODULE(ResNet50);

struct InvertedResidualImpl : tnn::Module {
  InvertedResidualImpl(std::int64_t in, std::int64_t out, std::int64_t stride, std::int64_t expand)
      : residual(stride == 1 && in == out) {
    const std::int64_t hidden = in * expand;
    if (expand != 1) {
      pw = register_module("pw", conv(in, hidden, 1, 1, 0, false));
      pw_bn = register_module("pw_bn", bn(hidden));
    }
    dw = register_module("dw", conv(hidden, hidden, 3, stride, 1, false, hidden));
    dw_bn = register_module("dw_bn", bn(hidden));
    pj = register_module("pj", conv(hidden, out, 1, 1, 0, false));
    pj_bn = register_module("pj_bn", bn(out));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = x;
    if (pw) y = pw_bn(pw(y)).clamp_(0.0, 6.0);
    y = dw_bn(dw(y)).clamp_(0.0, 6.0);
    y = pj_bn(pj(y));
    return residual ? y + x : y;
  }
  bool residual;
  tnn::Conv2d pw{nullptr}, dw{nullptr}, pj{nullptr};
  tnn::BatchNorm2d pw_bn{nullptr}, dw_bn{nullptr}, pj_bn{nullptr};
};
TORCH_MODULE(InvertedResidual);

struct MobileNetV2Impl : tnn::Module {
  MobileNetV2Impl() {
    stem = register_module("stem", conv(3, 32, 3, 2, 1, false));
    stem_bn = register_module("stem_bn", bn(32));
    // (expansion, channels, repeats, first stride), as in the MobileNetV2 paper and Keras.
    const std::int64_t cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                    {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    std::int64_t in = 32;
    for (const auto& c : cfg) {
      for (std::int64_t i = 0; i < c[2]; ++i) {
        blocks.push_back(register_module("block" + std::to_string(blocks.size()),
                                         InvertedResidual(in, c[1], i == 0 ? c[3] : 1, c[0])));
        in = c[1];
      }
    }
    head = register_module("head", conv(320, 1280, 1, 1, 0, false));
    head_bn = register_module("head_bn", bn(1280));
    fc = register_module("fc", tnn::Linear(1280, 1000));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = stem_bn(stem(x)).clamp_(0.0, 6.0);
    for (auto& b : blocks) x = b->forward(x);
    x = head_bn(head(x)).clamp_(0.0, 6.0);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return torch::softmax(fc(x), 1);
  }
  tnn::Conv2d stem{nullptr}, head{nullptr};
  tnn::BatchNorm2d stem_bn{nullptr}, head_bn{nullptr};
  std::vector<InvertedResidual> blocks;
  tnn::Linear fc{nullptr};
};
TORCH_MODULE(MobileNetV2);

// Peak RSS of a process that builds the model and predicts one batch, as `kserde predict` does.
int run_rss(const std::string& arch, std::int64_t batch) {
  c10::InferenceMode guard;
  torch::manual_seed(1);
  std::shared_ptr<tnn::Module> model;
  std::function<torch::Tensor(const torch::Tensor&)> forward;
  if (arch == "resnet50") {
    ResNet50 m;
    model = m.ptr();
    forward = [m](const torch::Tensor& x) mutable { return m->forward(x); };
  } else if (arch == "mobilenetv2") {
    MobileNetV2 m;
    model = m.ptr();
    forward = [m](const torch::Tensor& x) mutable { return m->forward(x); };
  } else {
    throw std::runtime_error("unknown architecture " + arch);
  }
  model->eval();
  std::int64_t weight_bytes = 0;
  for (const auto& p : model->parameters()) weight_bytes += p.numel() * 4;
  for (const auto& b : model->buffers()) weight_bytes += b.numel() * b.element_size();
  const torch::Tensor x = torch::rand({batch, 3, 224, 224});
  const torch::Tensor y = forward(x);
  if (y.size(0) != batch || !std::isfinite(y.sum().item<float>()))
    throw std::runtime_error("bad prediction");
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  std::printf("%ld %lld\n", ru.ru_maxrss, static_cast<long long>(weight_bytes));
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: kserde_torch_bench <case dir>... | --blas | --train <dir>... | --rss "
                 "<arch> <batch>\n");
    return 2;
  }
  if (std::string(argv[1]) == "--blas") {
    std::printf("%s\n", blas_info().c_str());
    return 0;
  }
  if (std::string(argv[1]) == "--train" && argc >= 3) {
    try {
      // No InferenceMode here: training needs autograd.
      for (int i = 2; i < argc; ++i) run_train(argv[i]);
      std::printf("NOTE\tLibTorch %s training: %s; GEMM: %s\n", TORCH_VERSION,
                  parallel_backend().c_str(), blas_info().c_str());
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "kserde_torch_bench: %s\n", e.what());
      return 1;
    }
  }
  if (std::string(argv[1]) == "--rss" && argc == 4) {
    try {
      return run_rss(argv[2], std::atoll(argv[3]));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "kserde_torch_bench: %s\n", e.what());
      return 1;
    }
  }
  try {
    c10::InferenceMode guard;  // no autograd bookkeeping, as for any LibTorch inference
    const int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::string diffs;
    for (int i = 1; i < argc; ++i) run_case(argv[i], all, diffs);
    std::printf(
        "NOTE\tLibTorch %s (TORCH_VERSION), CPU, InferenceMode, NCHW; %s; GEMM: %s; "
        "MKL-DNN (oneDNN) %s\n",
        TORCH_VERSION, parallel_backend().c_str(), blas_info().c_str(),
        at::hasMKLDNN() ? "available" : "not built");
    std::printf(
        "NOTE\tkserde vs LibTorch predictions, max abs diff over batches and thread counts: "
        "%s\n",
        diffs.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kserde_torch_bench: %s\n", e.what());
    return 1;
  }
}

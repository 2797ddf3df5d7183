#!/usr/bin/env bash
# kserde's benchmark suite: builds build-perf (Release, KSERDE_BUILD_BENCH=ON), runs every section
# and writes bench/RESULTS.md. Benchmarks are never tests: nothing here fails on time. The
# inference section compares with LibTorch (kserde_torch_bench), installing Debian's libtorch-dev
# when run as root; without it, those rows fall back to kserde-only references.
#   bench/run.sh            (env: BUILD_DIR, BENCH_TMP, JOBS)
#   bench/run.sh memory     only section (f), inference memory: prints its table rows
#   bench/run.sh portable   only section (g), the portable build's inference: prints its rows
#   bench/run.sh training   only section (h), training steps/s against LibTorch: prints its rows
#                           (env: DIGITS_CSV_GZ, scikit-learn's digits; same-shaped random data
#                           when it is missing)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="${BUILD_DIR:-$ROOT/build-perf}"
TMP="${BENCH_TMP:-$(mktemp -d /tmp/kserde-bench.XXXXXX)}"
OUT="$ROOT/bench/RESULTS.md"
JOBS="${JOBS:-2}"
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT

if [ ! -x /usr/bin/python3 ] || ! /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  echo "note: python3-h5py is missing (apt-get install python3-h5py); the h5py row is skipped" >&2
fi

# LibTorch, the inference reference (section d), with OpenBLAS for its GEMM: Debian packages.
if ! dpkg -s libtorch-dev libopenblas-dev >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    PKGS=(libtorch-dev libopenblas-dev)
    apt-get install -y --no-install-recommends "${PKGS[@]}" >&2 ||
      { apt-get update -qq && apt-get install -y --no-install-recommends "${PKGS[@]}" >&2; } ||
      echo "note: installing libtorch-dev libopenblas-dev failed; the LibTorch rows are skipped" >&2
  else
    echo "note: libtorch-dev/libopenblas-dev are missing (apt-get install -y" \
      "--no-install-recommends libtorch-dev libopenblas-dev, as root); the LibTorch rows are" \
      "skipped" >&2
  fi
fi

cmake -S "$ROOT" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
  -DKSERDE_BUILD_BENCH=ON >/dev/null
TARGETS=(kserde_bench kserde kserde_my_layers)
# Defined only when CMake found Torch; the portable section does not use it.
if [ "${1:-}" != portable ] && ninja -C "$B" -t query kserde_torch_bench >/dev/null 2>&1; then
  TARGETS+=(kserde_torch_bench)
fi
ninja -C "$B" -j"$JOBS" "${TARGETS[@]}" >/dev/null

KB="$B/bench/kserde_bench"
TB="$B/bench/kserde_torch_bench"
DIGITS="${DIGITS_CSV_GZ:-/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz}"
G="$ROOT/tests/golden"
ROWS="$TMP/rows.tsv"
: >"$ROWS"

run() { "$KB" "$@" | tee -a "$ROWS" >&2; }
row() { printf 'ROW\t%s\t%s\t%s\t%s\t%s\n' "$@" | tee -a "$ROWS" >&2; }
mb() { awk -v k="$1" 'BEGIN { printf "%.0f MB", k / 1024 }'; }

# OpenBLAS 0.3.21 (Debian 12) does not know CPUs newer than itself and falls back to its generic
# SSE3 "Prescott" kernels on them (3x slower GEMM on an AVX-512 Xeon): prints the OPENBLAS_CORETYPE
# for the kernels the CPU can run, as a LibTorch user on that machine would choose, or nothing.
blas_core() {
  local flags
  if [ -n "${OPENBLAS_CORETYPE:-}" ] || [[ "$("$TB" --blas)" != *Prescott* ]]; then return 0; fi
  flags=" $(grep -m1 '^flags' /proc/cpuinfo) "
  has() { for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done; }
  if has avx512f avx512bw avx512vl avx512dq; then
    echo SkylakeX
  elif has avx2 fma; then
    echo Haswell
  fi
}

# (f) Peak RSS of `kserde predict` on ResNet50- and MobileNetV2-shaped models (built here with
# keras.applications' layers; random weights) in a fresh process, next to weights + the largest
# live activation set (from the graph) and next to LibTorch predicting the same architecture.
memory_rows() {
  local arch batch w live peak tpeak goal ratio
  for arch in resnet50 mobilenetv2; do
    "$KB" arch "$arch" "$TMP/arch" 1 32 >"$TMP/arch.tsv"
    while IFS=$'\t' read -r _ _ batch w live; do
      peak=$("$KB" peak "$B/bin/kserde" predict "$TMP/arch/$arch.keras" \
        --input "$TMP/arch/${arch}_b$batch.npy" --output "$TMP/arch/y.npy" --batch-size "$batch")
      tpeak="-" ratio="-"
      if [ -x "$TB" ]; then
        read -r tpeak _ < <("$TB" --rss "$arch" "$batch")
        ratio=$(awk -v a="$peak" -v b="$tpeak" 'BEGIN { printf "%.2fx", a / b }')
        tpeak="$(mb "$tpeak")"
      fi
      goal=$(awk -v w="$w" -v l="$live" 'BEGIN { printf "<= %.0f MB (W %.0f + 1.5 x L %.0f + 16), <= 1.0x",
        (w + 1.5 * l) / 1048576 + 16, w / 1048576, l / 1048576 }')
      row "$arch-shaped model, kserde predict batch $batch: peak RSS (LibTorch, same architecture = reference)" \
        "$(mb "$peak")" "$tpeak" "$ratio" "$goal"
    done <"$TMP/arch.tsv"
  done
  printf 'NOTE\t%s\n' "Inference memory: W = weights, L = the largest set of activations alive at \
once (each node's outputs from its run to its last consumer's), both computed from the graph; \
peak RSS is the child's ru_maxrss, whole process (binary, libraries, model, input file, output)." >>"$ROWS"
}

# (g) The portable build (KSERDE_NATIVE_ARCH=OFF: baseline x86-64, kernels chosen at run time)
# against the native one (-march=native) on the inference cases, same machine, same run; and the
# portable build held to its baseline kernels (KSERDE_KERNEL_ISA=baseline), what a portable
# binary without run-time kernel choice would do.
portable_rows() {
  local BP="$B-portable" native="$TMP/native.tsv" portable="$TMP/portable.tsv" base="$TMP/base.tsv"
  cmake -S "$ROOT" -B "$BP" -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
    -DKSERDE_BUILD_BENCH=ON -DKSERDE_NATIVE_ARCH=OFF >/dev/null
  ninja -C "$BP" -j"$JOBS" kserde_bench kserde >/dev/null
  "$KB" infer "$G" >"$native"
  "$BP/bench/kserde_bench" infer "$G" >"$portable"
  KSERDE_KERNEL_ISA=baseline "$BP/bench/kserde_bench" infer "$G" >"$base"
  awk -F'\t' '
    function t(s) {
      if (s >= 1) return sprintf("%.2f s", s)
      if (s >= 1e-3) return sprintf("%.2f ms", s * 1e3)
      return sprintf("%.1f us", s * 1e6)
    }
    FILENAME == ARGV[1] { if ($1 == "KSERDE") native[$2, $3, $4] = $5; next }
    FILENAME == ARGV[2] { if ($1 == "KSERDE") portable[$2, $3, $4] = $5; next }
    $1 == "KSERDE" {
      k = ($2 SUBSEP $3 SUBSEP $4)
      if (!(k in native) || !(k in portable)) next
      printf "ROW\t%s, batch %s, %s thread%s: portable build (native build = reference)\t%s\t%s\t%.2fx\t<= 1.25x\n",
        $6, $3, $4, ($4 == 1 ? "" : "s"), t(portable[k]), t(native[k]), portable[k] / native[k]
      printf "ROW\t%s, batch %s, %s thread%s: portable build, baseline kernels forced (native = reference)\t%s\t%s\t%.2fx\t(what run-time choice saves)\n",
        $6, $3, $4, ($4 == 1 ? "" : "s"), t($5), t(native[k]), $5 / native[k]
    }' "$native" "$portable" "$base" | tee -a "$ROWS" >&2
  printf 'NOTE\t%s\n' "Portable build: KSERDE_NATIVE_ARCH=OFF compiles the library for baseline \
x86-64 and picks the kernel set (here $(KSERDE_KERNEL_ISA= "$BP/bin/kserde" --version 2>/dev/null | \
sed -n 's/.*kernels: \(.*\))/\1/p')) at run time; the forced-baseline rows show the same binary on \
SSE2 kernels." >>"$ROWS"
}

# (h) Training steps/s: `kserde_bench train` (kserde::fit, one epoch per timed call) of the seed
# workflow's digits CNN and an MLP 784-256-256-10 at 1 and 2 threads, against `kserde_torch_bench
# --train` training the same models from the same initial weights on the same data with autograd
# and torch::optim::Adam, in the same run.
training_rows() {
  local ks="$TMP/ktrain.tsv" ts="$TMP/ttrain.tsv" core="" epochs
  "$KB" train "$TMP/train" "$DIGITS" | tee "$ks" >&2
  : >"$ts"
  if [ -x "$TB" ]; then
    core=$(blas_core)
    if ! env ${core:+"OPENBLAS_CORETYPE=$core"} "$TB" --train "$TMP/train/digits_cnn" \
      "$TMP/train/mlp" | tee "$ts" >&2; then
      echo "note: kserde_torch_bench --train failed; the LibTorch training rows are skipped" >&2
      : >"$ts"
    fi
  fi
  # KTRAIN and TTRAIN lines: case, threads, steps/s, steps per epoch, batch, parameters, loss of
  # the initial weights on the first batch, epoch losses (warm-up first), then the name (KTRAIN).
  awk -F'\t' -v core="$core" '
    function first(l) { sub(/,.*/, "", l); return l }
    function last(l) { sub(/.*,/, "", l); return l }
    function falls(l,   n, v) { n = split(l, v, ","); return v[n] + 0 < v[1] + 0 }
    FILENAME == ARGV[1] { if ($1 == "TTRAIN") { torch[$2, $3] = $4; tp[$2] = $7; ti[$2] = $8; tl[$2, $3] = $9 }
                next }
    $1 == "KTRAIN" {
      k = ($2 SUBSEP $3)
      printf "ROW\t%s, batch %s, %s steps/epoch: training steps/s (kserde::fit), %s thread%s (LibTorch = reference)\t%.0f steps/s\t%s\t%s\t<= 1.0x\n",
        $10, $6, $5, $3, ($3 == 1 ? "" : "s"), $4, (k in torch) ? sprintf("%.0f steps/s", torch[k]) : "-",
        (k in torch) ? sprintf("%.2fx", torch[k] / $4) : "-"
      if (!($2 in notes)) {
        order[++cases] = $2
        line = sprintf("Training check, %s: trainable parameters kserde %s", $10, $7)
        if ($2 in tp) line = line sprintf(", LibTorch %s; loss of the shared initial weights on the first batch: kserde %s, LibTorch %s", tp[$2], $8, ti[$2])
        line = line "; mean loss per epoch (warm-up epoch, then the timed ones)"
      } else {
        line = notes[$2]
      }
      line = line sprintf(", %s thread%s: kserde %s -> %s (%s)", $3, ($3 == 1 ? "" : "s"),
        first($9), last($9), falls($9) ? "falls" : "DOES NOT FALL")
      if (k in tl) line = line sprintf(", LibTorch %s -> %s (%s)", first(tl[k]), last(tl[k]),
        falls(tl[k]) ? "falls" : "DOES NOT FALL")
      notes[$2] = line
    }
    END {
      for (i = 1; i <= cases; ++i) printf "NOTE\t%s\n", notes[order[i]]
      if (core != "") printf "NOTE\tLibTorch training ran with OPENBLAS_CORETYPE=%s (see the inference note)\n", core
    }' "$ts" "$ks" | tee -a "$ROWS" >&2
  grep -h '^NOTE' "$ks" "$ts" >>"$ROWS" || true
  epochs=$(awk -F'\t' '$1 == "KTRAIN" { print split($9, v, ",") - 1; exit }' "$ks")
  printf 'NOTE\t%s\n' "Training rows: ratio = LibTorch's steps/s / kserde's, i.e. kserde's time \
per step / LibTorch's (lower is better, as every ratio here). Steps/s = steps per epoch / the median \
of $epochs timed epochs after one warm-up epoch, a fresh model (the same initial weights) at each thread count. \
kserde: \`kserde::fit(epochs=1)\` per timed call (shuffle, batch gather, training forward pass, \
sparse categorical crossentropy, backward pass, Adam), threads set by kserde::ops::set_num_threads. \
LibTorch: the same layers as torch ops (NCHW), autograd, torch::nn::functional::cross_entropy on the \
last Dense's logits (= softmax + sparse categorical crossentropy), torch::optim::Adam with Keras's \
learning rate, betas and epsilon 1e-7, per epoch a randperm order and index_select per batch, then \
zero_grad, forward, backward, step; threads: torch::set_num_threads (intra-op only) and \
openblas_set_num_threads. No metrics on either side. Both sides train from kserde's initial \
weights (Glorot uniform, zero biases) on the same data." >>"$ROWS"
}

if [ "${1:-}" = memory ] || [ "${1:-}" = portable ] || [ "${1:-}" = training ]; then
  case "$1" in
    memory) memory_rows ;;
    portable) portable_rows ;;
    training) training_rows ;;
  esac
  awk -F'\t' '$1 == "ROW" { printf "| %s | %s | %s | %s | %s |\n", $2, $3, $4, $5, $6 }' "$ROWS"
  awk -F'\t' '$1 == "NOTE" { printf "- %s\n", $2 }' "$ROWS"
  exit 0
fi

echo "== (a) load" >&2
run load "$TMP"
echo "== (b) save" >&2
run save "$TMP"

echo "== (c) peak RSS" >&2
WMB=$(awk 'BEGIN { printf "%.1f", 4 * (4096 * 4096 + 4096) * 4 / 1048576 }')
read -r IDLE _ < <("$KB" rss idle "$TMP/big.keras")
for mode in load-copy load-mapped weights-copy weights-mapped save; do
  FILE="$TMP/big.keras"
  case "$mode" in weights-*) FILE="$TMP/big.weights.h5" ;; esac
  read -r PEAK BEFORE < <("$KB" rss "$mode" "$FILE")
  if [ "$mode" = save ] || [ "${mode#weights-}" != "$mode" ]; then
    EXTRA=$((PEAK - BEFORE))
    if [ "$mode" = save ]; then
      WORK="save .keras: peak RSS growth during the save (weights = reference)"
      GOAL="<= 0.10x (streamed)"
    else
      WORK="load_weights .weights.h5 (${mode#weights-}) into a built model: peak RSS growth (weights = reference)"
      if [ "$mode" = weights-copy ]; then GOAL="<= 1.10x"; else GOAL="<= 0.05x"; fi
    fi
  else
    EXTRA=$((PEAK - IDLE))
    WORK="$mode .keras: peak RSS over an idle process (weights = reference)"
    if [ "$mode" = load-copy ]; then GOAL="<= 1.10x"; else GOAL="<= 0.05x"; fi
  fi
  RATIO=$(awk -v e="$EXTRA" -v w="$WMB" 'BEGIN { printf "%.2fx", e / 1024 / w }')
  row "$WORK" "$(mb "$EXTRA") (peak $(mb "$PEAK"))" "${WMB} MB" "$RATIO" "$GOAL"
done

echo "== (d) inference" >&2
INFER="$TMP/infer.tsv" TORCH="$TMP/torch.tsv"
"$KB" infer "$G" | tee "$INFER" >&2
: >"$TORCH"
if [ -x "$TB" ]; then
  CORE=$(blas_core)
  mapfile -t CASES < <(awk -F'\t' '$1 == "KSERDE" && !seen[$2]++ { print $2 }' "$INFER")
  if "$KB" export "$G" "$TMP/export" &&
    env ${CORE:+"OPENBLAS_CORETYPE=$CORE"} "$TB" "${CASES[@]/#/$TMP/export/}" >"$TORCH"; then
    cat "$TORCH" >&2
    if [ -n "$CORE" ]; then
      printf 'NOTE\t%s\n' "LibTorch ran with OPENBLAS_CORETYPE=$CORE: OpenBLAS did not recognise \
this CPU and would otherwise use its generic SSE3 (Prescott) kernels" >>"$TORCH"
    fi
  else
    echo "note: kserde_bench export or kserde_torch_bench failed; the LibTorch rows are skipped" >&2
    : >"$TORCH"
  fi
  rm -rf "$TMP/export"
fi
if grep -q '^TORCH' "$TORCH"; then
  # KSERDE and TORCH lines: case, batch, threads, seconds, then the case's name (KSERDE only).
  awk -F'\t' '
    function t(s) {
      if (s >= 1) return sprintf("%.2f s", s)
      if (s >= 1e-3) return sprintf("%.2f ms", s * 1e3)
      return sprintf("%.1f us", s * 1e6)
    }
    FNR == NR { if ($1 == "TORCH") torch[$2, $3, $4] = $5; next }
    $1 == "KSERDE" {
      k = ($2 SUBSEP $3 SUBSEP $4)
      printf "ROW\t%s, batch %s, %s thread%s (LibTorch = reference)\t%s\t%s\t%s\t<= 1.0x\n", $6, $3,
        $4, ($4 == 1 ? "" : "s"), t($5), (k in torch) ? t(torch[k]) : "-",
        (k in torch) ? sprintf("%.2fx", $5 / torch[k]) : "-"
    }' "$TORCH" "$INFER" | tee -a "$ROWS" >&2
  LT=$(dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null || echo "?")
  printf 'NOTE\t%s\n' "LibTorch: Debian libtorch-dev $LT" >>"$ROWS"
  grep '^NOTE' "$TORCH" >>"$ROWS"
else
  grep '^ROW' "$INFER" >>"$ROWS" || true
fi
grep '^NOTE' "$INFER" >>"$ROWS" || true

echo "== (f) inference memory" >&2
memory_rows
echo "== (g) portable build" >&2
portable_rows

echo "== (e) start-up" >&2
PLUGIN="$(find "$B/plugins" -name 'libkserde_my_layers.so' | head -n1)"
PT=()
for _ in 1 2 3 4 5; do PT+=("$("$KB" plugin "$PLUGIN")"); done
PLUG=$(printf '%s\n' "${PT[@]}" | sort -g | sed -n 3p)
row "load_plugin(libkserde_my_layers.so), first load in a process" \
  "$(awk -v s="$PLUG" 'BEGIN { printf "%.2f ms", s * 1e3 }')" "-" "-" "<= 5 ms"
FIRST=$("$KB" spawn 7 "$B/bin/kserde" predict "$G/cnn/model.keras" --input "$G/cnn/input.npy" \
  --output "$TMP/y.npy")
TRUE=$("$KB" spawn 7 /bin/true)
row "process start to first prediction: kserde predict golden cnn (start of /bin/true = reference)" \
  "$(awk -v s="$FIRST" 'BEGIN { printf "%.2f ms", s * 1e3 }')" \
  "$(awk -v s="$TRUE" 'BEGIN { printf "%.2f ms", s * 1e3 }')" \
  "$(awk -v a="$FIRST" -v b="$TRUE" 'BEGIN { printf "%.1fx", a / b }')" "<= 50 ms total"

echo "== (h) training" >&2
training_rows

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEM=$(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)
THP=$(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo "?")
{
  echo "# kserde benchmark results"
  echo
  echo "Machine: $CPU, $(nproc) cores, $MEM RAM, $(uname -sr), transparent huge pages: $THP;"
  echo "g++ $(g++ -dumpfullversion), Release (-O2), $(date -u +%Y-%m-%d)."
  echo
  echo "Command: `bench/run.sh` (builds `build-perf` and runs `build-perf/bench/kserde_bench`)."
  echo
  echo "| work | kserde | reference | ratio | goal |"
  echo "|---|---|---|---|---|"
  awk -F'\t' '$1 == "ROW" { printf "| %s | %s | %s | %s | %s |\n", $2, $3, $4, $5, $6 }' "$ROWS"
  echo
  echo "Notes:"
  echo
  awk -F'\t' '$1 == "NOTE" { printf "- %s\n", $2 }' "$ROWS"
  cat <<'EOF'
- Ratios are kserde / reference (lower is better). Times are medians; files are in the page cache.
EOF
  if grep -q '^TORCH' "$TORCH"; then
    cat <<'EOF'
- Inference reference: LibTorch (Debian `libtorch-dev` 1.13, CPU) in its own process,
  `kserde_torch_bench` (bench/torch_bench.cpp; it does not link kserde), running the same
  architectures with the same weights and inputs, which `kserde_bench export` writes as .npy files
  with kserde's predictions. It works as a LibTorch user would: NCHW, conv2d weights permuted to
  (cout, cin, kh, kw) and Linear weights transposed once at setup, the Dense after a Flatten with
  its rows reordered once from Keras's (H, W, C) flatten order to (C, H, W), inputs made NCHW
  before timing, `c10::InferenceMode`, timed like kserde (warm-up, then the median of repeated
  calls for ~0.5 s). Threads: `torch::set_num_threads` plus `openblas_set_num_threads`, since
  LibTorch's setting does not reach OpenBLAS's own pool. conv2d runs in oneDNN (AVX-512 here,
  seen with DNNL_VERBOSE=1), Linear in OpenBLAS's sgemm.
EOF
  else
    cat <<'EOF'
- Inference reference: LibTorch was not available (bench/run.sh installs `libtorch-dev` and
  `libopenblas-dev` when run as root): the 3xConv2D CNN is compared with a naive single-threaded
  direct-convolution loop instead (same weights; max abs diff noted above), and the other models
  with kserde on one thread.
EOF
  fi
  cat <<'EOF'
- Thread counts: `KSERDE_NUM_THREADS`, `LoadOptions::num_threads` (default: all cores). Work is
  split so that every output element is computed by the same operations whatever the count, so
  results are bitwise identical for any count.
- Mapped loading (`LoadOptions::mmap_weights`) borrows the page-cache pages: its cost moves to the
  first prediction, which touches them (no copy, no anonymous memory).
- Peak RSS: VmHWM of a child process that does only that operation (reset through
  /proc/self/clear_refs before it where a model is built first).
- Copying load: each contiguous dataset is copied in 4 MiB parts spread over the inference threads
  into fresh huge-page-advised memory, and each part's file pages are dropped from the process
  (`madvise(MADV_DONTNEED)`) once copied, so the peak holds one copy of the weights rather than the
  copy plus the mapped file. Variables made when the model is built from config.json are untouched
  zero pages until then, and cost nothing.
- Mapped .keras: kserde's HDF5 writer puts dataset data at 64-byte offsets inside the image and
  its `.keras` writer starts the weights member on a 64-byte boundary (config.json padded with
  spaces), so every float32 tensor of a kserde-saved `.keras` is borrowed from the mapping.
- Inference kernels are compiled with `-march=native` (`KSERDE_NATIVE_ARCH`, default ON).
- Repeated predictions (the timed calls above) make no heap allocation and map no memory once
  warm: tensors, lists and scratch come from recycled buffers. Not timed here; `test_golden` and
  `test_core_models` count every malloc-family call and mmap over repeated predictions.
EOF
} >"$OUT"
echo "wrote $OUT" >&2

#!/bin/sh
# Out-of-tree plugin test: install this build to a temporary prefix, build examples/plugin_example
# against it with find_package(kserde CONFIG), and run the installed kserde with the plugin.
# usage: install_test.sh BUILD_DIR SOURCE_DIR
set -eu
BUILD=$1
SRC=$2
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kserde-install-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
unset KSERDE_PLUGIN_PATH || true
fail() { echo "install_test: FAIL: $*" >&2; exit 1; }
run() { "$@" >"$TMP/log" 2>&1 || { cat "$TMP/log" >&2; fail "$*"; }; }

run cmake --install "$BUILD" --prefix "$TMP/prefix"
helper=$(find "$TMP/prefix" -name KserdePlugin.cmake | head -n 1)
[ -n "$helper" ] || fail "KserdePlugin.cmake is not installed"
core=$(find "$TMP/prefix" -name 'libkserde_core.so*' | head -n 1)
[ -n "$core" ] || fail "libkserde_core is not installed"
# The shipped format plugins are installed beside the libraries, where kserde finds them unasked.
installed_plugin=$(find "$TMP/prefix" -name 'libkserde_legacy_h5.so' | head -n 1)
[ -n "$installed_plugin" ] || fail "the legacy_h5 plugin is not installed"
plugin_home=$(dirname "$installed_plugin")
[ "$plugin_home" = "$(dirname "$core")/kserde/plugins" ] || fail "plugins are in $plugin_home, not <libdir>/kserde/plugins"
[ -f "$plugin_home/kserde_legacy_h5.kserde-plugin.json" ] || fail "the legacy_h5 manifest is not installed"
[ -f "$plugin_home/libkserde_safetensors.so" ] || fail "the safetensors plugin is not installed"
[ ! -e "$plugin_home/libkserde_my_layers.so" ] || fail "the my_layers example is installed as a bundled plugin"

GEN=""
if command -v ninja >/dev/null 2>&1; then GEN="-G Ninja"; fi
# shellcheck disable=SC2086
run cmake -S "$SRC/examples/plugin_example" -B "$TMP/build" $GEN -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$TMP/prefix"
run cmake --build "$TMP/build"
[ -f "$TMP/build/libkserde_example_layers.so" ] || fail "the example plugin was not built"
[ -f "$TMP/build/kserde_example_layers.kserde-plugin.json" ] || fail "the example manifest was not written"

export LD_LIBRARY_PATH="$(dirname "$core")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
KSERDE="$TMP/prefix/bin/kserde"
[ -x "$KSERDE" ] || fail "kserde is not installed"

"$KSERDE" plugins --plugin-dir "$TMP/build" >"$TMP/plugins.txt" 2>&1 || { cat "$TMP/plugins.txt"; fail "kserde plugins"; }
cat "$TMP/plugins.txt"
grep -q "example_layers 0.1.0" "$TMP/plugins.txt" || fail "kserde plugins does not list example_layers"
grep -q "MyLayers>ScaledDense" "$TMP/plugins.txt" || fail "kserde plugins does not list what it provides"
grep -q "status:    loads" "$TMP/plugins.txt" || fail "the example plugin does not load"

"$KSERDE" plugins --json >"$TMP/installed.json" 2>&1 || fail "kserde plugins (no flags)"
grep -q '"origin":"bundled","name":"legacy_h5".*"loads":true' "$TMP/installed.json" || { cat "$TMP/installed.json"; fail "the installed legacy_h5 is not found and loaded unasked"; }
grep -q '"origin":"bundled","name":"safetensors".*"loads":true' "$TMP/installed.json" || { cat "$TMP/installed.json"; fail "the installed safetensors is not found and loaded unasked"; }

CASE="$SRC/tests/golden/custom_layer"
"$KSERDE" inspect "$CASE/model.keras" --plugin-dir "$TMP/build" >"$TMP/inspect.txt" 2>&1 || { cat "$TMP/inspect.txt"; fail "inspect"; }
grep -q "ScaledDense" "$TMP/inspect.txt" || { cat "$TMP/inspect.txt"; fail "inspect does not show ScaledDense"; }
# Options of every command may come before it.
"$KSERDE" --plugin-dir "$TMP/build" predict "$CASE/model.keras" --input "$CASE/input.npy" --output "$TMP/y.npy" \
    >"$TMP/predict.txt" 2>&1 || { cat "$TMP/predict.txt"; fail "predict through the example plugin"; }
# Without the plugin the same prediction fails, naming the class.
if "$KSERDE" predict "$CASE/model.keras" --input "$CASE/input.npy" --output "$TMP/n.npy" 2>"$TMP/err.txt"; then
  fail "predict succeeded without the plugin"
fi
grep -q "ScaledDense" "$TMP/err.txt" || fail "the error does not name ScaledDense"

# Compare a prediction with Keras's (float32 little-endian .npy; rtol 1e-5, atol 1e-6) without NumPy.
npy_values() {  # prints one float per line
  hlen=$(od -A n -t u2 -j 8 -N 2 "$1" | tr -d ' ')
  od -A n -v -t f4 -j $((10 + hlen)) "$1" | tr -s ' ' '\n' | grep -v '^$'
}
same_as_keras() {  # same_as_keras GOT.npy EXPECTED.npy WHAT
  npy_values "$1" >"$TMP/y.txt"
  npy_values "$2" >"$TMP/e.txt"
  [ "$(wc -l <"$TMP/y.txt")" -eq "$(wc -l <"$TMP/e.txt")" ] || fail "$3: prediction has another size"
  [ "$(wc -l <"$TMP/y.txt")" -gt 0 ] || fail "$3: empty prediction"
  paste "$TMP/y.txt" "$TMP/e.txt" | awk '{ d = $1 - $2; if (d < 0) d = -d; e = $2; if (e < 0) e = -e;
    if (d > 1e-6 + 1e-5 * e) { print "value " NR ": " $1 " vs " $2; bad = 1 } } END { exit bad }' \
    || fail "$3: the prediction differs from Keras's"
}
same_as_keras "$TMP/y.npy" "$CASE/expected.npy" "the example plugin"

# A legacy .h5 written by Keras (model.save('model.h5')) migrates through the bundled legacy_h5
# plugin with no plugin flags anywhere, and so does one kserde writes.
MLP="$SRC/tests/golden/mlp"
run "$KSERDE" convert "$MLP/model.h5" "$TMP/new.keras"
run "$KSERDE" predict "$TMP/new.keras" --input "$MLP/input.npy" --output "$TMP/mlp.npy"
same_as_keras "$TMP/mlp.npy" "$MLP/expected.npy" "Keras's legacy .h5 converted"
run "$KSERDE" convert "$MLP/model.keras" "$TMP/old.h5"
run "$KSERDE" convert "$TMP/old.h5" "$TMP/new.keras"
run "$KSERDE" predict "$TMP/new.keras" --input "$MLP/input.npy" --output "$TMP/mlp.npy"
same_as_keras "$TMP/mlp.npy" "$MLP/expected.npy" "kserde's legacy .h5 round trip"
# --no-bundled-plugins turns the bundled plugins off: the .h5 then has no reader.
if "$KSERDE" --no-bundled-plugins convert "$TMP/old.h5" "$TMP/off.keras" 2>"$TMP/off.txt"; then
  fail "convert read a legacy .h5 with the bundled plugins turned off"
fi
echo "install_test: OK"

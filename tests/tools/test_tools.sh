#!/usr/bin/env bash
# Tests the Python tools in tools/ (plot-gradient-flow, plot-timesteps, plot-study-loss, plot-depth-norms,
# plot-spectrum, study-to-csv) on real traces and tiny studies made with the gradlab binary, in a temporary folder removed on exit.
#
# usage: tests/tools/test_tools.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

build_dir="$(cd "${1:?usage: test_tools.sh BUILD_DIR SOURCE_DIR}" && pwd)"
source_dir="$(cd "${2:?usage: test_tools.sh BUILD_DIR SOURCE_DIR}" && pwd)"
gradlab="$build_dir/bin/gradlab"
tools="$source_dir/tools"
python=/usr/bin/python3
workdir="$(mktemp -d "${TMPDIR:-/tmp}/gradlab-tools-test.XXXXXX")"
trap 'rm -rf "$workdir"' EXIT
failures=0

fail() {  # Report a failed check and keep going.
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

expect_success() {  # Run a command that must exit 0; show its stderr when it does not.
  if ! "$@" > "$workdir/last.out" 2> "$workdir/last.err"; then
    fail "exit code $? from: $*"
    cat "$workdir/last.err" >&2
  fi
}

expect_failure() {  # Run a command that must exit non-zero with a message containing $1 (e.g. the file's name).
  local expected_text="$1"
  shift
  if "$@" > "$workdir/last.out" 2> "$workdir/last.err"; then
    fail "expected a non-zero exit code from: $*"
  elif ! grep -qF -- "$expected_text" "$workdir/last.err"; then
    fail "the error of '$*' does not mention '$expected_text': $(cat "$workdir/last.err")"
  fi
}

expect_png() {  # Check that $1 is a PNG (signature, IHDR) of at least 200x150 pixels and 5 kB.
  if ! "$python" - "$1" <<'PYTHON'
import os, struct, sys
path = sys.argv[1]
with open(path, "rb") as file:
    header = file.read(24)
assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: no PNG signature"
assert header[12:16] == b"IHDR", f"{path}: no IHDR chunk first"
width, height = struct.unpack(">II", header[16:24])
assert width >= 200 and height >= 150, f"{path}: only {width}x{height} pixels"
assert os.path.getsize(path) >= 5000, f"{path}: only {os.path.getsize(path)} bytes"
PYTHON
  then
    fail "$1 is not a valid, non-trivial PNG"
  fi
}

[ -x "$gradlab" ] || { echo "test_tools.sh: no gradlab binary at '$gradlab'" >&2; exit 2; }
[ -x "$python" ] || { echo "test_tools.sh: no $python" >&2; exit 2; }

# Inputs: a deep sigmoid trace, an LSTM trace, a 2x2 study over depth and activation, and a study with divergences.
"$gradlab" run "$source_dir/configs/deep_sigmoid.yaml" --set training.steps=30 -o "$workdir/deep.h5" -q
"$gradlab" run "$source_dir/configs/recurrent/adding_lstm.yaml" --set training.steps=20 --set data.samples=256 \
  -o "$workdir/lstm.h5" -q
cat > "$workdir/depth.yaml" <<'YAML'
name: depth
seed: 1
data: {kind: teacher, samples: 256, inputs: 8, outputs: 2, hidden: [8], noise: 0.01, validation: 0.1}
model:
  layers:
    - repeat: 2
      layers:
        - {kind: dense, units: 16, activation: sigmoid, init: {W: glorot_normal}}
    - {kind: dense, units: 2}
loss: mse
optimizer: {kind: sgd, lr: 0.05, momentum: 0.9}
training: {steps: 20, batch_size: 32, eval_every: 10}
trace: {every: 5}
sweep:
  grid:
    model.layers.0.repeat: [2, 4]
    model.layers.0.layers.0.activation: [sigmoid, relu]
YAML
sed -e 's/model.layers.0.layers.0.activation: \[sigmoid, relu\]/optimizer.lr: [0.05, 1000.0]/' \
  "$workdir/depth.yaml" > "$workdir/diverging.yaml"
"$gradlab" sweep "$workdir/depth.yaml" -j 2 -o "$workdir/depth" > /dev/null
"$gradlab" sweep "$workdir/diverging.yaml" -j 2 -o "$workdir/diverging" > /dev/null
echo "not a trace" > "$workdir/text.h5"

# --help of every tool.
for tool in plot-gradient-flow plot-timesteps plot-study-loss plot-study-metric plot-depth-norms plot-layer-profile plot-spectrum plot-probe study-to-csv; do
  expect_success "$tools/$tool" --help
done

# plot-gradient-flow
expect_success "$tools/plot-gradient-flow" "$workdir/deep.h5" -o "$workdir/flow.png"
expect_png "$workdir/flow.png"
expect_success "$tools/plot-gradient-flow" "$workdir/deep.h5" --dataset param_grad_norm -o "$workdir/flow-params.png"
expect_png "$workdir/flow-params.png"
expect_success "$tools/plot-gradient-flow" "$workdir/deep.h5"   # default output beside the trace
expect_png "$workdir/deep-gradient-flow.png"
expect_failure "$workdir/text.h5" "$tools/plot-gradient-flow" "$workdir/text.h5" -o "$workdir/bad.png"
expect_failure "$workdir/missing.h5" "$tools/plot-gradient-flow" "$workdir/missing.h5"
expect_failure "gradlab-trace" "$tools/plot-gradient-flow" "$workdir/depth/study.h5"

# plot-timesteps
expect_success "$tools/plot-timesteps" "$workdir/lstm.h5" -o "$workdir/timesteps.png"
expect_png "$workdir/timesteps.png"
expect_success "$tools/plot-timesteps" "$workdir/lstm.h5" --layer layers.0.lstm -o "$workdir/timesteps-layer.png"
expect_png "$workdir/timesteps-layer.png"
expect_failure "$workdir/lstm.h5" "$tools/plot-timesteps" "$workdir/lstm.h5" --layer layers.9.lstm -o "$workdir/bad.png"
grep -qF "available: layers.0.lstm" "$workdir/last.err" || fail "a wrong --layer does not list the available layers"
expect_failure "$workdir/deep.h5" "$tools/plot-timesteps" "$workdir/deep.h5" -o "$workdir/bad.png"
expect_failure "$workdir/text.h5" "$tools/plot-timesteps" "$workdir/text.h5" -o "$workdir/bad.png"

# plot-study-loss: a folder, an index, --log, --eval, and a study with diverged runs.
expect_success "$tools/plot-study-loss" "$workdir/depth" -o "$workdir/loss.png"
expect_png "$workdir/loss.png"
expect_success "$tools/plot-study-loss" "$workdir/depth/study.h5" --log --eval -o "$workdir/eval-loss.png"
expect_png "$workdir/eval-loss.png"
expect_success "$tools/plot-study-loss" "$workdir/diverging" --log
expect_png "$workdir/diverging/loss.png"
expect_failure "$workdir/deep.h5" "$tools/plot-study-loss" "$workdir/deep.h5" -o "$workdir/bad.png"
expect_failure "$workdir/text.h5" "$tools/plot-study-loss" "$workdir/text.h5" -o "$workdir/bad.png"
expect_failure "$workdir/study.h5" "$tools/plot-study-loss" "$workdir" -o "$workdir/bad.png"

# plot-depth-norms
expect_success "$tools/plot-depth-norms" "$workdir/depth" --depth-key model.layers.0.repeat \
  --group-key model.layers.0.layers.0.activation -o "$workdir/depth-norms.png"
expect_png "$workdir/depth-norms.png"
expect_failure "param/no.such.key" "$tools/plot-depth-norms" "$workdir/depth" --depth-key no.such.key \
  --group-key model.layers.0.layers.0.activation -o "$workdir/bad.png"
expect_failure "not a number" "$tools/plot-depth-norms" "$workdir/depth" \
  --depth-key model.layers.0.layers.0.activation --group-key model.layers.0.repeat -o "$workdir/bad.png"

# plot-spectrum: a trace with the jacobian_spectrum probe, at the first and the last step; a trace without probes,
# and a step that is not a probe step, are errors naming the file.
"$gradlab" run "$source_dir/configs/deep_sigmoid.yaml" --set training.steps=10 \
  --set 'probes=[{kind: jacobian_spectrum, at_init: true, at_end: true, examples: 2}]' -o "$workdir/probed.h5" -q
expect_success "$tools/plot-spectrum" "$workdir/probed.h5" -o "$workdir/spectrum.png"
expect_png "$workdir/spectrum.png"
expect_success "$tools/plot-spectrum" "$workdir/probed.h5" --step 10   # default output beside the trace
expect_png "$workdir/probed-spectrum.png"
expect_failure "$workdir/deep.h5: no probe 'jacobian_spectrum'" "$tools/plot-spectrum" "$workdir/deep.h5" -o "$workdir/bad.png"
expect_failure "step 3 is not a probe step" "$tools/plot-spectrum" "$workdir/probed.h5" --step 3 -o "$workdir/bad.png"
expect_failure "$workdir/text.h5" "$tools/plot-spectrum" "$workdir/text.h5" -o "$workdir/bad.png"

# study-to-csv: to stdout and to a file; header and one row per run.
expected_header="index,name,status,verdict,final_loss,diverged_at,seed,message,trace,log,best_eval_loss,final_eval_accuracy,final_eval_loss,final_train_loss,signal_ratio_final,signal_ratio_init,test_accuracy,timestep_ratio_final,timestep_ratio_init,param/model.layers.0.repeat,param/model.layers.0.layers.0.activation"
expect_success "$tools/study-to-csv" "$workdir/depth"
cp "$workdir/last.out" "$workdir/stdout.csv"
expect_success "$tools/study-to-csv" "$workdir/depth/study.h5" -o "$workdir/study.csv"
cmp -s "$workdir/stdout.csv" "$workdir/study.csv" || fail "study-to-csv writes different CSVs to stdout and to -o"
[ "$(head -n 1 "$workdir/study.csv")" = "$expected_header" ] ||
  fail "CSV header is '$(head -n 1 "$workdir/study.csv")', expected '$expected_header'"
[ "$(wc -l < "$workdir/study.csv")" -eq 5 ] || fail "CSV has $(wc -l < "$workdir/study.csv") lines, expected 1 + 4 runs"
"$python" - "$workdir/study.csv" <<'PYTHON' || fail "CSV rows do not hold the study's runs"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [row["index"] for row in rows] == ["0", "1", "2", "3"], rows
assert {row["param/model.layers.0.layers.0.activation"] for row in rows} == {"sigmoid", "relu"}, rows
assert all(row["status"] == "completed" for row in rows), rows
PYTHON
expect_failure "$workdir/text.h5" "$tools/study-to-csv" "$workdir/text.h5"

if [ "$failures" -ne 0 ]; then
  echo "test_tools.sh: $failures check(s) failed" >&2
  exit 1
fi
echo "test_tools.sh: all checks passed"

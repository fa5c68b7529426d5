#!/usr/bin/env bash
# Plugins written outside the gradlab tree, built against the installed SDK, as a plugin author does it:
#  1. installs the build into a temporary prefix (cmake --install);
#  2. configures and builds examples/plugins (swish, noisy_sgd) against it with find_package(gradlab);
#  3. runs `gradlab gradcheck` on swish (must PASS);
#  4. runs examples/plugins/config.yaml for a few steps with --plugin-path, and checks the example probe's
#     /probes/update_cosine/cosine against the gradients and values the run's snapshots hold;
#  5. scaffolds a layer and an activation with tools/new-plugin, builds them against the prefix and gradchecks
#     them (must PASS), then runs their CTest tests (gradcheck and a short run each).
# Everything happens in a temporary folder that is removed at the end, whatever happens.
#
# usage: out_of_tree.sh BUILD_DIR SOURCE_DIR [CXX_COMPILER]   (CTest passes the build's own compiler)
set -euo pipefail

build="$(cd "$1" && pwd)"
source="$(cd "$2" && pwd)"
compiler="${3:-}"
jobs=2
scratch="$(mktemp -d "${TMPDIR:-/tmp}/gradlab-out-of-tree.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
trap 'exit 1' INT TERM  # so that the cleanup runs when CTest's timeout stops the script
prefix="$scratch/prefix"
gradlab="$prefix/bin/gradlab"
compiler_flag=()
if [ -n "$compiler" ]; then compiler_flag=(-DCMAKE_CXX_COMPILER="$compiler"); fi
start=$SECONDS

step() { echo; echo "== [$((SECONDS - start)) s] $*"; }

# Runs a command, showing it; its output goes to a log that is printed only when it fails.
quietly() {
  echo "\$ $*"
  local log="$scratch/command.log"
  if ! "$@" > "$log" 2>&1; then
    cat "$log"
    echo "out_of_tree: FAILED: $*" >&2
    exit 1
  fi
}

# Runs `gradlab gradcheck`, showing its table; fails unless it exits 0 and says PASS.
gradcheck() {
  echo "\$ gradlab gradcheck $*"
  local output
  if ! output="$("$gradlab" gradcheck "$@" 2>&1)"; then
    echo "$output"
    echo "out_of_tree: FAILED: gradlab gradcheck $*" >&2
    exit 1
  fi
  echo "$output" | sed -n '/^  tensor/,$p'
  grep -q '^PASS: ' <<< "$output"
}

step "install the build into $prefix"
quietly cmake --install "$build" --prefix "$prefix"
for file in bin/gradlab include/gradlab/sdk.hpp lib/cmake/gradlab/gradlabConfig.cmake \
            lib/cmake/gradlab/gradlabConfigVersion.cmake lib/cmake/gradlab/gradlabTargets.cmake \
            lib/cmake/gradlab/GradlabPlugin.cmake lib/gradlab/plugins/libgradlab_layers_dense.so; do
  [ -e "$prefix/$file" ] || { echo "out_of_tree: the install has no $file" >&2; exit 1; }
done
echo "installed: $(find "$prefix/lib/gradlab/plugins" -name '*.so' | wc -l) built-in plugins, $(ls "$prefix/include/gradlab" | wc -l) SDK headers"

step "build examples/plugins against the installed SDK"
quietly cmake -S "$source/examples/plugins" -B "$scratch/examples" -DCMAKE_PREFIX_PATH="$prefix" "${compiler_flag[@]}"
quietly cmake --build "$scratch/examples" -j "$jobs"
ls "$scratch/examples"/*.so

step "gradcheck the example activation swish (learnable beta)"
gradcheck activation swish --plugin-path "$scratch/examples"

step "run examples/plugins/config.yaml (swish + noisy_sgd + the probe update_cosine) for 10 steps"
quietly "$gradlab" validate "$source/examples/plugins/config.yaml" --plugin-path "$scratch/examples"
"$gradlab" run "$source/examples/plugins/config.yaml" --plugin-path "$scratch/examples" \
  --set training.steps=10 --set trace.snapshot_every=1 -o "$scratch/run.h5" 2>/dev/null | sed -n '1,3p'
[ -s "$scratch/run.h5" ] || { echo "out_of_tree: the run wrote no trace" >&2; exit 1; }
# cos(g_{s-1}, theta_{s-1} - theta_{s-2}) from the snapshots (value before, gradient of each step's update).
/usr/bin/python3 - "$scratch/run.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1]) as f:
    steps = list(f["/probes/update_cosine/step"][:])
    cosine = f["/probes/update_cosine/cosine"][:]
    assert steps == list(range(11)), steps
    names = [n.decode() if isinstance(n, bytes) else n for n in f["/meta/param_names"][:]]
    snap = lambda s, n, what: np.asarray(f[f"/snapshots/{s}/{n}/{what}"][:], dtype=np.float64).ravel()
    for s in range(11):
        if s < 2:
            assert np.isnan(cosine[s]), (s, cosine[s])
            continue
        g = np.concatenate([snap(s - 1, n, "grad") for n in names])
        u = np.concatenate([snap(s - 1, n, "value") - snap(s - 2, n, "value") for n in names])
        expected = g @ u / np.sqrt((g @ g) * (u @ u))
        assert abs(cosine[s] - expected) < 1e-5, (s, cosine[s], expected)
    print(f"update_cosine matches the snapshots at steps 2..10 (e.g. step 10: {cosine[10]:.6f})")
PY

step "scaffold a layer and an activation with tools/new-plugin"
quietly "$source/tools/new-plugin" layer scaffold_affine --dir "$scratch/scaffold"
quietly "$source/tools/new-plugin" activation scaffold_scaled_tanh --dir "$scratch/scaffold"
ls "$scratch/scaffold"

step "build the scaffolded plugins against the installed SDK"
quietly cmake -S "$scratch/scaffold" -B "$scratch/scaffold-build" -DCMAKE_PREFIX_PATH="$prefix" "${compiler_flag[@]}"
quietly cmake --build "$scratch/scaffold-build" -j "$jobs"

step "gradcheck the scaffolded plugins"
gradcheck layer scaffold_affine --plugin-path "$scratch/scaffold-build/libscaffold_affine.so" --input-shape 3x2
gradcheck activation scaffold_scaled_tanh --options "{scale: 2}" \
  --plugin-path "$scratch/scaffold-build/libscaffold_scaled_tanh.so"
quietly ctest --test-dir "$scratch/scaffold-build" --output-on-failure
echo "scaffold's own CTest tests pass: $(ctest --test-dir "$scratch/scaffold-build" -N | grep -c 'Test *#')"

step "out_of_tree: all passed in $((SECONDS - start)) s"

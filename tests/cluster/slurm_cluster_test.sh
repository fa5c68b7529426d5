#!/usr/bin/env bash
# A real, one-node Slurm cluster on this machine (munged, slurmctld and slurmd with their own config, state, sockets
# and logs in a temporary folder), and two studies submitted to it with the scripts `gradlab sweep --slurm` writes:
#
#  1. a 6-run study in 3 array tasks plus the merge job: the merged study.h5 must hold the same runs, parameters and
#     outcomes (status, verdict, message, final loss bit for bit) as the same study run locally by `gradlab sweep`;
#  2. a 4-run study in 2 tasks, one of which is cancelled (scancel JOB_2) while it runs a long run: the merged
#     study shows it unfinished; submit.sh again redoes that run only, and the merged study then equals the local
#     one, with nothing lost, duplicated or redone.
#
# It installs nothing: without root, the Slurm daemons (Debian: slurm-wlm, munge) or h5py it exits 77, which CTest
# reports as skipped with the printed reason; .ci/slurm installs them and runs it. Daemons it started are stopped by
# pid and the temporary folder removed on exit.
#
# usage: tests/cluster/slurm_cluster_test.sh BUILD_DIR
set -euo pipefail

SKIP=77
started_at=$SECONDS

say() { echo "[$((SECONDS - started_at))s] $*"; }
skip() {
  echo "SKIPPED: $*"
  exit "$SKIP"
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

build_dir="$(cd "${1:?usage: slurm_cluster_test.sh BUILD_DIR}" && pwd)"
gradlab="$build_dir/bin/gradlab"
python=/usr/bin/python3
[ -x "$gradlab" ] || fail "no gradlab binary at '$gradlab'"

# --- What the test needs from the machine: a skip, with the reason, when it is missing. ---
[ "$(id -u)" = 0 ] || skip "not root: slurmd must run as root to start jobs as their users"
for program in munged slurmctld slurmd sbatch squeue scontrol scancel sinfo; do
  command -v "$program" > /dev/null ||
    skip "Slurm is not installed ('$program' is missing): install the Debian packages slurm-wlm and munge (.ci/slurm does)"
done
if ! "$python" -c "import h5py" 2> /dev/null; then
  skip "$python with h5py is missing (Debian: python3-h5py; tools/setup installs it)"
fi

# Jobs must see this test's cluster only, whatever the caller's environment says.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^SLURM_' || true)

workdir="$(mktemp -d "${TMPDIR:-/tmp}/gradlab-slurm-test.XXXXXX")"
chmod 0711 "$workdir"   # munged wants every folder above its socket searchable by all
export SLURM_CONF="$workdir/slurm.conf"   # read by sbatch, squeue, scontrol, scancel, sinfo and the daemons
munged_pid="" slurmctld_pid="" slurmd_pid=""

# Ends what this test started: its jobs, then slurmd, slurmctld and munged by pid; removes the temporary folder.
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$slurmctld_pid" ] && kill -0 "$slurmctld_pid" 2> /dev/null; then
    scancel --quiet --user=root 2> /dev/null || true
    for _ in $(seq 1 50); do
      [ -z "$(squeue -h -o %i 2> /dev/null)" ] && break
      sleep 0.2
    done
  fi
  for pid in "$slurmd_pid" "$slurmctld_pid" "$munged_pid"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2> /dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
  done
  # A job step outlives slurmd when the test stops mid-job: end the ones of this cluster (SLURM_CONF is ours).
  for proc in /proc/[0-9]*; do
    if [ "$(head -c 10 "$proc/cmdline" 2> /dev/null | tr -d '\0')" = slurmstepd ] &&
      tr '\0' '\n' < "$proc/environ" 2> /dev/null | grep -qxF "SLURM_CONF=$SLURM_CONF"; then
      kill -9 "${proc#/proc/}" 2> /dev/null || true
    fi
  done
  rm -rf "$workdir"
  say "stopped the daemons, removed $workdir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A daemon that does not come up: show its log, then skip for the machine's reasons, fail for the test's.
daemon_failed() {
  local name="$1" log="$2"
  echo "--- $name log ($log) ---"
  tail -n 40 "$log" 2> /dev/null || true
  echo "---"
  if grep -qiE "cgroup|address already in use|operation not permitted|permission denied|read-only file system" \
    "$log" 2> /dev/null; then
    skip "$name could not start on this machine (see its log above)"
  fi
  fail "$name did not start (see its log above)"
}

# --- munged, with its own key, socket, pid, seed and log files. ---
mkdir -m 0711 "$workdir/munge"
dd if=/dev/urandom of="$workdir/munge/munge.key" bs=1024 count=1 status=none
chmod 0400 "$workdir/munge/munge.key"
munge_socket="$workdir/munge/munge.socket"
munged --foreground --key-file="$workdir/munge/munge.key" --socket="$munge_socket" \
  --pid-file="$workdir/munge/munged.pid" --seed-file="$workdir/munge/munged.seed" \
  --log-file="$workdir/munge/munged.log" > "$workdir/munge/munged.out" 2>&1 &
munged_pid=$!
for _ in $(seq 1 50); do
  [ -S "$munge_socket" ] && break
  kill -0 "$munged_pid" 2> /dev/null || break
  sleep 0.1
done
if [ ! -S "$munge_socket" ]; then
  cat "$workdir/munge/munged.out" >> "$workdir/munge/munged.log" 2> /dev/null || true
  daemon_failed munged "$workdir/munge/munged.log"
fi
say "munged is up (pid $munged_pid, socket $munge_socket)"

# --- slurm.conf: this node, as slurmd -C sees it, in one default partition. ---
host="$(hostname -s)"
node_line="$(slurmd -C | head -n 1)"   # NodeName=... CPUs=... Boards=... ... RealMemory=...
[[ "$node_line" == NodeName=* ]] || fail "slurmd -C printed '$node_line', not a NodeName= line"
node="${node_line%% *}"
node="${node#NodeName=}"
cpus="$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<< "$node_line")"
# Two free ports, so that a Slurm already running here is not disturbed.
read -r controller_port node_port < <("$python" -c '
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))')
mkdir -p "$workdir/state" "$workdir/spool"
: > "$workdir/plugstack.conf"
cat > "$SLURM_CONF" << EOF
# A one-node test cluster, written by tests/cluster/slurm_cluster_test.sh.
ClusterName=gradlabtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$controller_port
SlurmdPort=$node_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_socket
StateSaveLocation=$workdir/state
SlurmdSpoolDir=$workdir/spool
SlurmctldPidFile=$workdir/slurmctld.pid
SlurmdPidFile=$workdir/slurmd.pid
SlurmctldLogFile=$workdir/slurmctld.log
SlurmdLogFile=$workdir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$workdir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
KillWait=5
MinJobAge=600
InactiveLimit=0
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=gradlab Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

# --- slurmctld and slurmd in the foreground of background shells, so that their pids are known. ---
slurmctld -D -f "$SLURM_CONF" > "$workdir/slurmctld.out" 2>&1 &
slurmctld_pid=$!
for _ in $(seq 1 100); do
  scontrol ping 2> /dev/null | grep -q "is UP" && break
  kill -0 "$slurmctld_pid" 2> /dev/null || break
  sleep 0.2
done
if ! scontrol ping 2> /dev/null | grep -q "is UP"; then
  cat "$workdir/slurmctld.out" >> "$workdir/slurmctld.log" 2> /dev/null || true
  daemon_failed slurmctld "$workdir/slurmctld.log"
fi
say "slurmctld is up (pid $slurmctld_pid, port $controller_port)"

slurmd -D -f "$SLURM_CONF" > "$workdir/slurmd.out" 2>&1 &
slurmd_pid=$!
state=""
for _ in $(seq 1 150); do
  state="$(sinfo -h -n "$node" -o %T 2> /dev/null || true)"
  [ "$state" = idle ] && break
  kill -0 "$slurmd_pid" 2> /dev/null || break
  sleep 0.2
done
if [ "$state" != idle ]; then
  cat "$workdir/slurmd.out" >> "$workdir/slurmd.log" 2> /dev/null || true
  scontrol show node "$node" 2> /dev/null || true
  daemon_failed slurmd "$workdir/slurmd.log"
fi
say "slurmd is up (pid $slurmd_pid): node $node idle with $cpus CPUs, partition gradlab"

# --- Helpers for jobs. ---

# Waits until none of the jobs (comma-separated ids) is pending or running; fails after $2 seconds.
wait_for_jobs() {
  local jobs="$1" limit="$2" begin=$SECONDS
  while [ -n "$(squeue -h -j "$jobs" -o %i 2> /dev/null)" ]; do
    if ((SECONDS - begin > limit)); then
      squeue -j "$jobs" || true
      scontrol show node "$node" || true
      tail -n 20 "$workdir/slurmctld.log" || true
      fail "jobs $jobs still queued or running after $limit s"
    fi
    sleep 0.2
  done
}

# Prints "STATE EXIT_CODE" of a job or an array task (JOB_TASK), e.g. "COMPLETED 0:0".
job_state() {
  scontrol show job -o "$1" | head -n 1 | sed -n 's/.*JobState=\([A-Z_]*\).* ExitCode=\([0-9:]*\).*/\1 \2/p'
}

# Checks that a job or task ended in the state and exit code expected (a glob pattern), showing its log otherwise.
expect_job() {
  local job="$1" expected="$2" log="$3" actual
  actual="$(job_state "$job")"
  # shellcheck disable=SC2053
  if [[ "$actual" != $expected ]]; then
    echo "--- $log ---"
    cat "$log" 2> /dev/null || true
    fail "job $job ended '$actual', expected '$expected'"
  fi
}

# Submits a study with its submit.sh; sets array_job and merge_job.
submit() {
  local study="$1" output
  output="$("$study/slurm/submit.sh")" || fail "submit.sh failed: $output"
  sed 's/^/    /' <<< "$output"
  array_job="$(sed -n 's/^array job \([0-9]*\):.*/\1/p' <<< "$output")"
  merge_job="$(sed -n 's/^merge job \([0-9]*\):.*/\1/p' <<< "$output")"
  if [ -z "$array_job" ] || [ -z "$merge_job" ]; then fail "submit.sh printed no job ids: $output"; fi
}

# Compares two study indexes row by row: names, indexes, seeds, parameters, status, verdict, message, diverged_at
# and final loss bit for bit; also that each row's trace is reachable through its link and ends with that loss.
compare_studies() {
  "$python" - "$1" "$2" << 'PYTHON'
import sys
import h5py
import numpy as np

def columns(path):
    with h5py.File(path, "r") as study:
        assert study.attrs["schema"] == "gradlab-study", f"{path}: not a study index"
        assert study.attrs["shard_count"] == 0, f"{path}: a shard's index, not a merged one"
        runs = study["runs"]
        table = {key: runs[key].asstr()[()] if runs[key].dtype.kind == "O" else runs[key][()]
                 for key in runs if key != "param"}
        for key in study["swept_keys"].asstr()[()]:
            table["param/" + key] = runs["param"][key].asstr()[()]
        table["final_loss_bits"] = runs["final_loss"][()].astype(np.float64).view(np.uint64)
        for row, name in enumerate(table["name"]):
            if table["status"][row] in ("completed", "diverged", "stopped"):
                loss = study[f"links/{name}/trace/loss"][()]
                assert np.float64(loss[-1]).view(np.uint64) == table["final_loss_bits"][row], \
                    f"{path}: {name}: final_loss is not the last loss of its trace"
        counts = {key: int(study.attrs[key]) for key in study.attrs if key.startswith("runs_")}
    return table, counts

cluster, cluster_counts = columns(sys.argv[1])
local, local_counts = columns(sys.argv[2])
problems = []
if sorted(cluster) != sorted(local):
    problems.append(f"columns differ: {sorted(cluster)} vs {sorted(local)}")
if cluster_counts != local_counts:
    problems.append(f"counts differ: {cluster_counts} vs {local_counts}")
if len(set(cluster["name"])) != len(cluster["name"]):
    problems.append("a run name appears twice")
for key in sorted(set(cluster) & set(local)):
    if key == "final_loss":
        continue  # compared bit for bit as final_loss_bits; other float columns count NaN == NaN
    floating = np.asarray(cluster[key]).dtype.kind == "f" and np.asarray(local[key]).dtype.kind == "f"
    if len(cluster[key]) != len(local[key]) or not np.array_equal(cluster[key], local[key],
                                                                   equal_nan=floating):
        problems.append(f"{key}: {list(cluster[key])} vs {list(local[key])}")
if problems:
    print("the cluster's study differs from the local one:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"    same {len(cluster['name'])} runs as the local study: "
      + ", ".join(f"{n} {s} {l:.6g}" for n, s, l in zip(cluster["name"], cluster["status"], cluster["final_loss"])))
PYTHON
}

# Prints the status of one run (by name) in a study index.
run_status() {
  "$python" -c '
import sys, h5py
with h5py.File(sys.argv[1], "r") as study:
    names = list(study["runs/name"].asstr()[()])
    print(study["runs/status"].asstr()[names.index(sys.argv[2])])' "$1" "$2"
}

# --- Case 1: a 6-run study in 3 tasks, against the same study run locally. ---
cat > "$workdir/tiny.yaml" << 'EOF'
# A tiny tanh MLP, 40 steps: three learning rates (the largest diverges) by two widths.
name: tiny
seed: 0
data: {kind: random_regression, samples: 64, inputs: 32, outputs: 4, shuffle: false}
model:
  layers:
    - {kind: dense, units: 32, activation: tanh}
    - {kind: dense, units: 4}
loss: mse
optimizer: {kind: sgd, lr: 0.01}
training: {steps: 40, batch_size: 64, threads: 1}
trace: {every: 10}
sweep:
  grid:
    optimizer.lr: [0.01, 0.1, 1.0e+3]
    model.layers.0.units: [16, 32]
EOF
say "case 1: the 6-run study locally"
"$gradlab" sweep "$workdir/tiny.yaml" -o "$workdir/local tiny" -j 2 > "$workdir/local-tiny.out" ||
  fail "the local sweep failed: $(cat "$workdir/local-tiny.out")"

study="$workdir/study one"   # a space in the path: the #SBATCH lines and the scripts must quote it
say "case 1: gradlab sweep --slurm, 3 shards of 1 core, into '$study'"
"$gradlab" sweep "$workdir/tiny.yaml" -o "$study" --slurm --slurm-shards 3 --slurm-cpus-per-task 1 \
  --slurm-time 10 --slurm-mem 200M | sed 's/^/    /'
for script in array.sbatch merge.sbatch submit.sh; do
  bash -n "$study/slurm/$script" || fail "$study/slurm/$script is not valid bash"
done
submit "$study"
wait_for_jobs "$array_job,$merge_job" 120
for task in 1 2 3; do
  expect_job "${array_job}_$task" "COMPLETED 0:0" "$study/slurm/logs/array-${array_job}_$task.out"
  grep -q "2 runs (shard $task/3 of 6), 2 to run" "$study/slurm/logs/array-${array_job}_$task.out" ||
    fail "task $task did not run its 2 runs: $(cat "$study/slurm/logs/array-${array_job}_$task.out")"
done
expect_job "$merge_job" "COMPLETED 0:0" "$study/slurm/logs/merge-$merge_job.out"
grep -q "merged 3 of 3 shard indexes" "$study/slurm/logs/merge-$merge_job.out" ||
  fail "the merge job did not merge 3 shards: $(cat "$study/slurm/logs/merge-$merge_job.out")"
say "case 1: array job $array_job (3 tasks) and merge job $merge_job completed; comparing with the local study"
compare_studies "$study/study.h5" "$workdir/local tiny/study.h5" || fail "case 1: the merged study differs"

# --- Case 2: a task cancelled while it runs, then the study resubmitted. ---
# 4 runs over 2 shards: shard 1 runs 0 (short) then 2 (long), shard 2 runs 1 (short) then 3 (long). The long runs
# last a few seconds, so that task 2 is cancelled while it runs run 3.
cat > "$workdir/killed.yaml" << 'EOF'
# A tanh MLP: 40 steps or 80000 steps (a few seconds), two seeds.
name: killed
seed: 0
data: {kind: random_regression, samples: 128, inputs: 64, outputs: 4, shuffle: false}
model:
  layers:
    - {kind: dense, units: 128, activation: tanh}
    - {kind: dense, units: 4}
loss: mse
optimizer: {kind: sgd, lr: 0.01}
training: {steps: 40, batch_size: 128, threads: 1}
trace: {every: 1000}
sweep:
  grid:
    training.steps: [40, 80000]
  seeds: 2
EOF
say "case 2: the 4-run study locally"
"$gradlab" sweep "$workdir/killed.yaml" -o "$workdir/local killed" -j 2 > "$workdir/local-killed.out" ||
  fail "the local sweep failed: $(cat "$workdir/local-killed.out")"
study="$workdir/study two"
"$gradlab" sweep "$workdir/killed.yaml" -o "$study" --slurm --slurm-shards 2 | sed 's/^/    /'
say "case 2: submitting; task 2 is to be cancelled while it runs 'steps=80000,seed=1'"
submit "$study"
# A second submission while the first is queued or running is refused: it would run the same shards twice.
if second="$("$study/slurm/submit.sh" 2>&1)"; then
  fail "submit.sh queued the study again while array job $array_job is active: $second"
fi
[[ "$second" == *"still queued or running:"*" $array_job"* ]] ||
  fail "submit.sh did not name the active jobs of the study: $second"
long_run="$study/runs/steps=80000,seed=1.h5"
begin=$SECONDS
until [ -f "$long_run" ]; do
  ((SECONDS - begin < 120)) || fail "task 2 never started its long run"
  sleep 0.1
done
scancel "${array_job}_2" || fail "scancel ${array_job}_2 failed"
say "case 2: cancelled task ${array_job}_2 during its long run"
wait_for_jobs "$array_job,$merge_job" 120
[[ "$(job_state "${array_job}_2")" != COMPLETED* ]] ||
  fail "task 2 finished its long run before it could be cancelled: give it more steps on a machine this fast"
# Cancelled: Slurm sent SIGTERM, the sweep stopped its run and exited 130 (or SIGKILL came first: 0:9).
expect_job "${array_job}_2" "CANCELLED *" "$study/slurm/logs/array-${array_job}_2.out"
expect_job "${array_job}_1" "COMPLETED 0:0" "$study/slurm/logs/array-${array_job}_1.out"
# The merge ran after the cancelled task (afterany) and failed: the study is incomplete.
expect_job "$merge_job" "FAILED 1:0" "$study/slurm/logs/merge-$merge_job.out"
grep -q "4 runs: 3 completed, 1 pending" "$study/slurm/logs/merge-$merge_job.out" ||
  fail "the merge did not report one pending run: $(cat "$study/slurm/logs/merge-$merge_job.out")"
[ "$(run_status "$study/study.h5" "steps=80000,seed=1")" = pending ] || fail "the cancelled run is not pending"
[ "$(run_status "$study/study.h5" "steps=40,seed=1")" = completed ] ||
  fail "the cancelled task's first run did not stay completed"
say "case 2: the study is incomplete (3 completed, 1 pending); submitting again"
declare -A finished_times
for name in "steps=40,seed=0" "steps=40,seed=1" "steps=80000,seed=0"; do
  finished_times[$name]="$(stat -c %Y.%y "$study/runs/$name.h5")"
done
first_array_job=$array_job
submit "$study"
wait_for_jobs "$array_job,$merge_job" 120
expect_job "${array_job}_1" "COMPLETED 0:0" "$study/slurm/logs/array-${array_job}_1.out"
expect_job "${array_job}_2" "COMPLETED 0:0" "$study/slurm/logs/array-${array_job}_2.out"
expect_job "$merge_job" "COMPLETED 0:0" "$study/slurm/logs/merge-$merge_job.out"
grep -q "2 runs (shard 1/2 of 4), 2 already done, 0 to run" "$study/slurm/logs/array-${array_job}_1.out" ||
  fail "task 1 redid finished runs: $(cat "$study/slurm/logs/array-${array_job}_1.out")"
# The cancelled run continues from the checkpoint its SIGTERM left (from step 0 had SIGKILL come first).
grep -q "2 runs (shard 2/2 of 4), 1 already done, 1 to resume from their checkpoints, 1 to run" \
  "$study/slurm/logs/array-${array_job}_2.out" ||
  fail "task 2 did not resume exactly its cancelled run: $(cat "$study/slurm/logs/array-${array_job}_2.out")"
say "case 2: $(grep -h -m1 -E "resumed at step|started from step 0" "$study/logs/steps=80000,seed=1.log" || echo "no resume note in the run's log")"
for name in "${!finished_times[@]}"; do
  [ "$(stat -c %Y.%y "$study/runs/$name.h5")" = "${finished_times[$name]}" ] || fail "the finished run $name was redone"
done
traces="$(find "$study/runs" -name '*.h5' | wc -l)"
[ "$traces" = 4 ] || fail "$traces traces in $study/runs, expected 4"
say "case 2: resubmitted as array job $array_job (after $first_array_job): only the cancelled run was redone"
compare_studies "$study/study.h5" "$workdir/local killed/study.h5" || fail "case 2: the merged study differs"
say "PASS: both studies on Slurm equal their local runs"

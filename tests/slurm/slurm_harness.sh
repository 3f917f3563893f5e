# shellcheck shell=bash
# A private, throw-away Slurm cluster on this machine for the tests in tests/slurm (source this file).
#
#   source tests/slurm/slurm_harness.sh
#   sh_init NAME SCRATCH_DIR   # checks the tools, sweeps leftovers of killed runs, makes the folders,
#                              # installs the EXIT/INT/TERM/HUP traps that always stop the daemons
#   sh_start                   # munged + slurm.conf + slurmctld + slurmd; waits until the node is idle
#   sh_submit VAR sbatch-arguments...   # sbatch in $SH_SUBMIT; the job id goes into VAR
#   sh_poll JOB LIMIT_S CONDITION [args] # polls the job's state each second, recording the states
#                                        # it passes through, until CONDITION [args] succeeds
#   sh_pass                    # prints PASS and exits 0 (the EXIT trap cleans up)
#
# Everything the daemons use lives in a fresh folder SH_DIR=${TMPDIR:-/tmp}/nsl_slurm.XXXXXX (short,
# because munge's socket path must fit a sockaddr_un): its own munge key (mode 0400), munged with its
# own --socket/--key-file/--pid-file/--log-file/--seed-file (a system munged is never touched),
# slurm.conf with free ports picked at start, state, spool, pid and log files. SLURM_CONF is exported
# for the client commands (sbatch, squeue, scontrol, scancel, sinfo). Job outputs (data, OUT
# folders, nsl_dist-<jobid>.out) go to SH_WORK=SCRATCH_DIR/NAME.<pid>.
#
# Clean-up (trap on EXIT; INT/TERM/HUP/PIPE exit through it): cancels the jobs, stops slurmd, slurmctld and
# munged by their process ids (TERM, up to 10 s, then KILL), then kills whatever still carries this
# cluster's marker NSL_SLURM_HARNESS=$SH_DIR in its environment (every daemon is started, and every job
# submitted, with that marker: mpirun/nsl_dist of a job) or holds a file under SH_DIR open
# (slurmstepd, which clears its environment), TERM then KILL; removes SH_DIR, and removes
# SH_WORK when the test passed (kept with the daemon logs copied in when it failed, or with
# NSL_SLURM_KEEP=1). A run killed outright (SIGKILL: no trap runs) is swept by the next sh_init: a
# SH_DIR whose owner.pid is no longer the running test has its marked processes killed and is removed.
#
# Exit codes of the tests: 0 pass, 1 fail, 77 skipped (not root, Slurm or munge not installed, fewer
# than 2 CPUs).

SH_NAME=${SH_NAME:-slurm}
SH_DIR=
SH_WORK=
SH_SUBMIT=
SH_PIDS_MUNGED=
SH_PIDS_CTLD=
SH_PIDS_SLURMD=
SH_CHILD=
SH_T0=$(date +%s)
declare -A SH_SEQ=()    # job id -> the states seen, "STATE(reason) -> ..."
declare -A SH_LAST=()   # job id -> the last state recorded
SH_JOBLINE=             # the last `scontrol -o show job` line read by sh_poll

sh_log() { echo "[$SH_NAME +$(($(date +%s) - SH_T0))s] $*"; }
die() {
  echo "[$SH_NAME +$(($(date +%s) - SH_T0))s] FAIL: $*" >&2
  exit 1
}
sh_skip() {
  echo "$SH_NAME: SKIPPED: $*" >&2
  exit 77
}

# --- processes carrying a cluster's marker ----------------------------------------------------------
# sh_marked_pids REGEX: pids whose environment holds NSL_SLURM_HARNESS=<a value matching REGEX>, or
# slurmstepd processes that hold a file under such a folder open (slurmstepd clears its environment
# but keeps slurmd.log open).
sh_marked_pids() {
  local regex=$1 p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$$" ] && continue
    [ "$p" = "$BASHPID" ] && continue
    if tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" | grep -qE "^NSL_SLURM_HARNESS=($regex)\$" ||
      { [ "$(cat "/proc/$p/comm" 2>/dev/null)" = slurmstepd ] &&
        find "/proc/$p/fd" -mindepth 1 -maxdepth 1 -lname '/*' -printf '%l\n' 2>/dev/null | grep -qE "^($regex)/"; }; then
      echo "$p"
    fi
  done
  return 0
}
# sh_kill_marked REGEX: every process carrying a matching marker gets TERM, after up to 5 s KILL;
# then a new look for processes started meanwhile (three rounds at most).
sh_kill_marked() {
  local regex=$1 pids p alive _round
  for _round in 1 2 3; do
    pids=$(sh_marked_pids "$regex")
    [ -z "$pids" ] && return 0
    echo "$SH_NAME: stopping leftover processes: $(for p in $pids; do printf '%s(%s) ' "$p" \
      "$(tr '\0' ' ' 2>/dev/null </proc/"$p"/cmdline | cut -c1-60)"; done)" >&2
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null
    for _ in $(seq 1 50); do
      alive=
      for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
      [ -z "$alive" ] && break
      sleep 0.1
    done
    # shellcheck disable=SC2086
    [ -n "$alive" ] && kill -KILL $alive 2>/dev/null && sleep 0.5
  done
  return 0
}

# shellcheck disable=SC2016  # the $ is a character to escape
sh_regex_escape() { printf '%s' "$1" | sed 's/[.[\*^$()+?{|]/\\&/g'; }

# A process's start time (field 22 of /proc/PID/stat), so that a reused pid is not taken for the owner.
sh_starttime() { awk '{sub(/^.*\) /, ""); print $20}' "/proc/$1/stat" 2>/dev/null; }

# Folders of earlier runs killed outright: their owner is gone; kill what carries their marker.
sh_sweep_stale() {
  local d owner start work
  for d in "${TMPDIR:-/tmp}"/nsl_slurm.??????; do
    [ -d "$d" ] || continue
    read -r owner start <"$d/owner.pid" 2>/dev/null || { owner=; start=; }
    if [ -n "$owner" ] && [ "$(sh_starttime "$owner")" = "$start" ]; then
      continue  # a running test's cluster
    fi
    # A folder being created right now has no owner.pid yet: leave folders younger than a minute.
    if [ -z "$owner" ] && [ -n "$(find "$d" -maxdepth 0 -mmin -1)" ]; then
      continue
    fi
    echo "$SH_NAME: removing the cluster of an earlier run that was killed: $d" >&2
    sh_kill_marked "$(sh_regex_escape "$d")"
    # That run's job outputs too (the folder named in work.path, if it is one of ours).
    read -r work <"$d/work.path" 2>/dev/null || work=
    case "$work" in
      */test_slurm_*.[0-9]*) [ -d "$work/submit" ] && rm -rf "$work" ;;
    esac
    rm -rf "$d"
  done
}

# --- clean-up ----------------------------------------------------------------------------------------
sh_stop_pid() {  # sh_stop_pid PID NAME: TERM, wait up to 10 s, then KILL
  local pid=$1 name=$2
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$SH_NAME: $name (pid $pid) ignored SIGTERM for 10 s: SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  return 0
}

sh_cleanup() {
  local rc=$?
  set +e
  # Clean up also when stdout is gone (a closed pipe must not kill this shell half-way).
  trap - EXIT INT TERM HUP
  trap '' PIPE
  if [ -n "$SH_CHILD" ]; then
    kill -TERM "$SH_CHILD" 2>/dev/null
    wait "$SH_CHILD" 2>/dev/null
  fi
  if [ -n "$SH_PIDS_CTLD" ] && kill -0 "$SH_PIDS_CTLD" 2>/dev/null; then
    if [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
      sh_log "cancelling the jobs still queued or running: $(squeue -h -o '%i:%T' 2>/dev/null | tr '\n' ' ')"
      scancel --quiet --user="$(id -un)" 2>/dev/null
      for _ in $(seq 1 30); do
        [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
        sleep 1
      done
    fi
  fi
  sh_stop_pid "$SH_PIDS_SLURMD" slurmd
  sh_stop_pid "$SH_PIDS_CTLD" slurmctld
  sh_stop_pid "$SH_PIDS_MUNGED" munged
  [ -n "$SH_DIR" ] && sh_kill_marked "$(sh_regex_escape "$SH_DIR")"
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$SH_DIR" ] && [ -d "$SH_DIR" ]; then
    for f in slurmctld.log slurmd.log munged.log; do
      [ -f "$SH_DIR/$f" ] || continue
      echo "----- last lines of $f -----" >&2
      tail -n 15 "$SH_DIR/$f" >&2
    done
    if [ -n "$SH_WORK" ] && [ -d "$SH_WORK" ]; then
      mkdir -p "$SH_WORK/daemons"
      cp "$SH_DIR"/*.log "$SH_DIR/slurm.conf" "$SH_WORK/daemons/" 2>/dev/null
    fi
  fi
  [ -n "$SH_DIR" ] && rm -rf "$SH_DIR"
  if [ -n "$SH_WORK" ] && [ -d "$SH_WORK" ]; then
    if [ "$rc" -eq 0 ] && [ "${NSL_SLURM_KEEP:-0}" != 1 ]; then
      rm -rf "$SH_WORK"
    else
      echo "$SH_NAME: files kept in $SH_WORK" >&2
    fi
  fi
  # Nothing of ours may survive: report (and fail on) any process still carrying the marker.
  if [ -n "$SH_DIR" ] && [ -n "$(sh_marked_pids "$(sh_regex_escape "$SH_DIR")")" ]; then
    echo "$SH_NAME: FAIL: processes of the test cluster survived the clean-up" >&2
    rc=1
  fi
  if [ "$rc" -eq 0 ]; then
    echo "[$SH_NAME +$(($(date +%s) - SH_T0))s] daemons stopped, folders removed"
  fi
  exit "$rc"
}

# --- set-up ------------------------------------------------------------------------------------------
# sh_init NAME SCRATCH_DIR
sh_init() {
  SH_NAME=$1
  local scratch=$2 tool
  [ "$(id -u)" -eq 0 ] || sh_skip "needs root (slurmd runs jobs as root here)"
  for tool in munged munge slurmctld slurmd sbatch squeue scontrol scancel sinfo mpirun; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] ||
      die "'$tool' not found: run launch/setup.sh (Debian: apt-get install slurm-wlm munge openmpi-bin)"
  done
  PATH=$PATH:/usr/sbin:/sbin
  [ "$(nproc)" -ge 2 ] || sh_skip "needs 2 CPUs for the 2-task jobs, this machine has $(nproc)"
  # Client commands and jobs must not see a surrounding Slurm (a CI job may itself run under Slurm).
  local v
  for v in $(compgen -e | grep -E '^(SLURM_|SBATCH_|SALLOC_|SRUN_|SQUEUE_|SINFO_|SCONTROL_)' || true); do
    unset "$v"
  done
  unset NSL_SLURM_HARNESS

  trap sh_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  trap 'exit 141' PIPE

  sh_sweep_stale
  SH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/nsl_slurm.XXXXXX") || die "mktemp failed"
  echo "$$ $(sh_starttime $$)" >"$SH_DIR/owner.pid"
  # munged requires every folder above its socket to be searchable by all.
  chmod 0755 "$SH_DIR"
  mkdir -p "$scratch" || die "cannot create $scratch"
  SH_WORK=$(realpath "$scratch")/$SH_NAME.$$
  rm -rf "$SH_WORK"
  mkdir -p "$SH_WORK/submit" || die "cannot create $SH_WORK"
  echo "$SH_WORK" >"$SH_DIR/work.path"
  SH_SUBMIT=$SH_WORK/submit
}

# Runs a command in the background with a time limit and waits for it, so that INT/TERM reach the
# traps at once (bash runs a trap only after the foreground command ends).
sh_run() {  # sh_run SECONDS LOG command...
  local limit=$1 log=$2 rc=0
  shift 2
  timeout -k 5 "$limit" "$@" >"$log" 2>&1 &
  SH_CHILD=$!
  wait "$SH_CHILD" || rc=$?
  SH_CHILD=
  return "$rc"
}

sh_port_free() { [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

sh_start() {
  local d=$SH_DIR host node_hw state port
  host=$(hostname -s)
  # --- munge: a key of our own, a daemon of our own ---
  dd if=/dev/urandom of="$d/munge.key" bs=1024 count=1 status=none || die "cannot write the munge key"
  chmod 0400 "$d/munge.key"
  NSL_SLURM_HARNESS=$d munged --foreground --socket="$d/munge.socket" --key-file="$d/munge.key" \
    --pid-file="$d/munged.pid" --log-file="$d/munged.log" --seed-file="$d/munged.seed" \
    >>"$d/munged.log" 2>&1 &
  SH_PIDS_MUNGED=$!
  for _ in $(seq 1 50); do
    [ -S "$d/munge.socket" ] && break
    kill -0 "$SH_PIDS_MUNGED" 2>/dev/null || { cat "$d/munged.log" >&2; die "munged exited at start"; }
    sleep 0.1
  done
  munge -S "$d/munge.socket" -n 2>"$d/munge.err" | unmunge -S "$d/munge.socket" >/dev/null 2>>"$d/munge.err" ||
    die "munged (pid $SH_PIDS_MUNGED) does not answer on $d/munge.socket: $(cat "$d/munge.err")"
  sh_log "munged pid $SH_PIDS_MUNGED, socket $d/munge.socket"

  # --- free ports: a pair derived from our pid, moved on while one is taken ---
  port=$((20000 + ($$ % 10000) * 2))
  for _ in $(seq 1 200); do
    sh_port_free "$port" && sh_port_free $((port + 1)) && break
    port=$((port + 2 > 39998 ? 20000 : port + 2))
  done
  # --- the node as slurmd sees it (CPUs, sockets, cores, threads, memory) ---
  node_hw=$(slurmd -C 2>/dev/null | head -n 1 | sed -n 's/^NodeName=[^ ]* //p')
  [ -n "$node_hw" ] || node_hw="CPUs=$(nproc) RealMemory=$(($(awk '/^MemTotal/ {print $2}' /proc/meminfo) / 1024))"
  mkdir -p "$d/state" "$d/spool"
  cat >"$d/slurm.conf" <<EOF
# Written by tests/slurm/slurm_harness.sh for one test run; removed with $d.
ClusterName=nsltest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# Our own munged; a requeued job may start again cred_expire s after the requeue (default 120).
AuthInfo=socket=$d/munge.socket,cred_expire=10
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
MpiDefault=none
# Schedule every few seconds (defaults: 60 s, backfill 30 s), so a requeued job restarts soon.
SchedulerParameters=sched_interval=2,bf_interval=2
NodeName=$host NodeAddr=127.0.0.1 $node_hw State=UNKNOWN
PartitionName=nsl Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$d/slurm.conf
  sh_log "$(sinfo --version), config $SLURM_CONF (ports $port, $((port + 1)))"

  NSL_SLURM_HARNESS=$d slurmctld -D -f "$SLURM_CONF" >>"$d/slurmctld.out" 2>&1 &
  SH_PIDS_CTLD=$!
  NSL_SLURM_HARNESS=$d slurmd -D -f "$SLURM_CONF" -N "$host" >>"$d/slurmd.out" 2>&1 &
  SH_PIDS_SLURMD=$!
  sh_log "slurmctld pid $SH_PIDS_CTLD, slurmd pid $SH_PIDS_SLURMD"
  # Bounded wait for the node to be idle.
  for _ in $(seq 1 120); do
    kill -0 "$SH_PIDS_CTLD" 2>/dev/null || { tail -n 20 "$d/slurmctld.out" >&2; die "slurmctld exited at start"; }
    kill -0 "$SH_PIDS_SLURMD" 2>/dev/null || { tail -n 20 "$d/slurmd.out" >&2; die "slurmd exited at start"; }
    state=$(sinfo -h -o %T 2>/dev/null | head -n 1)
    [ "$state" = idle ] && break
    sleep 0.5
  done
  [ "$state" = idle ] || die "node not idle within 60 s (sinfo says '${state:-nothing}')"
  sh_log "cluster up: $(sinfo -h -o '%P %D node(s) %N %c CPUs %m MB %T')"
}

# --- jobs --------------------------------------------------------------------------------------------
# sh_submit VAR sbatch-arguments...: submits from $SH_SUBMIT with the cluster's marker in the job's
# environment; the job id goes into VAR.
sh_submit() {
  local var=$1 out
  shift
  out=$(cd "$SH_SUBMIT" && NSL_SLURM_HARNESS=$SH_DIR sbatch --parsable "$@" 2>&1) ||
    die "sbatch $* failed: $out"
  out=${out%%;*}
  [[ $out =~ ^[0-9]+$ ]] || die "sbatch printed no job id: $out"
  printf -v "$var" '%s' "$out"
  SH_SEQ[$out]=
  SH_LAST[$out]=
  sh_log "submitted job $out: sbatch $*"
}

# sh_field KEY: the value of KEY in the last job line read by sh_poll / sh_read_job.
sh_field() { tr ' ' '\n' <<<"$SH_JOBLINE" | sed -n "s/^$1=//p" | head -n 1; }
sh_read_job() { SH_JOBLINE=$(scontrol -o show job "$1" 2>/dev/null); }

# Records the job's state when it changed: STATE, with the reason while pending, and the start count.
sh_record() {
  local job=$1 state reason restarts entry
  sh_read_job "$job"
  state=$(sh_field JobState)
  [ -n "$state" ] || return 0
  reason=$(sh_field Reason)
  restarts=$(sh_field Restarts)
  entry=$state
  [ "$state" = PENDING ] && entry="$state($reason)"
  [ "$state" = RUNNING ] && entry="$state(start $((restarts + 1)))"
  if [ "$entry" != "${SH_LAST[$job]}" ]; then
    SH_LAST[$job]=$entry
    SH_SEQ[$job]="${SH_SEQ[$job]:+${SH_SEQ[$job]} -> }$entry"
    sh_log "job $job: $entry"
  fi
}
sh_states() { echo "${SH_SEQ[$1]}"; }
sh_state() { sh_read_job "$1"; sh_field JobState; }

# Conditions for sh_poll.
sh_job_ended() {  # a final state
  case "$(sh_field JobState)" in
    COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED) return 0 ;;
  esac
  return 1
}

# sh_poll JOB LIMIT_S CONDITION [args...]: records the job's states every second until CONDITION
# succeeds (0) or LIMIT_S pass (1). CONDITION sees the fresh job line through sh_field.
sh_poll() {
  local job=$1 limit=$2 t0
  shift 2
  t0=$(date +%s)
  while :; do
    sh_record "$job"
    "$@" && return 0
    [ $(($(date +%s) - t0)) -ge "$limit" ] && return 1
    sleep 1
  done
}

sh_pass() {
  sh_log "PASS ($(($(date +%s) - SH_T0)) s)"
  exit 0
}

# --- checks on a run's outputs -----------------------------------------------------------------------
# sh_check_epochs METRICS LAST_EPOCH: every epoch 0..LAST_EPOCH exactly once, nothing else.
sh_check_epochs() {
  local metrics=$1 last=$2 got want
  [ -f "$metrics" ] || die "no $metrics"
  got=$(grep -o '"epoch": *[0-9]*' "$metrics" | grep -o '[0-9]*$' | tr '\n' ' ')
  want=$(seq 0 "$last" | tr '\n' ' ')
  [ "$got" = "$want" ] || die "$metrics holds epochs '$got', expected each of '$want' once, in order"
}
# sh_last_checkpoint OUT: the newest checkpoint folder.
sh_last_checkpoint() { find "$1/checkpoints" -mindepth 1 -maxdepth 1 -type d -name 'step-*' | sort | tail -n 1; }
# sh_manifest_info CKPT KEY: a string or number of the manifest's info.
sh_manifest_info() {
  sed -n "s/.*\"$2\": *\"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p" "$1/manifest.json" | head -n 1
}

# The common start of every test script: sh_setup NAME NSL_DIST_BINARY REPO_ROOT SCRATCH_DIR.
# Sets NSL and REPO, starts the private cluster, exports NSL_ROOT and NSL_BIN for train.sbatch.
sh_setup() {
  local name=$1
  shift
  [ $# -eq 3 ] || { echo "usage: $name.sh NSL_DIST_BINARY REPO_ROOT SCRATCH_DIR" >&2; exit 1; }
  NSL=$(realpath "$1")
  REPO=$(realpath "$2")
  sh_init "$name" "$3"
  [ -x "$NSL" ] || die "no nsl_dist binary at $1"
  [ -f "$REPO/cluster/train.sbatch" ] || die "no cluster/train.sbatch under $REPO"
  sh_start
  export NSL_ROOT=$REPO NSL_BIN=$NSL
}

# The demo dataset (300 classes, 32 px, 8 shards) in $SH_WORK/data; sets DATA.
sh_demo_data() {
  DATA=$SH_WORK/data
  sh_run 300 "$SH_WORK/synth.log" "$NSL" synth --out "$DATA" --classes 300 --images-per-class 16 \
    --image-size 32 --shards 8 --seed 1 || { cat "$SH_WORK/synth.log"; die "nsl_dist synth failed"; }
  sh_log "demo dataset written to $DATA"
}

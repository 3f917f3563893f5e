#!/usr/bin/env bash
# Two hosts simulated on this machine: two network namespaces joined by a veth pair, one MPI rank in
# each, talking over TCP only. Trains the demo config for a few steps and requires every epoch's
# loss and Recall@K in metrics.jsonl to be the same text as in the ordinary single-host
# `mpirun -np 2` run.
#
# usage: multihost_netns.sh NSL_DIST_BINARY REPO_ROOT|DEMO_YAML SCRATCH_DIR
# Needs root (ip netns), iproute2 and OpenMPI (mpirun, orted). Leaves no namespace, interface or
# process behind, also when it fails (trap on EXIT; INT/TERM/HUP end the script through it).
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, or namespaces not permitted here).
set -euo pipefail

die() {
  echo "multihost_netns: FAIL: $*" >&2
  exit 1
}

[ $# -eq 3 ] || die "usage: $0 NSL_DIST_BINARY REPO_ROOT|DEMO_YAML SCRATCH_DIR"
NSL=$(realpath "$1")
if [ -d "$2" ]; then CONFIG=$(realpath "$2")/configs/demo.yaml; else CONFIG=$(realpath "$2"); fi
[ -x "$NSL" ] || die "no nsl_dist binary at $1"
[ -f "$CONFIG" ] || die "no config at $CONFIG"
skip() {
  echo "multihost_netns: SKIPPED: $*" >&2
  exit 77  # ctest's SKIP_RETURN_CODE
}
[ "$(id -u)" -eq 0 ] || skip "needs root for ip netns"
command -v ip >/dev/null || die "'ip' (iproute2) not found: run launch/setup.sh"
for tool in mpirun orted timeout awk; do
  command -v "$tool" >/dev/null || die "'$tool' not found"
done

# Names unique to this run (veth names: at most 15 characters; pid_max is at most 7 digits).
ID=$$
NS_A=nslA$ID
NS_B=nslB$ID
VETH_A=nsvA$ID
VETH_B=nsvB$ID
# The addresses live only inside the two namespaces, which have no other interface, so they can
# clash neither with the host's networks nor with a concurrent run of this test.
NET=10.213.77
IP_A=$NET.1
IP_B=$NET.2
CIDR=$NET.0/24

# Namespaces left by an earlier run of this test that was killed outright (SIGKILL: no trap ran),
# recognised by the name pattern and a pid that no longer exists.
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^nsl[AB][0-9]+$' || true); do
  if ! kill -0 "${ns#nsl?}" 2>/dev/null; then
    echo "multihost_netns: removing stale namespace $ns"
    ip netns pids "$ns" | xargs -r kill -9
    ip netns del "$ns" || true
  fi
done

mkdir -p "$3"
WORK=$(realpath "$3")/multihost_netns.$ID
rm -rf "$WORK"
mkdir -p "$WORK"

# Long steps run in the background under `timeout`, output to a log, and are waited for, so that a signal reaches the
# traps at once (bash runs traps only after a foreground command ends); the trap stops the step.
CHILD=
run_step() {  # run_step SECONDS LOG command...
  local limit=$1 log=$2
  shift 2
  timeout -k 10 "$limit" "$@" >"$log" 2>&1 &
  CHILD=$!
  local rc=0
  wait "$CHILD" || rc=$?
  CHILD=
  return "$rc"
}

cleanup() {
  local rc=$?
  set +e
  if [ -n "$CHILD" ]; then
    kill -TERM "$CHILD" 2>/dev/null  # timeout passes it on to mpirun, which ends its ranks
    wait "$CHILD" 2>/dev/null
  fi
  for ns in "$NS_A" "$NS_B"; do
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      ip netns pids "$ns" | xargs -r kill -9
      ip netns del "$ns"
    fi
  done
  # Only present when set-up failed before the ends were moved into the namespaces.
  ip link del "$VETH_A" >/dev/null 2>&1
  ip link del "$VETH_B" >/dev/null 2>&1
  if [ "$rc" -eq 0 ]; then rm -rf "$WORK"; else echo "multihost_netns: files kept in $WORK" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

start=$(date +%s)

# --- the two hosts ---------------------------------------------------------------------------
ip netns add "$NS_A" 2>"$WORK/netns.err" || {
  cat "$WORK/netns.err" >&2
  die "cannot create network namespaces here: $(cat "$WORK/netns.err")"
}
ip netns add "$NS_B"
ip link add "$VETH_A" type veth peer name "$VETH_B"
ip link set "$VETH_A" netns "$NS_A"
ip link set "$VETH_B" netns "$NS_B"
ip -n "$NS_A" addr add "$IP_A/24" dev "$VETH_A"
ip -n "$NS_B" addr add "$IP_B/24" dev "$VETH_B"
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "$VETH_A" up
ip -n "$NS_B" link set "$VETH_B" up
echo "== hosts: $NS_A ($IP_A on $VETH_A)  <-> $NS_B ($IP_B on $VETH_B)"
for ns in "$NS_A" "$NS_B"; do
  echo "   $ns interfaces: $(ip -n "$ns" -o -4 addr show | awk '{printf "%s=%s ", $2, $4}')"
done

# The remote shell mpirun uses instead of ssh: `AGENT HOST word...` joins the words and runs them
# with sh inside HOST's namespace, as sshd would run the remote command with the user's shell.
AGENT=$WORK/netns_rsh.sh
cat >"$AGENT" <<EOF
#!/bin/sh
host=\$1
shift
case "\$host" in
  $IP_A) ns=$NS_A ;;
  $IP_B) ns=$NS_B ;;
  *) echo "netns_rsh: unknown host '\$host'" >&2; exit 255 ;;
esac
echo "\$host -> \$ns: \$*" >>"$WORK/rsh.log"
exec ip netns exec "\$ns" sh -c "\$*"
EOF
chmod +x "$AGENT"

# Every rank records where it runs, then becomes nsl_dist (exec: same process, same environment).
WHERE=$WORK/nsl_where.sh
cat >"$WHERE" <<EOF
#!/bin/sh
r=\${OMPI_COMM_WORLD_RANK:-?}
{
  echo "rank \$r/\${OMPI_COMM_WORLD_SIZE:-?} local_size \${OMPI_COMM_WORLD_LOCAL_SIZE:-?}" \
    "netns '\$(ip netns identify \$\$)' (\$(readlink /proc/self/ns/net))" \
    "ipv4 \$(ip -o -4 addr show | awk '{printf "%s=%s ", \$2, \$4}')"
} >"$WORK/where.rank\$r"
exec "$NSL" "\$@"
EOF
chmod +x "$WHERE"

# --- data and the common training arguments -----------------------------------------------------
DATA=$WORK/data
run_step 120 "$WORK/synth.log" "$NSL" synth --out "$DATA" --classes 100 --images-per-class 16 \
  --image-size 32 --shards 8 --seed 1 || { cat "$WORK/synth.log"; die "nsl_dist synth failed"; }
# threads_per_rank is pinned: by default it is cores / ranks on the node, which is 2 ranks in the
# reference but 1 on each simulated host, and the thread count may change reduction orders.
TRAIN_ARGS=(train --config "$CONFIG" --set "data.path=$DATA" --set train.epochs=2
  --set train.max_steps_per_epoch=5 --set train.threads_per_rank=1 --quiet)
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# --- reference: one host, mpirun -np 2 ------------------------------------------------------------
REF=$WORK/ref
echo "== reference: mpirun -np 2 on one host"
t0=$(date +%s)
if ! run_step 200 "$WORK/ref.log" mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 \
  -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS "$NSL" "${TRAIN_ARGS[@]}" --out "$REF"; then
  cat "$WORK/ref.log"
  die "reference run failed"
fi
grep -v '^$' "$WORK/ref.log" | sed 's/^/   /'
echo "   ($(($(date +%s) - t0)) s)"

# --- two hosts: mpirun in A, one rank on each host, TCP over the veth only ---------------------------
TWO=$WORK/twohost
veth_stat() { ip netns exec "$NS_A" cat "/sys/class/net/$VETH_A/statistics/$1"; }
tx0=$(veth_stat tx_bytes)
rx0=$(veth_stat rx_bytes)
HOSTS="$IP_A:1,$IP_B:1"  # one slot on each host
# shellcheck disable=SC2054  # the commas are inside MPI arguments (tcp,self)
MPI_TWO=(mpirun --allow-run-as-root --bind-to none -np 2 --host "$HOSTS"
  --mca plm_rsh_agent "$AGENT"
  --mca pml ob1 --mca btl tcp,self
  --mca btl_tcp_if_include "$CIDR" --mca oob_tcp_if_include "$CIDR"
  --mca btl_base_verbose 30
  -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS)
echo "== two hosts: ip netns exec $NS_A ${MPI_TWO[*]} nsl_dist ..."
t0=$(date +%s)
if ! run_step 200 "$WORK/twohost.log" ip netns exec "$NS_A" "${MPI_TWO[@]}" "$WHERE" \
  "${TRAIN_ARGS[@]}" --out "$TWO"; then
  cat "$WORK/twohost.log"
  [ -f "$WORK/rsh.log" ] && cat "$WORK/rsh.log"
  die "two-host run failed"
fi
grep -v '^$' "$WORK/twohost.log" | grep -v '^\[.*\] \(mca\|select\|btl\)' | sed 's/^/   /' || true
echo "   ($(($(date +%s) - t0)) s)"
tx1=$(veth_stat tx_bytes)
rx1=$(veth_stat rx_bytes)

# --- evidence: separate namespaces, TCP over the veth ----------------------------------------------
echo "== where the ranks ran"
for r in 0 1; do
  [ -f "$WORK/where.rank$r" ] || die "rank $r left no record of where it ran"
  sed 's/^/   /' "$WORK/where.rank$r"
done
grep -q "netns '$NS_A'" "$WORK/where.rank0" || die "rank 0 did not run in $NS_A"
grep -q "netns '$NS_B'" "$WORK/where.rank1" || die "rank 1 did not run in $NS_B"
echo "   remote launch: $(sed 's/ orted .*/ orted .../' "$WORK/rsh.log")"
echo "== MPI transport (btl_base_verbose)"
grep -E 'btl:tcp: (now connected|path from)|Using (tcp|vader|sm) btl for send to' \
  "$WORK/twohost.log" | sed 's/^/   /' || true
grep -q 'btl:tcp: now connected to' "$WORK/twohost.log" || die "no TCP connection between the ranks"
if grep -qE 'Using (vader|sm|openib|uct) btl' "$WORK/twohost.log"; then
  die "a non-TCP transport was used between the ranks"
fi
echo "   $VETH_A: sent $((tx1 - tx0)) bytes, received $((rx1 - rx0)) bytes during the run"
if [ $((tx1 - tx0)) -lt 100000 ] || [ $((rx1 - rx0)) -lt 100000 ]; then
  die "less than 100 kB crossed the veth: the ranks did not talk over it"
fi

# --- comparison: the raw JSON text of loss and Recall@K, epoch by epoch --------------------------
# nlohmann::json writes one compact object per line with sorted keys and shortest round-trip doubles.
table() {
  awk '{
    line = $0; out = "";
    n = split("epoch loss recall@1 recall@2 recall@4 recall@8", keys, " ");
    for (i = 1; i <= n; i++) {
      v = "-";
      if (match(line, "\"" keys[i] "\":[^,}]*")) v = substr(line, RSTART + length(keys[i]) + 3, RLENGTH - length(keys[i]) - 3);
      out = out (i > 1 ? "  " : "") v;
    }
    print out;
  }' "$1"
}
for d in "$REF" "$TWO"; do [ -s "$d/metrics.jsonl" ] || die "no $d/metrics.jsonl"; done
table "$REF/metrics.jsonl" >"$WORK/ref.table"
table "$TWO/metrics.jsonl" >"$WORK/twohost.table"
echo "== epoch  loss  recall@1  recall@2  recall@4  recall@8"
echo "-- reference (1 host, 2 ranks)"
sed 's/^/   /' "$WORK/ref.table"
echo "-- two hosts (2 namespaces, 1 rank each, TCP)"
sed 's/^/   /' "$WORK/twohost.table"
[ "$(wc -l <"$WORK/ref.table")" -eq 3 ] || die "expected 3 epochs (0, 1, 2) in the reference"
if grep -q -- ' - \| -$' "$WORK/ref.table"; then die "a field is missing from metrics.jsonl"; fi
if ! diff -u "$WORK/ref.table" "$WORK/twohost.table"; then
  die "the two-host run's losses or recalls differ from the single-host run's"
fi
echo "multihost_netns: PASS: identical losses and Recall@K, $(($(date +%s) - start)) s"

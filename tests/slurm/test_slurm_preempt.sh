#!/usr/bin/env bash
# Acceptance test 2 of issue 6 against a real Slurm (tests/slurm/slurm_harness.sh): preemption and
# requeue of cluster/train.sbatch.
#
# Job A (2 tasks, demo config, train.epochs=$NSL_SLURM_EPOCHS, default 4): once OUT/metrics.jsonl has
# the epoch 1 line, `scancel --signal=USR1 --batch A` signals the batch script only (as Slurm's
# --signal=B:USR1@300 does before the time limit); its trap forwards USR1 to mpirun, mpirun to the
# ranks; nsl_dist writes a checkpoint (reason "preempted") and exits 75; the script requeues the job
# (`scontrol requeue`). Required: the same job id goes back to PENDING and RUNNING again (start 2,
# Restarts=1), the second start prints "resuming from", the job ends COMPLETED, and its output shows
# the preemption message, nsl_dist's "preempted" and the script's "(exit 75): requeueing" line.
# Job B: the same command, uninterrupted. The final checkpoints of A and B must have the same name
# and the same info.weights_fnv1a64 (bit-identical weights on the CPU), metrics.jsonl of each must
# hold every epoch 0..E once, and the two must agree on every value except the timings.
#
# usage: test_slurm_preempt.sh NSL_DIST_BINARY REPO_ROOT SCRATCH_DIR
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, Slurm/munge missing, fewer than 2 CPUs).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/slurm/slurm_harness.sh
source "$HERE/slurm_harness.sh"
EPOCHS=${NSL_SLURM_EPOCHS:-4}
[ "$EPOCHS" -ge 3 ] || { echo "NSL_SLURM_EPOCHS must be at least 3" >&2; exit 1; }
sh_setup test_slurm_preempt "$@"

sh_demo_data

SBATCH_ARGS=(--ntasks=2 --cpus-per-task=1 "$REPO/cluster/train.sbatch" "$REPO/configs/demo.yaml")
TRAIN_ARGS=(--set "data.path=$DATA" --set "train.epochs=$EPOCHS")

show_log() {
  echo "----- $1 -----"
  grep -v '^epoch [0-9]*/[0-9]*  step ' "$1" | sed 's/^/   /'  # progress lines left out
  echo "-----"
}

# --- job A: preempted after epoch 1, requeued, completed ------------------------------------------
OUT_A=$SH_WORK/out_preempted
t0=$(date +%s)
sh_submit JOB_A "${SBATCH_ARGS[@]}" "$OUT_A" "${TRAIN_ARGS[@]}"
LOG_A=$SH_SUBMIT/nsl_dist-$JOB_A.out
# shellcheck disable=SC2317  # conditions called by sh_poll
epoch1_written() {
  sh_job_ended && die "job $JOB_A ended ($(sh_field JobState)) before the epoch 1 line appeared"
  grep -q '"epoch":1[,}]' "$OUT_A/metrics.jsonl" 2>/dev/null
}
sh_poll "$JOB_A" 300 epoch1_written ||
  die "no epoch 1 line in $OUT_A/metrics.jsonl within 300 s (states: $(sh_states "$JOB_A"))"
[ "$(sh_field JobState)" = RUNNING ] || die "job $JOB_A is $(sh_field JobState) after epoch 1, expected RUNNING"
t_sig=$(date +%s)
sh_log "epoch 1 written: scancel --signal=USR1 --batch $JOB_A"
scancel --signal=USR1 --batch "$JOB_A" || die "scancel --signal=USR1 --batch $JOB_A failed"

# The job must come back: RUNNING again with Restarts=1 (the requeued job waits for its BeginTime).
# shellcheck disable=SC2317
restarted() {
  sh_job_ended && die "job $JOB_A ended ($(sh_field JobState)) without a restart; states: $(sh_states "$JOB_A")"
  [ "$(sh_field JobState)" = RUNNING ] && [ "$(sh_field Restarts)" = 1 ]
}
sh_poll "$JOB_A" 240 restarted ||
  die "job $JOB_A was not running again within 240 s of the signal (states: $(sh_states "$JOB_A"))"
t_restart=$(date +%s)
sh_poll "$JOB_A" 600 sh_job_ended || die "job $JOB_A did not end within 600 s (states: $(sh_states "$JOB_A"))"
wall_a=$(($(date +%s) - t0))
state_a=$(sh_field JobState)
exit_a=$(sh_field ExitCode)
restarts_a=$(sh_field Restarts)
[ -f "$LOG_A" ] || die "no output file $LOG_A"
show_log "$LOG_A"
sh_log "job $JOB_A: states $(sh_states "$JOB_A"); final JobState=$state_a ExitCode=$exit_a" \
  "Restarts=$restarts_a; $wall_a s (signal at +$((t_sig - t0)) s, running again $((t_restart - t_sig)) s later)"

[ "$state_a" = COMPLETED ] || die "job $JOB_A ended $state_a (ExitCode=$exit_a), expected COMPLETED"
[ "$restarts_a" = 1 ] || die "job $JOB_A has Restarts=$restarts_a, expected 1"
# Requeued, not merely restarted in place: the states in between include PENDING.
[[ "$(sh_states "$JOB_A")" =~ RUNNING\(start\ 1\).*PENDING.*RUNNING\(start\ 2\).*COMPLETED ]] ||
  die "job $JOB_A did not go RUNNING -> PENDING -> RUNNING -> COMPLETED: $(sh_states "$JOB_A")"
expect_line() {  # expect_line LOG REGEX WHAT
  grep -qE "$2" "$1" || die "$1 lacks $3 (/$2/)"
}
expect_line "$LOG_A" "^nsl_dist job $JOB_A start 1 on " "the first start line"
expect_line "$LOG_A" "^nsl_dist job $JOB_A: preemption signal, asking the ranks to checkpoint and stop" \
  "the script's preemption message"
expect_line "$LOG_A" "preempted" "nsl_dist's 'preempted'"
expect_line "$LOG_A" "^nsl_dist job $JOB_A: checkpointed after preemption \(exit 75\): requeueing\$" \
  "the script's exit 75 / requeue line"
expect_line "$LOG_A" "^nsl_dist job $JOB_A start 2 on " "the second start line"
expect_line "$LOG_A" "resuming from" "'resuming from' of the second start"
expect_line "$LOG_A" "Retrieval on the unseen test classes" "the retrieval table"
expect_line "$LOG_A" "^nsl_dist job $JOB_A: finished with exit code 0\$" "'finished with exit code 0'"
[ "$(grep -c "^nsl_dist job $JOB_A start " "$LOG_A")" -eq 2 ] || die "$LOG_A does not have exactly 2 start lines"
grep -q 'requeue failed' "$LOG_A" && die "$LOG_A says the requeue failed"
# Order: the requeue line before the second start, "resuming from" after it.
order=$(grep -nE "checkpointed after preemption|start 2 on |resuming from" "$LOG_A" | cut -d: -f2- |
  sed -E 's/.*(checkpointed after preemption).*/requeue/; s/.*(start 2 on ).*/start2/; s/.*resuming from.*/resume/' |
  tr '\n' ' ')
[ "$order" = "requeue start2 resume " ] || die "unexpected order of requeue / second start / resume lines: $order"
sh_log "resumed: $(grep -m1 'resuming from' "$LOG_A")"
sh_check_epochs "$OUT_A/metrics.jsonl" "$EPOCHS"

# --- job B: the same command without interruption ---------------------------------------------------
OUT_B=$SH_WORK/out_uninterrupted
t0=$(date +%s)
sh_submit JOB_B "${SBATCH_ARGS[@]}" "$OUT_B" "${TRAIN_ARGS[@]}"
LOG_B=$SH_SUBMIT/nsl_dist-$JOB_B.out
sh_poll "$JOB_B" 600 sh_job_ended || die "job $JOB_B did not end within 600 s (states: $(sh_states "$JOB_B"))"
wall_b=$(($(date +%s) - t0))
state_b=$(sh_field JobState)
restarts_b=$(sh_field Restarts)
sh_log "job $JOB_B: states $(sh_states "$JOB_B"); final JobState=$state_b ExitCode=$(sh_field ExitCode)" \
  "Restarts=$restarts_b; $wall_b s"
[ "$state_b" = COMPLETED ] || { show_log "$LOG_B"; die "job $JOB_B ended $state_b, expected COMPLETED"; }
[ "$restarts_b" = 0 ] || die "job $JOB_B was restarted"
grep -q "preempted" "$LOG_B" && die "the uninterrupted job $JOB_B says 'preempted'"
sh_check_epochs "$OUT_B/metrics.jsonl" "$EPOCHS"

# --- the same result --------------------------------------------------------------------------------
CK_A=$(sh_last_checkpoint "$OUT_A")
CK_B=$(sh_last_checkpoint "$OUT_B")
if [ -z "$CK_A" ] || [ -z "$CK_B" ]; then die "missing final checkpoints ('$CK_A', '$CK_B')"; fi
[ "$(basename "$CK_A")" = "$(basename "$CK_B")" ] ||
  die "final checkpoints differ in step: $(basename "$CK_A") (preempted run) vs $(basename "$CK_B")"
W_A=$(sh_manifest_info "$CK_A" weights_fnv1a64)
W_B=$(sh_manifest_info "$CK_B" weights_fnv1a64)
sh_log "final checkpoints $(basename "$CK_A"): weights_fnv1a64 $W_A (preempted + requeued) vs $W_B (uninterrupted)"
if [ -z "$W_A" ] || [ "$W_A" != "$W_B" ]; then die "the weights differ: '$W_A' vs '$W_B'"; fi
strip_timing() { sed -E 's/"(images_per_s|seconds)":[^,}]*,?//g' "$1"; }
if ! diff <(strip_timing "$OUT_A/metrics.jsonl") <(strip_timing "$OUT_B/metrics.jsonl") >"$SH_WORK/metrics.diff"; then
  cat "$SH_WORK/metrics.diff"
  die "metrics.jsonl of the two runs differ beyond the timings"
fi
sh_log "metrics.jsonl: epochs 0..$EPOCHS once each in both runs; losses and recalls identical"
sh_pass

#!/usr/bin/env bash
# Against a real Slurm (tests/slurm/slurm_harness.sh): a plain `scancel JOBID` of a running
# cluster/train.sbatch job (SIGTERM to every process of the job) ends it for good: state CANCELLED,
# not requeued (Restarts=0, one start line, still CANCELLED a while later), no "requeueing" line.
# (`scontrol requeue` brings back a job that is being cancelled, so the batch script must not call
# it then.)
#
# usage: test_slurm_cancel.sh NSL_DIST_BINARY REPO_ROOT SCRATCH_DIR
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, Slurm/munge missing, fewer than 2 CPUs).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/slurm/slurm_harness.sh
source "$HERE/slurm_harness.sh"
sh_setup test_slurm_cancel "$@"

sh_demo_data

OUT=$SH_WORK/out_cancel
t0=$(date +%s)
sh_submit JOB --ntasks=2 --cpus-per-task=1 "$REPO/cluster/train.sbatch" "$REPO/configs/demo.yaml" \
  "$OUT" --set "data.path=$DATA" --set train.epochs=20
LOG=$SH_SUBMIT/nsl_dist-$JOB.out
# shellcheck disable=SC2317  # a condition called by sh_poll
epoch0_written() {
  sh_job_ended && die "job $JOB ended ($(sh_field JobState)) before the epoch 0 line appeared"
  grep -q '"epoch":0[,}]' "$OUT/metrics.jsonl" 2>/dev/null
}
sh_poll "$JOB" 300 epoch0_written || die "no epoch 0 line within 300 s (states: $(sh_states "$JOB"))"
sh_log "training: scancel $JOB"
scancel "$JOB" || die "scancel $JOB failed"
sh_poll "$JOB" 120 sh_job_ended || die "job $JOB did not end within 120 s of scancel (states: $(sh_states "$JOB"))"
# A requeue would show as PENDING again within a few seconds (cred_expire=10 in the harness).
sh_poll "$JOB" 20 false
wall=$(($(date +%s) - t0))
state=$(sh_field JobState)
restarts=$(sh_field Restarts)
[ -f "$LOG" ] || die "no output file $LOG"
echo "----- $LOG -----"
grep -v '^epoch [0-9]*/[0-9]*  step ' "$LOG" | sed 's/^/   /'
echo "-----"
sh_log "job $JOB: states $(sh_states "$JOB"); final JobState=$state ExitCode=$(sh_field ExitCode)" \
  "Restarts=$restarts; $wall s"
[ "$state" = CANCELLED ] || die "job $JOB is $state after scancel, expected CANCELLED"
[ "$restarts" = 0 ] || die "job $JOB was requeued after scancel (Restarts=$restarts)"
[ "$(grep -c "^nsl_dist job $JOB start " "$LOG")" -eq 1 ] || die "more than one start line in $LOG"
grep -q ': requeueing$' "$LOG" && die "$LOG says the cancelled job was requeued"
sh_pass

#!/usr/bin/env bash
# Acceptance test 3 of issue 6 against a real Slurm (tests/slurm/slurm_harness.sh): a job whose
# configuration is invalid (`--set train.lrr=1`: unknown key, nsl_dist exits 2 before any work) fails
# fast: state FAILED with ExitCode=2:0, "config error" in its output, and it is not requeued
# (Restarts=0, one start line, still FAILED a while later).
#
# usage: test_slurm_badconfig.sh NSL_DIST_BINARY REPO_ROOT SCRATCH_DIR
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, Slurm/munge missing, fewer than 2 CPUs).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/slurm/slurm_harness.sh
source "$HERE/slurm_harness.sh"
sh_setup test_slurm_badconfig "$@"

OUT=$SH_WORK/out_bad
t0=$(date +%s)
sh_submit JOB --ntasks=2 --cpus-per-task=1 "$REPO/cluster/train.sbatch" "$REPO/configs/demo.yaml" \
  "$OUT" --set train.lrr=1
sh_poll "$JOB" 60 sh_job_ended || die "job $JOB did not end within 60 s (states: $(sh_states "$JOB"))"
wall=$(($(date +%s) - t0))
LOG=$SH_SUBMIT/nsl_dist-$JOB.out
[ -f "$LOG" ] || die "no output file $LOG"
echo "----- $LOG -----"
sed 's/^/   /' "$LOG"
echo "-----"

# Not requeued: the job stays FAILED (a requeue would show as PENDING again within a few seconds).
sh_poll "$JOB" 8 false
state=$(sh_field JobState)
exitcode=$(sh_field ExitCode)
restarts=$(sh_field Restarts)
sh_log "job $JOB: states $(sh_states "$JOB"); final JobState=$state ExitCode=$exitcode Restarts=$restarts; $wall s"
[ "$state" = FAILED ] || die "job $JOB ended $state, expected FAILED"
[ "$exitcode" = 2:0 ] || die "job $JOB has ExitCode=$exitcode, expected 2:0 (nsl_dist's exit 2)"
[ "$restarts" = 0 ] || die "job $JOB was restarted $restarts time(s)"
grep -q 'config error' "$LOG" || die "no 'config error' in $LOG"
grep -q "train.lrr" "$LOG" || die "the error in $LOG does not name the key train.lrr"
starts=$(grep -c "^nsl_dist job $JOB start " "$LOG")
[ "$starts" -eq 1 ] || die "$starts start lines in $LOG, expected 1"
grep -q "nsl_dist job $JOB: finished with exit code 2\$" "$LOG" || die "no 'finished with exit code 2' in $LOG"
grep -q 'requeueing' "$LOG" && die "$LOG says the job was requeued"
[ "$wall" -le 30 ] || die "the failing job took $wall s, expected a fast failure"
[ -d "$OUT/checkpoints" ] && die "the failed job wrote checkpoints"
sh_pass

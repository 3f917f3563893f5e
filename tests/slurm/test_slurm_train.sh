#!/usr/bin/env bash
# Acceptance test 1 of issue 6 against a real Slurm (tests/slurm/slurm_harness.sh): `sbatch
# --ntasks=2 --cpus-per-task=1 cluster/train.sbatch` on the demo config (generated demo dataset,
# train.epochs shortened to $NSL_SLURM_EPOCHS, default 4) runs to COMPLETED without a restart; its
# output file nsl_dist-<jobid>.out (in the submit folder) has the Recall@K table, and OUT/metrics.jsonl
# has every epoch 0..E exactly once, written by 2 ranks with 1 thread each.
#
# usage: test_slurm_train.sh NSL_DIST_BINARY REPO_ROOT SCRATCH_DIR
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, Slurm/munge missing, fewer than 2 CPUs).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/slurm/slurm_harness.sh
source "$HERE/slurm_harness.sh"
EPOCHS=${NSL_SLURM_EPOCHS:-4}
sh_setup test_slurm_train "$@"

sh_demo_data

OUT=$SH_WORK/out_train
t0=$(date +%s)
sh_submit JOB --ntasks=2 --cpus-per-task=1 "$REPO/cluster/train.sbatch" "$REPO/configs/demo.yaml" \
  "$OUT" --set "data.path=$DATA" --set "train.epochs=$EPOCHS"
sh_poll "$JOB" 600 sh_job_ended || die "job $JOB did not end within 600 s (states: $(sh_states "$JOB"))"
wall=$(($(date +%s) - t0))
LOG=$SH_SUBMIT/nsl_dist-$JOB.out
[ -f "$LOG" ] || die "no output file $LOG"
echo "----- $LOG -----"
sed 's/^/   /' "$LOG"
echo "-----"
state=$(sh_field JobState)
exitcode=$(sh_field ExitCode)
restarts=$(sh_field Restarts)
sh_log "job $JOB: states $(sh_states "$JOB"); final JobState=$state ExitCode=$exitcode Restarts=$restarts; $wall s"

[ "$state" = COMPLETED ] || die "job $JOB ended $state (ExitCode=$exitcode), expected COMPLETED"
[ "$exitcode" = 0:0 ] || die "job $JOB has ExitCode=$exitcode, expected 0:0"
[ "$restarts" = 0 ] || die "job $JOB was restarted $restarts time(s)"
grep -q "^nsl_dist job $JOB start 1 on .*: 2 rank(s) x 1 thread(s)" "$LOG" ||
  die "no 'start 1 ... 2 rank(s) x 1 thread(s)' line in $LOG"
[ "$(grep -c "^nsl_dist job $JOB start " "$LOG")" -eq 1 ] || die "more than one start line in $LOG"
grep -q 'Retrieval on the unseen test classes' "$LOG" || die "no retrieval table in $LOG"
grep -q "nsl_dist job $JOB: finished with exit code 0\$" "$LOG" || die "no 'finished with exit code 0' in $LOG"
sh_check_epochs "$OUT/metrics.jsonl" "$EPOCHS"
CKPT=$(sh_last_checkpoint "$OUT")
[ -n "$CKPT" ] || die "no checkpoint under $OUT/checkpoints"
# info.epoch/step: where training continues from (the epoch after the last one, step 0).
if [ "$(sh_manifest_info "$CKPT" epoch)" != $((EPOCHS + 1)) ] || [ "$(sh_manifest_info "$CKPT" step)" != 0 ] ||
  [ "$(sh_manifest_info "$CKPT" reason)" != "epoch end" ]; then
  die "the last checkpoint $CKPT is not the end of epoch $EPOCHS: $(grep -E '"(epoch|step|reason)"' "$CKPT/manifest.json" | tr -d '\n ')"
fi
[ "$(sh_manifest_info "$CKPT" world_size)" = 2 ] || die "the last checkpoint $CKPT was not written by 2 ranks"
sh_log "metrics.jsonl: epochs 0..$EPOCHS once each; last checkpoint $(basename "$CKPT")" \
  "weights_fnv1a64 $(sh_manifest_info "$CKPT" weights_fnv1a64)"
sh_pass

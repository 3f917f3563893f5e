#!/usr/bin/env bash
# Hyper-parameter tuning on Omniglot without the test classes: every trial of every loss trains
# configs/omniglot_<loss>.yaml on split tune_train and is evaluated on split val (6 whole background
# alphabets held out by `nsl_dist prep --val-alphabets 6`); the 659 evaluation classes (split test)
# are never read. Then one Markdown table: validation Recall@1 of each trial at its best and at its
# last epoch, the best trial of each loss marked (by the last epoch's Recall@1: the setting is then
# used for a whole run; ties by the best epoch's, then the lower trial number).
#   tests/bench/tune.sh [--out DIR] [--losses "dgcrl triplet ..."] [--trials-dir DIR]
#                       [--epochs 4] [--seed 1] [-- TRAIN_ARGS...]
# Trials: <trials-dir>/<loss>.txt (default tests/bench/tune_trials), one per line, each line the
# `--set key=value` arguments the trial adds to the config, `-` or `default` for none; blank lines
# and lines starting with '#' are skipped (tests/bench/tune_trials/triplet.txt describes the
# format). --losses defaults to every loss with a trials file. The protocol: at most 6 trials per
# loss, the same number for every loss, at most 4 epochs each (--epochs, default 4); trials and
# TRAIN_ARGS may not set the keys the protocol fixes (data.path, data.train_split, data.test_split,
# data.gallery_split, train.epochs, seed). TRAIN_ARGS are added to every trial (e.g. --set
# train.max_steps_per_epoch=5 for a smoke test). Runs: DIR/<loss>-t<trial>-<config hash>
# (default DIR runs/tune), trained under `mpirun -np 2` by bench_runs.sh: a finished run is not
# repeated, an interrupted one resumes, an edited trial gets a new folder. Table: stdout and
# DIR/tune_table.md. Data: runs/data/omniglot_val, prepared on first use from NSL_OMNIGLOT_ROOT
# (default ../shared/data/omniglot). Needs build/nsl_dist
# (NSL_BIN overrides it) and /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/bench_runs.sh
OUT=runs/tune
LOSSES=""
TRIALS_DIR=tests/bench/tune_trials
EPOCHS=4
SEED=1
MAX_TRIALS=6
MAX_EPOCHS=4
DATA=runs/data/omniglot_val
CONFIG_PREFIX=configs/omniglot_
die() {
  echo "tune.sh: $*" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=${2:?--out needs a value}; shift 2 ;;
    --losses) LOSSES=${2:?--losses needs a value}; shift 2 ;;
    --trials-dir) TRIALS_DIR=${2:?--trials-dir needs a value}; shift 2 ;;
    --epochs) EPOCHS=${2:?--epochs needs a value}; shift 2 ;;
    --seed) SEED=${2:?--seed needs a value}; shift 2 ;;
    --) shift; break ;;
    *) die "unknown argument '$1' (see the header of $0)" ;;
  esac
done
EXTRA=("$@")
[[ $EPOCHS =~ ^[1-9][0-9]*$ ]] || die "--epochs must be a positive number, not '$EPOCHS'"
[ "$EPOCHS" -le "$MAX_EPOCHS" ] ||
  die "--epochs $EPOCHS: the tuning protocol allows at most $MAX_EPOCHS epochs per trial"
[[ $SEED =~ ^[0-9]+$ ]] || die "--seed must be a number, not '$SEED'"
[ -d "$TRIALS_DIR" ] || die "no trials folder '$TRIALS_DIR'"
export NSL_BIN=${NSL_BIN:-build/nsl_dist}
[ -x "$NSL_BIN" ] || die "$NSL_BIN missing: run launch/setup.sh first (or set NSL_BIN)"
NSL_BIN=$(realpath "$NSL_BIN")
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || die "$PYTHON missing (apt-get install python3)"

# Keys the protocol sets; a trial or TRAIN_ARGS that sets one would change what is measured.
PROTECTED='^(data\.(path|train_split|test_split|gallery_split)|train\.epochs|seed)='
check_args() {  # WHERE ARGS...: refuses a protected key, --config, --out and --resume
  local where=$1 a
  shift
  for a in "$@"; do
    [[ $a =~ $PROTECTED ]] && die "$where: '$a' is fixed by the tuning protocol (use --epochs or --seed for those)"
    case "$a" in
      --config | --config=* | --out | --out=* | --resume | --resume=*) die "$where: '$a' is set by tune.sh" ;;
    esac
  done
  return 0
}
check_args "TRAIN_ARGS" "${EXTRA[@]}"

# Each loss's trials: one line of `--set k=v` arguments per trial ("" for the config as it is).
if [ -z "$LOSSES" ]; then
  for f in "$TRIALS_DIR"/*.txt; do
    [ -f "$f" ] && LOSSES="$LOSSES $(basename "$f" .txt)"
  done
  LOSSES=${LOSSES# }
  [ -n "$LOSSES" ] || die "no <loss>.txt trials files in '$TRIALS_DIR'"
fi
declare -A TRIALS COUNT
for loss in $LOSSES; do
  config="$CONFIG_PREFIX$loss.yaml"
  file="$TRIALS_DIR/$loss.txt"
  [ -f "$config" ] || die "no $config"
  [ -f "$file" ] || die "no trials file $file for loss '$loss'"
  n=0
  lineno=0
  TRIALS[$loss]=""
  while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    line=${line#"${line%%[![:space:]]*}"}
    line=${line%"${line##*[![:space:]]}"}
    [ -z "$line" ] || [[ $line == \#* ]] && continue
    n=$((n + 1))
    [ "$n" -le "$MAX_TRIALS" ] ||
      die "$file: more than $MAX_TRIALS trials (the tuning protocol allows at most $MAX_TRIALS per loss)"
    if [ "$line" = - ] || [ "$line" = default ]; then
      line=""
    else
      read -r -a words <<< "$line"
      [ $((${#words[@]} % 2)) -eq 0 ] || die "$file:$lineno: expected '--set key=value' pairs, got '$line'"
      for ((i = 0; i < ${#words[@]}; i += 2)); do
        if [ "${words[$i]}" != --set ] || [[ ${words[$((i + 1))]} != ?*=* ]]; then
          die "$file:$lineno: expected '--set key=value' pairs, got '$line' ('-' alone: no overrides)"
        fi
        check_args "$file:$lineno" "${words[$((i + 1))]}"
      done
    fi
    TRIALS[$loss]+="$line"$'\n'
  done < "$file"
  [ "$n" -gt 0 ] || die "$file holds no trials ('-' alone is the config as it is)"
  COUNT[$loss]=$n
done
first=""
for loss in $LOSSES; do
  [ -z "$first" ] && first=$loss
  [ "${COUNT[$loss]}" -eq "${COUNT[$first]}" ] ||
    die "$loss has ${COUNT[$loss]} trials, $first ${COUNT[$first]}: the tuning protocol gives every loss the same number"
done

if [ ! -f "$DATA/manifest.json" ]; then
  omniglot=$(omniglot_root)
  "$NSL_BIN" prep --dataset omniglot --root "$omniglot" --out "$DATA" \
    --image-size 32 --channels 1 --shards 8 --val-alphabets 6
fi
if ! "$PYTHON" -c 'import json, sys; s = json.load(open(sys.argv[1]))["splits"]
sys.exit(0 if "val" in s and "tune_train" in s else 1)' "$DATA/manifest.json"; then
  die "$DATA has no splits tune_train and val: remove it and run again (it is prepared with --val-alphabets 6)"
fi
mkdir -p "$OUT"
echo "# tune: losses [$LOSSES], ${COUNT[$first]} trials each, $EPOCHS epochs, seed $SEED, $(nproc) cores, $(hostname), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# extra train arguments: ${EXTRA[*]:-(none)}"

PROTOCOL=(--set "data.path=$DATA" --set data.train_split=tune_train --set data.test_split=val
          --set "train.epochs=$EPOCHS" --set "seed=$SEED")
rows=()
for loss in $LOSSES; do
  config="$CONFIG_PREFIX$loss.yaml"
  # An array, not `while read`: mpirun would read the rest of the loop's stdin.
  mapfile -t lines <<< "${TRIALS[$loss]%$'\n'}"
  k=0
  for line in "${lines[@]}"; do
    k=$((k + 1))
    read -r -a sets <<< "$line"
    # The protocol's --set come last, so they win over anything before them.
    args=(--config "$config" "${sets[@]}" "${EXTRA[@]}" "${PROTOCOL[@]}")
    hash=$("$NSL_BIN" train "${args[@]}" --dry-run 2>&1 |
           sed -n 's/^# resolved config (hash \(.*\))$/\1/p')
    [ -n "$hash" ] || { "$NSL_BIN" train "${args[@]}" --dry-run >&2 || true; die "$loss trial $k: the config does not load"; }
    run="$OUT/$loss-t$k-${hash:0:12}"
    bench_train "$run" "${args[@]}"
    rows+=("$loss" "$k" "${line:--}" "$run")
  done
done

"$PYTHON" - "$OUT/tune_table.md" "$EPOCHS" "$SEED" "${rows[@]}" <<'PY'
import json, sys

out, epochs, seed, rows = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
trials = [rows[i:i + 4] for i in range(0, len(rows), 4)]


def recall1(run):
    """(best epoch, its Recall@1, last epoch, its Recall@1) over the trained epochs (>= 1)."""
    by_epoch = {}  # a resumed run may repeat an epoch: the last line wins
    with open(run + "/metrics.jsonl") as f:
        for line in f:
            if line.strip():
                j = json.loads(line)
                by_epoch[j["epoch"]] = j
    trained = sorted(e for e in by_epoch if e >= 1)
    if not trained:
        sys.exit("tune.sh: %s/metrics.jsonl has no trained epoch" % run)
    best = max(trained, key=lambda e: (by_epoch[e]["recall@1"], -e))
    last = trained[-1]
    return best, by_epoch[best]["recall@1"], last, by_epoch[last]["recall@1"]


results = [(loss, int(k), sets, run) + recall1(run) for loss, k, sets, run in trials]
best_of = {}
for r in results:  # by the last epoch's Recall@1, then the best epoch's, then the lower trial
    key = (r[7], r[5], -r[1])
    if r[0] not in best_of or key > best_of[r[0]][0]:
        best_of[r[0]] = (key, r[1])
lines = [
    "Validation Recall@1 (%%): split val (whole held-out background alphabets), trained on "
    "tune_train, %s epochs, seed %s; * = the best trial of the loss (last epoch, then best epoch)."
    % (epochs, seed),
    "",
    "| loss | trial | overrides | R@1 best epoch (epoch) | R@1 last epoch (epoch) | best |",
    "| --- | --- | --- | --- | --- | --- |",
]
for loss, k, sets, run, best, r_best, last, r_last in results:
    sets = "(config as is)" if sets == "-" else "`" + sets.replace("--set ", "") + "`"
    mark = "*" if best_of[loss][1] == k else ""
    lines.append("| %s | %d | %s | %.2f (%d) | %.2f (%d) | %s |"
                 % (loss, k, sets, 100 * r_best, best, 100 * r_last, last, mark))
text = "\n".join(lines) + "\n"
with open(out, "w") as f:
    f.write(text)
sys.stdout.write(text)
PY
echo "# table: $OUT/tune_table.md"

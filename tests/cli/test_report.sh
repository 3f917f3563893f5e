#!/usr/bin/env bash
# nsl_dist report end to end: a small generated dataset, 2 training epochs, the report, then the
# page opened in headless Chromium: every image loaded (the page's own check, read from the DOM),
# the results table and the gallery present with 2 + queries x (k + 1) images, a screenshot holding
# the gallery's green and red frames. Negative checks: a deleted thumbnail is reported as broken,
# a run folder without metrics.jsonl exits 3, no gnuplot exits 2 and leaves the old report alone.
#
# usage: test_report.sh NSL_DIST_BINARY PNG_COLOURS_BINARY SCRATCH_DIR
# Needs chromium and gnuplot (launch/setup.sh installs both); fails, not skips, without them.
set -euo pipefail

die() {
  echo "test_report: FAIL: $*" >&2
  exit 1
}
[ $# -eq 3 ] || die "usage: $0 NSL_DIST_BINARY PNG_COLOURS_BINARY SCRATCH_DIR"
NSL=$(realpath "$1")
COLOURS=$(realpath "$2")
[ -x "$NSL" ] || die "no nsl_dist binary at $1"
[ -x "$COLOURS" ] || die "no png_colours helper at $2"
for tool in chromium gnuplot timeout; do
  command -v "$tool" >/dev/null || die "'$tool' not found: run launch/setup.sh"
done
START=$(date +%s)
mkdir -p "$3"
W=$(realpath "$3")/report.$$
rm -rf "$W"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT

QUERIES=12
K=8
IMAGES=$((2 + QUERIES * (K + 1)))

"$NSL" synth --out "$W/data" --classes 20 --images-per-class 8 --image-size 16 --shards 2 \
  --seed 3 >"$W/synth.log" 2>&1 || die "synth failed: $(cat "$W/synth.log")"
cat >"$W/config.yaml" <<YAML
seed: 1
data:
  path: $W/data
model:
  channels: [8]
  norm_groups: 4
  embedding_dim: 8
  scale: 16
train:
  epochs: 1
  batch_size: 16
  lr: 0.003
eval:
  batch_size: 64
YAML
"$NSL" train --config "$W/config.yaml" --set train.epochs=2 --out "$W/run" --quiet \
  >"$W/train.log" 2>&1 || die "train failed: $(cat "$W/train.log")"
[ "$(grep -c '"epoch"' "$W/run/metrics.jsonl")" -eq 3 ] || die "expected epochs 0-2 in metrics.jsonl"

"$NSL" report --run "$W/run" --queries $QUERIES --k $K >"$W/report.log" 2>&1 ||
  die "report failed: $(cat "$W/report.log")"
cat "$W/report.log"
R="$W/run/report"
for f in index.html loss.png recall.png curves.gp curves.dat; do
  [ -s "$R/$f" ] || die "report/$f missing or empty"
done
for left in "$W"/run/report.*; do
  [ -e "$left" ] && die "$(basename "$left") was left in the run folder"
done
THUMBS=$(find "$R/thumbs" -name '*.png' | wc -l)
[ "$THUMBS" -ge $((K + 1)) ] || die "only $THUMBS thumbnails written"

CHROME=(timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-background-networking
  --disable-dev-shm-usage --no-first-run --hide-scrollbars --user-data-dir="$W/chrome-profile"
  --virtual-time-budget=10000)
URL="file://$R/index.html"

# 1. The DOM after the load event: the page's image check, the tables, the gallery, every <img>.
"${CHROME[@]}" --dump-dom "$URL" >"$W/dom.html" 2>"$W/chrome.log" ||
  die "chromium --dump-dom failed: $(tail -5 "$W/chrome.log")"
grep -q "id=\"image-check\"[^>]*>all $IMAGES images loaded<" "$W/dom.html" ||
  die "image check does not say all $IMAGES images loaded: $(grep -o 'id="image-check"[^<]*' "$W/dom.html")"
grep -q 'id="results"' "$W/dom.html" || die "no results table"
grep -q 'id="epochs"' "$W/dom.html" || die "no per-epoch table"
grep -q 'id="gallery"' "$W/dom.html" || die "no gallery"
for col in 'R@1 (%)' 'R@8 (%)' 'MAP@R (%)' 'R-Precision (%)' 'NMI (%)' 'lone queries'; do
  grep -qF "<th>$col</th>" "$W/dom.html" || die "results table lacks the column '$col'"
done
NIMG=$(grep -o '<img ' "$W/dom.html" | wc -l)
[ "$NIMG" -eq "$IMAGES" ] || die "$NIMG <img> elements, expected 2 + $QUERIES x ($K + 1) = $IMAGES"
NFIG=$(grep -oE '<figure class="(hit|miss)"' "$W/dom.html" | wc -l)
[ "$NFIG" -eq $((QUERIES * K)) ] || die "$NFIG neighbour figures, expected $((QUERIES * K))"
# Each test class has 8 images, so the 8 neighbours of a query hold at least one other class.
grep -q '<figure class="miss"' "$W/dom.html" || die "no wrong neighbour framed in the gallery"

# 2. The screenshot: larger than a blank page, showing green and red frames.
"${CHROME[@]}" --screenshot="$W/shot.png" --window-size=1280,2000 "$URL" >>"$W/chrome.log" 2>&1 ||
  die "chromium --screenshot failed: $(tail -5 "$W/chrome.log")"
[ -s "$W/shot.png" ] || die "no screenshot written"
read -r SW SH GREEN RED INK < <("$COLOURS" "$W/shot.png")
echo "screenshot ${SW}x${SH}, $(stat -c %s "$W/shot.png") bytes: green $GREEN, red $RED, non-white $INK pixels"
if [ "$SW" -ne 1280 ] || [ "$SH" -ne 2000 ]; then die "screenshot is ${SW}x${SH}, not 1280x2000"; fi
[ "$INK" -gt 100000 ] || die "screenshot looks blank ($INK non-white pixels)"
[ "$GREEN" -gt 500 ] || die "no green frames in the screenshot ($GREEN pixels)"
[ "$RED" -gt 500 ] || die "no red frames in the screenshot ($RED pixels)"

# 3. The check can fail: a deleted thumbnail is reported as a broken image.
# sed, not head: head exits early, sort may then die of SIGPIPE and pipefail ends the script.
VICTIM=$(find "$R/thumbs" -name '*.png' | sort | sed -n 1p)
rm "$VICTIM"
"${CHROME[@]}" --dump-dom "$URL" >"$W/dom2.html" 2>>"$W/chrome.log" ||
  die "chromium --dump-dom (broken image) failed"
grep -q "id=\"image-check\"[^>]*>[0-9]* of $IMAGES images failed to load: [^<]*thumbs/$(basename "$VICTIM")" \
  "$W/dom2.html" ||
  die "a deleted thumbnail is not reported: $(grep -o 'id="image-check"[^<]*' "$W/dom2.html")"

# 4. Errors: no metrics.jsonl -> exit 3 saying what to do.
mkdir -p "$W/empty-run"
set +e
OUT=$("$NSL" report --run "$W/empty-run" 2>&1)
RC=$?
set -e
[ $RC -eq 3 ] || die "report on a folder without metrics.jsonl exited $RC, not 3: $OUT"
grep -q "has no metrics.jsonl: train first" <<<"$OUT" || die "unhelpful message: $OUT"

# 5. No gnuplot on PATH -> exit 2 naming it; the existing report stays as it was.
set +e
OUT=$(PATH=/nonexistent "$NSL" report --run "$W/run" 2>&1)
RC=$?
set -e
[ $RC -eq 2 ] || die "report without gnuplot exited $RC, not 2: $OUT"
grep -q "gnuplot-nox" <<<"$OUT" || die "the message does not say how to get gnuplot: $OUT"
[ -s "$R/index.html" ] || die "a failed report removed the previous one"

echo "test_report: PASS in $(($(date +%s) - START)) s"

#!/usr/bin/env bash
# Screenshots a self-contained report.html with headless Chromium (no network needed).
# Usage: scripts/screenshot_report.sh REPORT.html OUT.png [WIDTH] [HEIGHT]
# Needs chromium (Debian: apt-get install -y chromium); CHROMIUM=/path/to/binary overrides.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 REPORT.html OUT.png [WIDTH=1200] [HEIGHT=2400]" >&2
  exit 2
fi
report=$1 out=$2 width=${3:-1200} height=${4:-2400}
[[ -f $report ]] || { echo "$0: no such file: $report" >&2; exit 1; }
bin=${CHROMIUM:-}
if [[ -z $bin ]]; then
  for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then bin=$b; break; fi
  done
fi
[[ -n $bin ]] || { echo "$0: chromium not found (apt-get install -y chromium)" >&2; exit 1; }
abs_report=$(realpath "$report")
abs_out=$(realpath -m "$out")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$bin" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile" \
  --screenshot="$abs_out" --window-size="$width,$height" "file://$abs_report" >/dev/null 2>&1 || {
  echo "$0: chromium failed" >&2
  exit 1
}
[[ -s $abs_out ]] || { echo "$0: no screenshot written" >&2; exit 1; }
echo "$abs_out"

#!/usr/bin/env bash
# Checks that a pilot's report.html renders in a real browser: headless Chromium loads it from disk with the network
# off, its DOM must hold the report's title and summary, and a screenshot is written (default: beside the report,
# report-screenshot.png) that must not be blank. The report must reference nothing outside itself.
#   scripts/check-report-html.sh OUT/report.html [SHOT.png]
# Exit 0: renders; 1: does not; 3: no Chromium here (apt-get install -y chromium).
set -euo pipefail
html=${1:?usage: scripts/check-report-html.sh REPORT.html [SHOT.png]}
shot=${2:-$(dirname "$html")/report-screenshot.png}
[ -f "$html" ] || { echo "check-report-html: $html not found" >&2; exit 1; }
chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$chrome" ] || { echo "check-report-html: chromium not found (apt-get install -y chromium)" >&2; exit 3; }

# self-contained: every src/href is inline data or a fragment; no script or stylesheet links, no @import
if grep -Eo '(src|href)="[^"]*"' "$html" | grep -Ev '="(data:|#)' >&2; then
  echo "check-report-html: $html references files outside itself (above)" >&2; exit 1
fi
if grep -Eiq '<script|<link |@import|url\(' "$html"; then echo "check-report-html: $html has scripts or external styles" >&2; exit 1; fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$profile")
url="file://$(realpath "$html")"
dom=$(timeout 120 "$chrome" "${flags[@]}" --dump-dom "$url" 2>/dev/null || true)
grep -q '<h1>Cosine against softmax' <<<"$dom" || { echo "check-report-html: Chromium did not render the report's title" >&2; exit 1; }
grep -q 'class="summary"' <<<"$dom" || { echo "check-report-html: no summary in the rendered page" >&2; exit 1; }
rm -f "$shot"
timeout 120 "$chrome" "${flags[@]}" --screenshot="$shot" --window-size=1280,2000 "$url" >/dev/null 2>&1 || true
[ -s "$shot" ] || { echo "check-report-html: Chromium wrote no screenshot" >&2; exit 1; }
# a blank 1280x2000 page compresses to a few KB; the report's text, tables and charts make it far larger
size=$(stat -c %s "$shot")
[ "$size" -gt 40000 ] || { echo "check-report-html: the screenshot ($size bytes) looks blank" >&2; exit 1; }
echo "check-report-html: $html renders; screenshot $shot ($size bytes)"

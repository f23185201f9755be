#!/usr/bin/env bash
# Compare palisade-harden's Level 1 scan with Lynis and OpenSCAP (CIS Ubuntu
# 22.04 Level 1 Server) on the same root directory, in one run.
#
# Needs: lynis, openscap-scanner, openscap-utils (oscap-chroot), ssg-debderived,
# time (installed with apt-get when missing).
#
# Usage (as root, from the repository top):
#   bench/harden/compare.sh ROOT [OUTDIR]
# ROOT is a debootstrap root (see .ci/harden-root). Results: OUTDIR/summary.txt,
# OUTDIR/ours.json, OUTDIR/oscap-results.xml, OUTDIR/lynis.log, OUTDIR/*.time.
#
# Notes:
# - ours: release build of the `harden` example, median wall time of $RUNS runs,
#   peak RSS from one `/usr/bin/time -v` run;
# - OpenSCAP runs a copy of the Ubuntu 22.04 datastream with the benchmark-level
#   Ubuntu platform removed (otherwise nothing applies on Debian);
# - OpenSCAP scans a read-only bind mount of ROOT (oscap-chroot writes into the
#   root it scans); its Debian package ships CIS content for Ubuntu 22.04 only;
# - Lynis `--rootdir` needs the trailing slash and still reads parts of the
#   live host (kernel, processes, network).
set -euo pipefail

root="${1:?usage: $0 ROOT [OUTDIR]}"
root="$(cd "$root" && pwd)"
out="${2:-/tmp/harden-bench}"
runs="${RUNS:-9}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$here/target}"
ds=/usr/share/xml/scap/ssg/content/ssg-ubuntu2204-ds.xml
profile=xccdf_org.ssgproject.content_profile_cis_level1_server
mkdir -p "$out"

need=()
command -v lynis >/dev/null || need+=(lynis)
command -v oscap >/dev/null || need+=(openscap-scanner)
command -v oscap-chroot >/dev/null || need+=(openscap-utils)
[[ -f "$ds" ]] || need+=(ssg-debderived)
[[ -x /usr/bin/time ]] || need+=(time)
if ((${#need[@]})); then
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${need[@]}"
fi

(cd "$here/crates/palisade-harden" && CARGO_TARGET_DIR="$target" cargo build --release --example harden -q)
bin="$target/release/examples/harden"

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
rss() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }

# --- ours -----------------------------------------------------------------
times=()
for _ in $(seq "$runs"); do
  t0=$(date +%s%N)
  "$bin" scan --root "$root" --profile level1 --output json >"$out/ours.json" || true
  times+=("$(( ($(date +%s%N) - t0) / 1000 ))")
done
ours_us=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
/usr/bin/time -v "$bin" scan --root "$root" --profile level1 --output json >/dev/null 2>"$out/ours.time" || true
ours_rss=$(rss "$out/ours.time")

# --- OpenSCAP ---------------------------------------------------------------
# The content is for Ubuntu 22.04: its benchmark-level platform (the Ubuntu CPE)
# would make every rule "notapplicable" on Debian 12. A copy without that one
# element lets the rules run; rule-level platforms (#machine, #pam, …) stay.
ds_any="$out/ssg-ubuntu2204-ds-anyos.xml"
grep -v '<xccdf-1.2:platform idref="cpe:/o:canonical:ubuntu_linux:22.04::~~lts~~~"/>' "$ds" >"$ds_any"
ro="$out/ro-root"
mkdir -p "$ro"
mountpoint -q "$ro" && umount "$ro"
mount --bind "$root" "$ro"
mount -o remount,bind,ro "$ro"
trap 'umount "$ro" 2>/dev/null || true' EXIT
t0=$(date +%s%N)
/usr/bin/time -v timeout 3600 oscap-chroot "$ro" xccdf eval --profile "$profile" \
  --results "$out/oscap-results.xml" "$ds_any" >"$out/oscap.out" 2>"$out/oscap.time" || true
oscap_ms=$(ms "$t0")
oscap_rss=$(rss "$out/oscap.time")
umount "$ro"
trap - EXIT

# --- Lynis ------------------------------------------------------------------
t0=$(date +%s%N)
/usr/bin/time -v timeout 3600 lynis audit system --rootdir "$root/" --no-colors --quick \
  --logfile "$out/lynis.log" --report-file "$out/lynis-report.dat" >"$out/lynis.out" 2>"$out/lynis.time" || true
lynis_ms=$(ms "$t0")
lynis_rss=$(rss "$out/lynis.time")

# --- counts -----------------------------------------------------------------
ours_counts=$(python3 "$here/bench/harden/verdicts.py" ours-counts "$out/ours.json")
oscap_counts=$(python3 "$here/bench/harden/verdicts.py" oscap-counts "$out/oscap-results.xml" || echo "no results")
lynis_counts=$(grep -E "Tests performed|Hardening index" "$out/lynis.out" | sed 's/\x1b\[[0-9;]*m//g' | tr -s ' ' | paste -sd';' || true)
python3 "$here/bench/harden/verdicts.py" diff "$out/ours.json" "$out/oscap-results.xml" >"$out/verdict-diff.txt" || true
python3 "$here/bench/harden/verdicts.py" categories "$out/ours.json" "$out/oscap-results.xml" "$out/lynis.log" >"$out/categories.txt" || true

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: nproc=$(nproc); $(free -h | awk '/Mem:/ {print "mem total " $2 ", available " $7}')"
  echo "root: $root ($(du -sh "$root" 2>/dev/null | cut -f1), $(find "$root" -xdev | wc -l) entries)"
  echo "ours: median ${ours_us} us over $runs runs (all: ${times[*]}); peak RSS ${ours_rss} KiB; $ours_counts"
  echo "oscap: ${oscap_ms} ms; peak RSS ${oscap_rss} KiB; $oscap_counts"
  echo "lynis: ${lynis_ms} ms; peak RSS ${lynis_rss} KiB; $lynis_counts"
  python3 -c '
import sys
ours=float(sys.argv[1])/1000; o=float(sys.argv[2]); l=float(sys.argv[3])
print(f"ratio: OpenSCAP/ours = {o/ours:.0f}x (target >=100x); Lynis/ours = {l/ours:.0f}x (target >=400x)")' "$ours_us" "$oscap_ms" "$lynis_ms"
} | tee "$out/summary.txt"

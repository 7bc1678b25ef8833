#!/usr/bin/env bash
# make scale-gap: where 10,000 NodeManagers spend the time that 1,000 doing the same
# heartbeats do not. Both runs make the same 6 M heartbeats (10,000 NMs x S simulated seconds,
# 1,000 x 10 S; S = SCALE_GAP_SECS, default 600) with the same instructions within 3 %, so
# what the bigger one spends more, instruction by instruction, is time waiting on memory:
# 1,000 nodes' records fit a core's own caches, 10,000 do not. perf samples both on the
# CPU clock (this machine's perf has no hardware counters) and the samples are put back on
# our source with their inline chains. Prints to stdout and target/profile/scale-gap.txt:
#   - the machine's memory now, as one process sees it (scripts/memprobe.rs);
#   - both runs' wall times and samples;
#   - the instructions and source lines with the most samples over the small run's.
# A sample lands on the instruction that was waiting (give or take one): for a load, the
# load or the next instruction; for a prefetch that found every fill buffer taken, the
# prefetch. Needs perf and binutils (installed with apt-get when missing and we are root),
# and builds the simulation build with line tables (target/sim-lines, ~7 minutes) unless
# SCALE_GAP_BIN names a yarn-sim built with line tables.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SCALE_GAP_SECS:-600}
OUT=target/profile
mkdir -p "$OUT"

. scripts/lib.sh
need perf linux-perf scale-gap
need addr2line binutils scale-gap
[ "$(id -u)" = 0 ] && echo -1 > /proc/sys/kernel/perf_event_paranoid 2>/dev/null || true

BIN=${SCALE_GAP_BIN:-}
if [ -z "$BIN" ]; then
  SIM_BUILD_DIR=target/sim-lines SIM_BUILD_LINE_TABLES=1 ./scripts/sim-build.sh
  BIN=target/sim-lines/release/yarn-sim
fi
BIN=$(realpath "$BIN")

# No GLIBC_TUNABLES here: `simulate` runs itself again with glibc's huge-page tunable and
# checks that it took (yarn-sim.rs, `huge_pages_for_the_heap`); one set by the caller is used
# as it is, unchecked.

{
  echo "scale-gap: $BIN"
  echo "memory now: $(memprobe)"
  for run in "10000 $SECS" "1000 $((SECS * 10))"; do
    read -r n s <<<"$run"
    perf record -q -e cpu-clock -F 10000 -o "$OUT/scale-$n.data" "$BIN" simulate --nodes "$n" --apps 0 --duration-secs "$s" 2>/dev/null |
      sed -n "s/^wall time: /$n NodeManagers x $s s: wall /p"
  done
  python3 - "$BIN" "$OUT/scale-1000.data" "$OUT/scale-10000.data" <<'EOF'
import collections, re, subprocess, sys

binary, small, big = sys.argv[1:4]

def text_segment():
    out = subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD" and "E" in f[6:-1]:
            return int(f[1], 16), int(f[2], 16)
    raise SystemExit("scale-gap: no executable segment in " + binary)

seg_off, seg_vaddr = text_segment()

def samples(data):
    """Samples per instruction address of the binary (as in the file), and the total."""
    # One pass: the binary's mapping comes before its samples (one process per run).
    out = subprocess.run(["perf", "script", "-i", data, "-F", "ip", "--show-mmap-events"], capture_output=True, text=True).stdout
    counts, total, where = collections.Counter(), 0, None
    for line in out.splitlines():
        if "PERF_RECORD_MMAP" in line:
            m = re.search(r"\[(0x[0-9a-f]+)\((0x[0-9a-f]+)\) @ (0x[0-9a-f]+) [^\]]*\]: r-xp (\S+)", line)
            if m and m.group(4) == binary:
                where = tuple(int(m.group(i), 16) for i in (1, 2, 3))
            continue
        ip = int(line, 16)
        total += 1
        if where and where[0] <= ip < where[0] + where[1]:
            counts[ip - where[0] + where[2] - seg_off + seg_vaddr] += 1
    if where is None:
        raise SystemExit("scale-gap: no mapping of " + binary + " in " + data)
    return counts, total

a, ta = samples(small)
b, tb = samples(big)
extra = tb - ta
print(f"samples: {tb} (10,000 NodeManagers), {ta} (1,000): {extra} more, {100 * extra / max(tb, 1):.0f} % of the big run")
diff = {k: b.get(k, 0) - a.get(k, 0) for k in set(a) | set(b)}
top = sorted(diff, key=lambda k: -diff[k])[:400]
out = subprocess.run(["addr2line", "-a", "-i", "-e", binary] + [hex(k) for k in top], capture_output=True, text=True).stdout
chains, cur = {}, None
for line in out.splitlines():
    if line.startswith("0x"):
        cur = int(line, 16)
        chains[cur] = []
    elif cur is not None and "/src/" in line and "/rustc/" not in line and "/.cargo/" not in line:
        chains[cur].append(line.split(" (")[0].split("/src/", 1)[0].rsplit("/", 1)[-1] + "/src/" + line.split("/src/", 1)[1].split(" ")[0])
print("\ninstructions with the most samples over the 1,000-node run (share of the extra; samples big/small; our source, innermost first):")
for k in top[:20]:
    print(f"  {100 * diff[k] / max(extra, 1):5.1f} %  {b.get(k, 0):6d} {a.get(k, 0):6d}  {k:#x}  {' <- '.join(chains.get(k, [])[:6]) or '(not our source)'}")
by_line = collections.Counter()
for k in top:
    c = chains.get(k, [])
    by_line[c[0] if c else "(not our source)"] += diff[k]
print("\nby innermost source line of ours:")
for line, d in by_line.most_common(12):
    print(f"  {100 * d / max(extra, 1):5.1f} %  {line}")
EOF
} | tee "$OUT/scale-gap.txt"

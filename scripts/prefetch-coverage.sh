#!/usr/bin/env bash
# make prefetch-coverage: which cache lines a steady-state heartbeat of 10,000 NodeManagers
# reads from memory, and whether a prefetch asked for each one first.
#
# valgrind's cache models ignore prefetch instructions, so a plain cachegrind run counts a
# prefetched line as a miss at its use. This builds yarn-sim with `--cfg prefetch_as_load`
# (engine::prefetch becomes a real load, see engine/src/lib.rs), runs callgrind's cache model
# on 20 and 40 simulated seconds and takes the difference over the 200,000 heartbeats between,
# per instruction. Each miss is then either
#   - prefetched: the line a prefetch site asked for (listed by site), or
#   - demand: a read no prefetch covered, which the core waits for (listed by instruction,
#     with its inline chain back to our source).
# The model's last level defaults to one core's L2 here (1.25 MiB, 20 ways); PREFETCH_LL
# overrides it (valgrind's --LL=size,ways,line). Needs valgrind and addr2line (binutils):
# installed with apt-get when missing and we are root. Takes about five minutes;
# PREFETCH_ANALYZE_ONLY=1 reads the last run's callgrind files again instead.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/prefetch-coverage
LL=${PREFETCH_LL:-1310720,20,64}
BIN=$OUT/build/release/yarn-sim
mkdir -p "$OUT"

. scripts/lib.sh
need valgrind valgrind prefetch-coverage
need addr2line binutils prefetch-coverage
need objdump binutils prefetch-coverage

if [ -z "${PREFETCH_ANALYZE_ONLY:-}" ]; then
echo "prefetch-coverage: building yarn-sim with prefetches as loads ($OUT/build)"
CARGO_PROFILE_RELEASE_STRIP=none RUSTFLAGS="--cfg prefetch_as_load -Cdebuginfo=line-tables-only" \
  cargo build --quiet --release -p yarn-sim --bin yarn-sim --target-dir "$OUT/build"

for secs in 20 40; do
  echo "prefetch-coverage: callgrind, 10,000 NodeManagers for $secs simulated seconds"
  # The huge-page tunable is set so the binary does not run itself again out of valgrind's sight.
  GLIBC_TUNABLES=glibc.malloc.hugetlb=0 valgrind --tool=callgrind --cache-sim=yes --D1=49152,12,64 --LL="$LL" \
    --dump-instr=yes --callgrind-out-file="$OUT/callgrind-$secs.out" \
    "$BIN" simulate --nodes 10000 --apps 0 --duration-secs "$secs" >/dev/null 2>&1 &
done
wait
fi

python3 - "$OUT/callgrind-20.out" "$OUT/callgrind-40.out" "$BIN" "$LL" <<'EOF'
import collections, re, subprocess, sys

HEARTBEATS = 200_000  # 10,000 NodeManagers x (40 s - 20 s)

def load(path):
    """Per instruction address in yarn-sim: (instructions, last-level read misses)."""
    costs = collections.defaultdict(lambda: [0, 0])
    names, obj, events, last, skip = {}, None, [], 0, False
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("events:"):
            events = line.split()[1:]
            continue
        if not line:
            continue
        if line[0].isdigit() or line[0] in "+-*":
            parts = line.split()
            a = parts[0]
            addr = last if a == "*" else last + int(a[1:]) if a[0] == "+" else last - int(a[1:]) if a[0] == "-" else int(a, 16)
            last = addr
            if skip:  # the inclusive cost of a call: not this instruction's own
                skip = False
                continue
            if obj and obj.endswith("yarn-sim"):
                vals = dict(zip(events, map(int, parts[2:])))
                c = costs[addr]
                c[0] += vals.get("Ir", 0)
                c[1] += vals.get("DLmr", 0)
            continue
        key, _, value = line.partition("=")
        if key in ("ob", "cob"):
            m = re.match(r"\((\d+)\)(?: (.*))?", value)
            if m.group(2):
                names[m.group(1)] = m.group(2)
            if key == "ob":
                obj = names.get(m.group(1))
        elif key == "calls":
            skip = True
    return costs

a, b = load(sys.argv[1]), load(sys.argv[2])
per_hb = {k: ((v[0] - a[k][0]) / HEARTBEATS, (v[1] - a[k][1]) / HEARTBEATS) for k, v in b.items()}
instructions = sum(v[0] for v in per_hb.values())
missing = {k: v[1] for k, v in per_hb.items() if v[1] > 0.005}

out = subprocess.run(["addr2line", "-a", "-i", "-f", "-C", "-e", sys.argv[3]] + [hex(k) for k in missing],
                     capture_output=True, text=True, check=True).stdout.splitlines()
chains, cur = {}, None
i = 0
while i < len(out):
    if out[i].startswith("0x"):
        cur = int(out[i], 16)
        chains[cur] = []
        i += 1
    else:
        chains[cur].append((out[i], out[i + 1]))
        i += 2

def ours(loc):
    loc = loc.split(" ")[0]
    return loc.split("/work/main/")[-1] if "/rustc/" not in loc else None

# The load of each prefetch is the instruction just before the one that folds its byte into
# engine's SINK: found in the disassembly too, since inlining can leave such a load with no
# line of engine/src/lib.rs in its debug info.
sink_loads, prev = set(), None
dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", sys.argv[3]], capture_output=True, text=True, check=True).stdout
for row in dis.splitlines():
    m = re.match(r"\s*([0-9a-f]+):\s", row)
    if not m:
        continue
    if "prefetch_coverage4SINK" in row and prev is not None:
        sink_loads.add(prev)
    prev = int(m.group(1), 16)

prefetched, demand = collections.Counter(), collections.Counter()
for addr, lines in missing.items():
    # addr2line -i: innermost first; each location lies in the function named beside it,
    # except the first, which lies in an inlined function it does not name (the first name is
    # the symbol's).
    frames = chains.get(addr, [])
    locs = [ours(l) for _, l in frames]
    within = [frames[i][0].split("<")[0] if i else "" for i in range(len(frames))]
    where = [f"{within[i]} ({locs[i]})".strip() for i in range(len(frames)) if locs[i]]
    lib = [i for i, l in enumerate(locs) if l and l.startswith("engine/src/lib.rs")]
    if not lib and addr in sink_loads:
        prefetched[(" in ".join(where[:2]) or "?") + "  [a prefetch, by its code]"] += lines
    elif lib:
        # The site: the two frames of our code around the call into engine::prefetch.
        site = [f"{within[i]} ({locs[i]})" for i in range(lib[-1] + 1, len(frames)) if locs[i]][:2]
        prefetched[" in ".join(site) or "?"] += lines
    else:
        leaf = frames[0][1].split("/library/")[-1].split(" ")[0] if frames and "/rustc/" in frames[0][1] else ""
        demand[f"{hex(addr)} " + (" in ".join(where[:3]) or "?") + (f"  [std {leaf}]" if leaf else "")] += lines

total_p, total_d = sum(prefetched.values()), sum(demand.values())
print(f"\nper steady-state heartbeat, 10,000 NodeManagers (last level modelled as --LL={sys.argv[4]}):")
print(f"  instructions: {instructions:,.0f}")
print(f"  lines read from memory: {total_p + total_d:.2f}, of which asked for by a prefetch first: {total_p:.2f}, demand misses: {total_d:.2f}")
print("\nprefetched lines by site:")
for k, v in prefetched.most_common(20):
    print(f"  {v:5.2f}  {k}")
print("\ndemand misses (what the core waits for) by instruction:")
for k, v in demand.most_common(20):
    if v >= 0.02:
        print(f"  {v:5.2f}  {k}")
EOF

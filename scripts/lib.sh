# Shell helpers the diagnostic scripts share; sourced, not run. The caller has cd'd to the
# repository root.

# need COMMAND PACKAGE WHO: COMMAND is on the PATH, or PACKAGE is installed with apt-get (when
# we are root and have it); otherwise WHO says so and the script exits.
need() {
  "$1" --version >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q "$2" >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$2" >/dev/null)
  else
    echo "$3: $1 is missing and cannot be installed here (not root, or no apt-get)" >&2
    exit 1
  fi
}

# probe_bin NAME: target/NAME, built from scripts/NAME.rs with plain rustc (the probes need no
# crates) when the binary is missing or older than its source.
probe_bin() {
  [ "target/$1" -nt "scripts/$1.rs" ] || { mkdir -p target && rustc -C opt-level=3 -o "target/$1" "scripts/$1.rs"; }
}

# memprobe: prints scripts/memprobe.rs's reading of the caches now, on huge pages as the
# simulator's heap is (the probe asks for them itself).
memprobe() {
  probe_bin memprobe
  target/memprobe
}

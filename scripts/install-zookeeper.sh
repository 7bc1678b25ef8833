#!/usr/bin/env bash
# Installs Debian's `zookeeper` package (a real Apache ZooKeeper server) for the live HA
# tests and `yarn-sim start --zookeeper`. Idempotent: does nothing when it is there. Without
# root or apt-get it says why the live ZooKeeper tests will skip, and exits 0 either way (the
# tests themselves print that they skip).
set -u
jar_present() { ls /usr/share/java/zookeeper*.jar >/dev/null 2>&1 || ls /usr/share/zookeeper/lib/*.jar >/dev/null 2>&1; }
if jar_present && command -v java >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "zookeeper: not installed and not root; the live ZooKeeper HA tests will skip"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "zookeeper: not installed and apt-get unavailable; the live ZooKeeper HA tests will skip"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# The package's own service is not wanted (yarn-sim runs the server itself), so policy-rc.d
# keeps the maintainer scripts from starting it where invoke-rc.d is used.
install() { apt-get install -y -q --no-install-recommends zookeeper >/dev/null 2>&1; }
if ! install; then
  apt-get update -q >/dev/null 2>&1 && install
fi
if jar_present; then
  command -v java >/dev/null 2>&1 || echo "zookeeper: installed, but no java on PATH; the live ZooKeeper HA tests will skip"
  exit 0
fi
echo "zookeeper: apt-get install zookeeper failed; the live ZooKeeper HA tests will skip"
exit 0

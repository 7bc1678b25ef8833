#!/usr/bin/env bash
# An Apache Flink distribution assembled from PyPI (apache-flink + apache-flink-libraries, ~250 MB
# per version, downloaded once into target/flink-dist/<version>/home), for the scripts that run
# real Flink next to ours: flink-cli-compat.sh (the real CLI) and bench-flink-real.sh (a
# standalone cluster). usage: flink-dist.sh VERSION; prints the distribution's FLINK_HOME.
set -euo pipefail
cd "$(dirname "$0")/.."
VER=${1:?usage: flink-dist.sh VERSION}
DIST=target/flink-dist/$VER
if [ ! -x "$DIST/home/bin/flink" ]; then
  rm -rf "$DIST"; mkdir -p "$DIST/dl" "$DIST/ex" "$DIST/home"
  python3 -m pip download --no-deps -q -d "$DIST/dl" "apache-flink==$VER" "apache-flink-libraries==$VER" >&2
  (cd "$DIST/ex" && python3 -m zipfile -e ../dl/apache_flink-$VER-*.whl .)
  cp -r "$DIST/ex/pyflink/bin" "$DIST/ex/pyflink/conf" "$DIST/home/"
  # 1.x ships the jars as an sdist (deps/lib, deps/bin), 2.x as a wheel (pyflink/lib, pyflink/bin).
  if [ -f "$DIST/dl/apache-flink-libraries-$VER.tar.gz" ]; then
    (cd "$DIST/ex" && tar xzf ../dl/apache-flink-libraries-$VER.tar.gz)
    cp -r "$DIST/ex/apache-flink-libraries-$VER/deps/lib" "$DIST/home/lib"
    cp -r "$DIST/ex/apache-flink-libraries-$VER/deps/bin/." "$DIST/home/bin/"
  else
    mkdir -p "$DIST/lib-ex"
    (cd "$DIST/lib-ex" && python3 -m zipfile -e ../dl/apache_flink_libraries-$VER-*.whl .)
    cp -r "$DIST/lib-ex/pyflink/lib" "$DIST/home/lib"
    cp -r "$DIST/lib-ex/pyflink/bin/." "$DIST/home/bin/"
    rm -rf "$DIST/lib-ex"
  fi
  mkdir -p "$DIST/home/plugins" "$DIST/home/log"
  chmod +x "$DIST/home/bin/"*
fi
echo "$PWD/$DIST/home"

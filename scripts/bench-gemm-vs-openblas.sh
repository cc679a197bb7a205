#!/usr/bin/env bash
# Builds the benchmark jar (Maven profile jmh) and compares our sgemm with OpenBLAS's at SIZE^3 (default 1024) for
# 1 and 2 threads: GFLOPS of both (median of alternating timed rounds) and the ratio ours/OpenBLAS.
#   scripts/bench-gemm-vs-openblas.sh [SIZE] [THREADS=1,2] [ROUNDS=15]      (needs: apt-get install libopenblas0-pthread)
#   scripts/bench-gemm-vs-openblas.sh --jmh [JMH args...]                    (the full JMH suite GemmBenchmark instead)
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which may be set on this machine to force a conservative kernel, are unset
# for the benchmark command only, so OpenBLAS runs its best kernel for this CPU (printed as "OpenBLAS core").
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/jdk.sh"
find_jdk25
cd "$root"
jar=core/target/benchmarks.jar
if [ ! -f "$jar" ] || [ -n "$(find pom.xml core/pom.xml core/src/main core/src/jmh -newer "$jar" -print -quit)" ]; then
  echo "building $jar ..." >&2
  mvn -q -B -Pjmh -DskipTests package -pl core >&2
fi
echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-<unset>} (both unset for the run)" >&2
java=("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC ${GEMM_JAVA_OPTS:-})
if [ "${1:-}" = "--jmh" ]; then
  shift
  exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${java[@]}" -jar "$jar" GemmBenchmark "$@"
fi
size=${1:-1024}
threads=${2:-1,2}
rounds=${3:-15}
# OpenBLAS's own thread count is set per measurement (openblas_set_num_threads); the env sets its pool size.
max_threads=$(tr ',' '\n' <<<"$threads" | sort -n | tail -1)
exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$max_threads" \
  "${java[@]}" -cp "$jar" org.cottention.jmh.GemmVsOpenBlas "$size" "$threads" "$rounds"

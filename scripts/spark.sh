#!/usr/bin/env bash
# `./cottention spark ...`: runs org.cottention.spark.SparkJob with Spark from the Maven repository (the spark module's
# `provided` dependencies) in one JVM: local[*] unless --master says otherwise. Builds spark/target once (and again
# when a pom or the core/spark sources change) and caches the class path and Spark's own JVM options there, so later
# runs start without Maven. On a cluster, submit spark/target/cottention-spark.jar with spark-submit instead.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/jdk.sh"
find_jdk25
t="$root/spark/target"
cp_file="$t/launch-classpath.txt" opts_file="$t/launch-jvm-options.txt"
if [ ! -f "$cp_file" ] || [ ! -f "$opts_file" ] \
   || [ -n "$(find "$root"/pom.xml "$root"/core/pom.xml "$root"/spark/pom.xml "$root"/core/src/main "$root"/spark/src/main "$root"/spark/conf -newer "$cp_file" -print -quit 2>/dev/null)" ]; then
  echo "cottention spark: building the spark module and its class path (the first time downloads Spark) ..." >&2
  (cd "$root" && mvn -q -B -DskipTests package dependency:build-classpath -pl spark -am \
     -DincludeScope=compile -Dmdep.outputFile=target/launch-deps.txt >&2) || { echo "cottention spark: build failed" >&2; exit 1; }
  printf "%s:%s" "$t/classes" "$(cat "$t/launch-deps.txt")" > "$t/launch-classpath.tmp"
  # Spark's own list of --add-opens and flags for this JDK (what spark-submit would pass)
  "$JAVA_HOME/bin/java" -cp "$(cat "$t/launch-classpath.tmp")" org.cottention.spark.SparkJvmOptions > "$opts_file"
  mv "$t/launch-classpath.tmp" "$cp_file"
fi
exec "$JAVA_HOME/bin/java" $(cat "$opts_file") -XX:+UseParallelGC \
  -Dlog4j2.configurationFile="$root/spark/conf/log4j2.properties" ${COTTENTION_JAVA_OPTS:-} \
  -cp "$(cat "$cp_file")" org.cottention.spark.SparkJob "$@"

# Sourced by ./cottention and ./run-tests: sets JAVA_HOME to a JDK >= 25.
# Order: $JAVA_HOME if it is >= 25, else the newest JDK >= 25 under /usr/lib/jvm.

_java_major() {  # prints the feature version of the JDK at $1, or nothing
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 0
  "$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}

find_jdk25() {
  if [ -n "${JAVA_HOME:-}" ]; then
    v=$(_java_major "$JAVA_HOME")
    if [ -n "$v" ] && [ "$v" -ge 25 ]; then return 0; fi
  fi
  best="" bestv=0
  for d in /usr/lib/jvm/*/; do
    d=${d%/}
    [ -L "$d" ] && continue
    v=$(_java_major "$d")
    if [ -n "$v" ] && [ "$v" -ge 25 ] && [ "$v" -gt "$bestv" ]; then best=$d bestv=$v; fi
  done
  if [ -z "$best" ]; then
    echo "cottention: needs a JDK 25 or newer (with javac), and found none." >&2
    echo "  Set JAVA_HOME to one, or install one under /usr/lib/jvm, e.g. 'apt-get install temurin-25-jdk'" >&2
    echo "  (Adoptium apt repository) or unpack https://adoptium.net's JDK 25 there." >&2
    return 1
  fi
  export JAVA_HOME=$best
}

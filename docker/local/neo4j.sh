#!/usr/bin/env bash
# Neo4j Community for local development and tests, without Docker.
#
#   docker/local/neo4j.sh start    resolve jars (first time only), start, wait for Bolt
#   docker/local/neo4j.sh stop     SIGTERM, wait up to 60 s, then SIGKILL (idempotent)
#   docker/local/neo4j.sh status   exit 0 when Bolt answers a query, else 1
#   docker/local/neo4j.sh clean    stop and delete all Neo4j data and logs
#
# Neo4j (embedded, with its Bolt server) is resolved from Maven Central with mvn
# (docker/local/neo4j/pom.xml) and run by docker/local/neo4j/Launcher.java,
# compiled once into the cache (or source-launched when there is no javac).
# See docker/local/README.md.
#
# Environment (defaults in brackets):
#   NEO4J_BOLT_PORT [7687]   NEO4J_BOLT_HOST [127.0.0.1]
#   NEO4J_PASSWORD [lineage-local]  (user is always `neo4j`; >= 8 characters)
#   NEO4J_HEAP [1g]   NEO4J_PAGECACHE [256m]   NEO4J_START_TIMEOUT [120] (seconds)
#   NEO4J_JAVA [$JAVA_HOME/bin/java, else java; 17 or 21]   NEO4J_JAVA_OPTS [] extra JVM flags
#   LINEAGE_CACHE_DIR [$REPO/.cache]          jars and Maven repository
#   LINEAGE_STATE_DIR [$REPO/.local-services] data, logs, pid under neo4j/
#   LINEAGE_PYTHON [$REPO/.venv/bin/python]   needs the `neo4j` driver (readiness probe)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${LINEAGE_CACHE_DIR:-$REPO/.cache}
STATE_ROOT=${LINEAGE_STATE_DIR:-$REPO/.local-services}
STATE=$STATE_ROOT/neo4j

SRC=$REPO/docker/local/neo4j
POM=$SRC/pom.xml
LAUNCHER=$SRC/Launcher.java
JARS=$CACHE/neo4j-jars
M2=$CACHE/m2
STAMP=$JARS/.resolved
CLASSES=$CACHE/neo4j-launcher   # Launcher.class, compiled once per Launcher.java/jars

HOME_DIR=$STATE/home          # NEO4J_HOME: data/ and logs/ (debug.log, ...)
PID_FILE=$STATE/neo4j.pid
OUT_LOG=$STATE/launcher.log   # stdout/stderr of the JVM
DEBUG_LOG_SKIP=0              # debug.log lines from earlier runs (not shown on failure)

export NEO4J_BOLT_HOST=${NEO4J_BOLT_HOST:-127.0.0.1}
export NEO4J_BOLT_PORT=${NEO4J_BOLT_PORT:-7687}
export NEO4J_PASSWORD=${NEO4J_PASSWORD:-lineage-local}
export NEO4J_PAGECACHE=${NEO4J_PAGECACHE:-256m}
NEO4J_HEAP=${NEO4J_HEAP:-1g}
NEO4J_START_TIMEOUT=${NEO4J_START_TIMEOUT:-120}
if [[ -n ${NEO4J_JAVA:-} ]]; then
  JAVA=$NEO4J_JAVA
elif [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
  JAVA=$JAVA_HOME/bin/java
else
  JAVA=java
fi
PYTHON=${LINEAGE_PYTHON:-$REPO/.venv/bin/python}
URI="bolt://$NEO4J_BOLT_HOST:$NEO4J_BOLT_PORT"

log() { echo "neo4j: $*" >&2; }
die() { echo "neo4j: error: $*" >&2; exit 1; }

# --- helpers -----------------------------------------------------------------

pid_alive() {  # pid from the pid file, if that process is our launcher
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- '-Dlineage.service=neo4j' || return 1
  echo "$pid"
}

# One Bolt round trip: verify_connectivity + `RETURN 1` on database neo4j.
# Exit 0 answered, 3 authentication failed, 1 anything else.
probe() {
  [[ -x $PYTHON ]] || die "no Python at $PYTHON (set LINEAGE_PYTHON to one with the neo4j driver)"
  NEO4J_URI=$URI "$PYTHON" - <<'PY'
import os, sys
try:
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError
except ImportError:
    print("neo4j: error: the Python `neo4j` driver is not installed", file=sys.stderr)
    sys.exit(1)
try:
    with GraphDatabase.driver(os.environ["NEO4J_URI"],
                              auth=("neo4j", os.environ["NEO4J_PASSWORD"]),
                              connection_timeout=3, max_transaction_retry_time=0) as d:
        d.verify_connectivity()
        d.execute_query("RETURN 1", database_="neo4j")
except AuthError:
    sys.exit(3)
except Exception:
    sys.exit(1)
PY
}

port_in_use() {
  "$PYTHON" - "$NEO4J_BOLT_HOST" "$NEO4J_BOLT_PORT" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1)
sys.exit(0 if s.connect_ex((sys.argv[1], int(sys.argv[2]))) == 0 else 1)
PY
}

java_major() {
  "$JAVA" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = //p' | head -n1
}

show_logs() {
  if [[ -f $OUT_LOG ]]; then
    echo "----- $OUT_LOG (tail) -----" >&2
    tail -n 40 "$OUT_LOG" >&2 || true
  fi
  if [[ -f $HOME_DIR/logs/debug.log ]]; then
    echo "----- $HOME_DIR/logs/debug.log (errors, tail) -----" >&2
    tail -n "+$((DEBUG_LOG_SKIP + 1))" "$HOME_DIR/logs/debug.log" | grep -E ' (ERROR|WARN) ' |
      tail -n 20 >&2 || true
  fi
}

# Resolve Neo4j's jars from Maven Central unless already done for this pom.xml.
resolve() {
  local want
  want=$(sha256sum "$POM" | cut -d' ' -f1)
  if [[ -f $STAMP && $(cat "$STAMP") == "$want" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.neo4j-jars.lock"
  flock 8
  if [[ -f $STAMP && $(cat "$STAMP") == "$want" ]]; then  # done by a concurrent start
    exec 8>&-
    return 0
  fi
  log "resolving Neo4j jars from Maven Central into $JARS (first run only) ..."
  local t0=$SECONDS tmp=$JARS.tmp.$$
  rm -rf "$tmp"
  # (sed: Debian's Maven 3.8 prints bare colour resets even with -q -B)
  if ! mvn -q -B -Dstyle.color=never -f "$POM" -Dmaven.repo.local="$M2" -Dneo4j.jars.dir="$tmp" \
      dependency:copy-dependencies 2>&1 | sed 's/\x1b\[0m//g' >&2; then
    rm -rf "$tmp"
    die "mvn could not resolve Neo4j (see above)"
  fi
  echo "$want" >"$tmp/.resolved"
  rm -rf "$JARS"
  mv "$tmp" "$JARS"
  exec 8>&-
  log "resolved $(find "$JARS" -name '*.jar' | wc -l) jars in $((SECONDS - t0)) s"
}

# Compile Launcher.java once (javac next to $JAVA), so that a start does not pay
# for source-launch compiling it against 200+ jars (4-8 s on a small machine).
# Without javac, fall back to source-launch mode. Prints the java arguments.
launcher_args() {
  local javac want
  javac=$(dirname "$(readlink -f "$(command -v "$JAVA")")")/javac
  if [[ -x $javac ]]; then
    want=$({ sha256sum "$LAUNCHER" | cut -d' ' -f1; cat "$STAMP"; "$JAVA" -version 2>&1 | head -n1; } | sha256sum | cut -d' ' -f1)
    if [[ ! -f $CLASSES/.stamp || $(cat "$CLASSES/.stamp") != "$want" ]]; then
      local tmp=$CLASSES.tmp.$$
      rm -rf "$tmp" && mkdir -p "$tmp"
      if "$javac" -nowarn -d "$tmp" -cp "$JARS/*" "$LAUNCHER" >&2; then
        echo "$want" >"$tmp/.stamp"
        rm -rf "$CLASSES" && mv "$tmp" "$CLASSES"
      else
        rm -rf "$tmp"
        log "javac failed; using source-launch mode"
      fi
    fi
    if [[ -f $CLASSES/.stamp && $(cat "$CLASSES/.stamp") == "$want" ]]; then
      printf '%s\n' -cp "$CLASSES:$JARS/*" Launcher
      return 0
    fi
  fi
  printf '%s\n' -cp "$JARS/*" "$LAUNCHER"
}

# A start that fails leaves nothing running: the server it launched is stopped
# (SIGTERM, up to 30 s, then SIGKILL) and its pid file removed.
stop_launched() {
  kill -0 "$1" 2>/dev/null || return 0
  log "stopping the server this start launched (pid $1)"
  terminate "$1" 30
  rm -f "$PID_FILE"
}

# SIGTERM, wait up to $2 seconds, then SIGKILL and wait up to 10 s more.
terminate() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < $2 * 2; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  log "still running after $2 s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
}

# --- subcommands ---------------------------------------------------------------

lock_state() {
  mkdir -p "$STATE_ROOT"
  exec 9>"$STATE_ROOT/.neo4j.lock"
  flock 9
}

cmd_start() {
  lock_state
  local pid launched=""
  if pid=$(pid_alive); then
    if probe; then
      log "already running (pid $pid) at $URI"
      return 0
    fi
    log "pid $pid is running but not answering yet; waiting"
  else
    (( ${#NEO4J_PASSWORD} >= 8 )) ||
      die "NEO4J_PASSWORD must have at least 8 characters"
    # the readiness probe needs it: said before anything is launched
    [[ -x $PYTHON ]] || die "no Python at $PYTHON (set LINEAGE_PYTHON to one with the neo4j driver)"
    if port_in_use; then
      die "port $NEO4J_BOLT_PORT on $NEO4J_BOLT_HOST is already in use by another process (set NEO4J_BOLT_PORT)"
    fi
    local major
    major=$(java_major) || true
    [[ -n $major ]] || die "cannot run '$JAVA' (set NEO4J_JAVA to a Java 17 or 21 binary)"
    (( ${major%%.*} >= 17 )) || die "Neo4j 5.26 needs Java 17 or 21; '$JAVA' is Java $major (set NEO4J_JAVA)"
    resolve
    local -a launch extra_opts
    mapfile -t launch < <(launcher_args)
    read -r -a extra_opts <<<"${NEO4J_JAVA_OPTS:-}"
    mkdir -p "$HOME_DIR"
    rm -f "$PID_FILE"
    DEBUG_LOG_SKIP=0
    if [[ -f $HOME_DIR/logs/debug.log ]]; then
      DEBUG_LOG_SKIP=$(wc -l <"$HOME_DIR/logs/debug.log")
    fi
    log "starting Neo4j at $URI (Java $major, heap $NEO4J_HEAP, page cache $NEO4J_PAGECACHE; state $STATE)"
    # C1 only (TieredStopAtLevel=1): halves the start time on a 2-CPU machine and
    # is no slower for a test suite's short queries; NEO4J_JAVA_OPTS comes last
    # and can override it (-XX:TieredStopAtLevel=4).
    # fd 8/9 (locks) must not leak into the server, or it would hold them forever.
    NEO4J_HOME=$HOME_DIR NEO4J_PID_FILE=$PID_FILE \
      setsid nohup "$JAVA" \
        -Xms"$NEO4J_HEAP" -Xmx"$NEO4J_HEAP" \
        -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow -XX:+ExitOnOutOfMemoryError \
        -XX:TieredStopAtLevel=1 \
        --add-opens=java.base/java.nio=ALL-UNNAMED \
        --add-opens=java.base/java.io=ALL-UNNAMED \
        --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
        --add-opens=java.base/java.lang=ALL-UNNAMED \
        -Dio.netty.tryReflectionSetAccessible=true \
        -Dlog4j2.disable.jmx=true -Dfile.encoding=UTF-8 -Dlineage.service=neo4j \
        "${extra_opts[@]}" \
        "${launch[@]}" \
        </dev/null >"$OUT_LOG" 2>&1 8>&- 9>&- &
    launched=$!
    echo "$launched" >"$PID_FILE"  # the launcher rewrites it with its own pid
    trap 'stop_launched "$launched"' EXIT  # any failure below (die, exit) stops what this start launched
  fi

  local deadline=$((SECONDS + NEO4J_START_TIMEOUT)) t0=$SECONDS rc
  while :; do
    if ! pid=$(pid_alive); then
      if [[ -n $launched ]] && kill -0 "$launched" 2>/dev/null; then
        sleep 0.2  # forked but not yet exec'd into java
        continue
      fi
      log "Neo4j exited during startup"
      show_logs
      rm -f "$PID_FILE"
      exit 1
    fi
    if grep -q 'READY bolt://' "$OUT_LOG" 2>/dev/null; then
      rc=0; probe || rc=$?
      if (( rc == 0 )); then
        log "ready at $URI (user neo4j, pid $pid) after $((SECONDS - t0)) s"
        trap - EXIT
        return 0
      elif (( rc == 3 )); then
        log "Bolt answers but rejects the password in NEO4J_PASSWORD"
        show_logs
        exit 1
      fi
    fi
    if (( SECONDS >= deadline )); then
      if [[ -n $launched ]]; then
        log "not answering at $URI after ${NEO4J_START_TIMEOUT} s (NEO4J_START_TIMEOUT)"
      else
        log "not answering at $URI after ${NEO4J_START_TIMEOUT} s; leaving pid $pid running (docker/local/neo4j.sh stop)"
      fi
      show_logs
      exit 1
    fi
    sleep 1
  done
}

cmd_stop() {
  lock_state
  local pid
  if ! pid=$(pid_alive); then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping pid $pid ..."
  terminate "$pid" 60
  rm -f "$PID_FILE"
  if grep -q 'shut down cleanly' "$OUT_LOG" 2>/dev/null; then
    log "stopped (clean shutdown)"
  else
    log "stopped"
  fi
}

cmd_status() {
  local pid=""
  pid=$(pid_alive) || pid=""
  local rc=0
  probe || rc=$?
  if (( rc == 0 )); then
    echo "neo4j: answering at $URI${pid:+ (pid $pid)}" >&2
    return 0
  fi
  if [[ -n $pid ]]; then
    echo "neo4j: pid $pid running but not answering at $URI" >&2
  elif (( rc == 3 )); then
    echo "neo4j: something at $URI rejects NEO4J_PASSWORD" >&2
  else
    echo "neo4j: not running" >&2
  fi
  return 1
}

cmd_clean() {
  cmd_stop
  log "deleting $STATE"
  rm -rf "$STATE"
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  clean) cmd_clean ;;
  *)
    echo "usage: $0 {start|stop|status|clean}" >&2
    exit 2
    ;;
esac

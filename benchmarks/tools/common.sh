# Shared by the benchmark scripts: paths, the Release build, machine facts, server start and stop.
# Sourced, not run.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
server_dll=$repo/benchmarks/KeepAlive.AspNetCore.BenchmarkServer/bin/Release/net10.0/KeepAlive.AspNetCore.BenchmarkServer.dll

# require_tools <command>=<Debian package> ...: what a benchmark runs besides dotnet. Missing ones are installed from the
# distribution when running as root (as eng/test.sh does for the tests), else named with the command that installs them.
require_tools() {
  local missing=() pair command
  for pair in "$@"; do
    command=${pair%%=*}
    command -v "$command" >/dev/null 2>&1 || [ -x "/usr/sbin/$command" ] || [ -x "/sbin/$command" ] || missing+=("${pair#*=}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing ${missing[*]} (this benchmark needs them)..." >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "This benchmark needs: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
}

build_server() {
  dotnet build "$repo/benchmarks/KeepAlive.AspNetCore.BenchmarkServer" -c Release -nologo -clp:ErrorsOnly -v:q >&2
}

# The machine, for the record: the runs are only comparable with it.
machine_facts() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel: $(uname -r)"
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "dotnet: sdk $(dotnet --version), runtime $(dotnet --list-runtimes | awk '/Microsoft.AspNetCore.App/ {print $2}' | tail -1)"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "wrk: $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "load (uptime): $(uptime | sed 's/.*load average: //')"
  echo "commit: $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- src benchmarks || echo ' (uncommitted changes)')"
}

# start_server <variant> <port> <cpu list or ""> [extra args...]: starts the app in the background,
# sets server_pid, returns once it answers. Runs inside the network namespace the clients use.
start_server() {
  local variant=$1 port=$2 cpus=$3
  shift 3
  local pin=()
  [ -n "$cpus" ] && pin=(taskset -c "$cpus")
  "${pin[@]}" dotnet "$server_dll" --variant "$variant" --urls "http://127.0.0.1:$port" "$@" &
  server_pid=$!
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/plaintext" && return 0
    sleep 0.1
  done
  echo "server ($variant) did not answer on port $port" >&2
  return 1
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}

# CPU time (user + system) the process has used, in clock ticks (/proc/<pid>/stat fields 14 and 15).
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}

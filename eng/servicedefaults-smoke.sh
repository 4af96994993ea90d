#!/usr/bin/env bash
# The ServiceDefaults way, as docs/observability.md writes it, built from the package (artifacts/package, made by
# `dotnet pack`) as a NuGet user builds it: an Aspire-shaped solution of three projects made with `dotnet new`
# (a ServiceDefaults class library, a web app and a worker service, Jobs, that call its AddServiceDefaults()), the install commands,
# Extensions.cs and both Program.cs files of the blocks marked <!-- ci-servicedefaults:... --> exactly as written.
# The web app must apply the policy of its configuration to its connections (read back from the kernel with
# getsockopt), and send the library's metrics and logs over OTLP; the worker, which has no Kestrel, must run untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
feed=$repo/artifacts/package
doc=$repo/docs/observability.md

work=$(mktemp -d -t keepalive-servicedefaults-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "servicedefaults-smoke: $*" >&2; exit 1; }

python3 - "$doc" "$work/blocks" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
os.makedirs(sys.argv[2])
blocks = re.findall(r"<!-- ci-servicedefaults:(\S+) -->\n```\w*\n(.*?)```", text, re.S)
names = sorted(name for name, _ in blocks)
if names != ["Extensions.cs", "Jobs/Program.cs", "WebApp/Program.cs", "install"]:
    sys.exit(f"servicedefaults-smoke: docs/observability.md's marked blocks are {names}; expected install, Extensions.cs, WebApp/Program.cs, Jobs/Program.cs")
for name, body in blocks:
    path = os.path.join(sys.argv[2], name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write(body)
PY

packed=$(ls "$feed"/KeepAlive.AspNetCore.*.nupkg | grep -v '\.symbols\.' | sed -E 's|.*/KeepAlive\.AspNetCore\.(.*)\.nupkg|\1|')
grep -q -- "package KeepAlive.AspNetCore --version $packed\$" "$work/blocks/install" ||
  fail "docs/observability.md does not install version $packed (the packed one)"

# The solution as `dotnet new aspire-starter` lays it out, without the AppHost (the dashboard runs standalone).
cd "$work"
dotnet new classlib -n ServiceDefaults -o ServiceDefaults --no-restore >/dev/null
rm ServiceDefaults/Class1.cs
dotnet new web -n WebApp -o WebApp --no-restore >/dev/null
dotnet new worker -n Jobs -o Jobs --no-restore >/dev/null
# The local feed next to the usual sources, and a packages folder of its own (a cached package of the same version
# is not what gets tested).
cat > NuGet.config <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <config>
    <add key="globalPackagesFolder" value="$work/packages" />
  </config>
  <packageSources>
    <add key="keepalive-local" value="$feed" />
  </packageSources>
</configuration>
XML

grep -v '^\s*#' blocks/install | grep -v '^\s*$' | while read -r command; do
  echo "servicedefaults-smoke: $command"
  eval "$command" >/dev/null </dev/null
done
cp blocks/Extensions.cs ServiceDefaults/Extensions.cs
cp blocks/WebApp/Program.cs WebApp/Program.cs
cp blocks/Jobs/Program.cs Jobs/Program.cs
# The read-back endpoint, as a hosting startup: the docs' Program.cs is not touched.
cp "$repo/eng/servicedefaults-smoke/KernelReadBack.cs" WebApp/KernelReadBack.cs
for project in WebApp Jobs; do
  dotnet build "$project" -c Release -nologo -clp:ErrorsOnly -o "out/$project" >/dev/null ||
    { dotnet build "$project" -c Release -nologo -clp:ErrorsOnly -o "out/$project" >&2; fail "$project does not build"; }
done

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# An OTLP/HTTP receiver that keeps each request's body (eng/otlp-receiver.py).
otlp_port=$(free_port)
python3 "$repo/eng/otlp-receiver.py" "$otlp_port" "$work/otlp" &
pids+=($!)

port=$(free_port)
url=http://127.0.0.1:$port
ASPNETCORE_HOSTINGSTARTUPASSEMBLIES=WebApp \
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$otlp_port OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
OTEL_METRIC_EXPORT_INTERVAL=1000 OTEL_SERVICE_NAME=webapp \
KeepAlive__Idle=00:00:42 KeepAlive__Interval=00:00:07 KeepAlive__ProbeCount=3 \
  dotnet out/WebApp/WebApp.dll --urls "$url" > webapp.log 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do
  curl -fsS "$url/" >/dev/null 2>&1 && break
  kill -0 "${pids[1]}" 2>/dev/null || { cat webapp.log >&2; fail "the web app exited"; }
  sleep 0.5
done
kernel=$(curl -fsS --max-time 10 "$url/kernel") || { cat webapp.log >&2; fail "no answer at /kernel"; }
# 42 + 7 x 3 = 63 s: the configured policy, UserTimeout derived.
expected='{"keepAlive":true,"idleSeconds":42,"intervalSeconds":7,"probeCount":3,"userTimeoutMilliseconds":63000}'
[ "$kernel" = "$expected" ] || { cat webapp.log >&2; fail "the kernel holds $kernel for a connection to the web app; expected $expected"; }
echo "servicedefaults-smoke: the web app's connection, read back from the kernel: $kernel"

# One connection held open: keepalive.connections reports the connections open when it is collected.
python3 -c 'import socket, sys, time; s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); time.sleep(30)' "$port" &
pids+=($!)
expected_otlp=("metrics:keepalive.applied_connections" "metrics:keepalive.lost_connections" "metrics:keepalive.connections"
  "metrics:kestrel.active_connections" "metrics:webapp" "logs:KeepAlive.AspNetCore" "logs:webapp")
received() { for what in "${expected_otlp[@]}"; do grep -qa "${what#*:}" "otlp/v1_${what%%:*}" 2>/dev/null || { echo "${what#*:} in the OTLP ${what%%:*}"; return 1; }; done; }
for _ in $(seq 1 40); do received >/dev/null && break; sleep 0.5; done
missing=$(received) || { cat webapp.log >&2; fail "not received: $missing"; }
echo "servicedefaults-smoke: OTLP received the library's instruments and Kestrel's, and the library's log records, as service webapp"

# The worker service: no Kestrel, so UseKeepAlivePolicy() in AddServiceDefaults does nothing; it runs until stopped.
status=0
timeout --preserve-status -s INT 5 dotnet out/Jobs/Jobs.dll > worker.log 2>&1 || status=$?
grep -q 'Worker running at' worker.log && [ "$status" -eq 0 ] || { cat worker.log >&2; fail "the worker did not run and stop cleanly (exit $status)"; }
echo "servicedefaults-smoke: the worker (no Kestrel) ran with AddServiceDefaults() and stopped cleanly"

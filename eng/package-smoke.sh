#!/usr/bin/env bash
# The package as a NuGet user meets it: a fresh `dotnet new web` app, the package from the local feed
# (artifacts/package, made by `dotnet pack`), and the install commands, Program.cs and appsettings.json
# of the package README (src/KeepAlive.AspNetCore/README.md, the blocks marked <!-- ci:... -->) exactly
# as written. It must build, serve, and send the library's instruments and log records over OTLP (to
# eng/otlp-receiver.py, as OTEL_EXPORTER_OTLP_ENDPOINT says).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
feed=$repo/artifacts/package
readme=$repo/src/KeepAlive.AspNetCore/README.md

work=$(mktemp -d -t keepalive-package-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The marked blocks, each into a file of its name.
python3 - "$readme" "$work/blocks" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
os.makedirs(sys.argv[2])
blocks = re.findall(r"<!-- ci:(\S+) -->\n```\w*\n(.*?)```", text, re.S)
names = [name for name, _ in blocks]
if sorted(names) != ["Program.cs", "appsettings.json", "install"]:
    sys.exit(f"package-smoke: the package README's marked blocks are {names}; expected install, Program.cs, appsettings.json")
for name, body in blocks:
    open(os.path.join(sys.argv[2], name), "w").write(body)
PY

# The README's install command must name the version that was packed.
packed=$(ls "$feed"/KeepAlive.AspNetCore.*.nupkg | grep -v '\.symbols\.' | sed -E 's|.*/KeepAlive\.AspNetCore\.(.*)\.nupkg|\1|')
grep -q -- "dotnet add package KeepAlive.AspNetCore --version $packed\$" "$work/blocks/install" ||
  { echo "package-smoke: the package README does not install version $packed (the packed one)" >&2; exit 1; }

dotnet new web -n SmokeApp -o "$work/app" --no-restore >/dev/null
# The local feed next to the usual sources (no <clear/>), and a packages folder of its own, so a package
# of the same version cached by an earlier run is not what gets tested.
cat > "$work/app/NuGet.config" <<XML
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

cd "$work/app"
# The install commands as written (comments skipped).
grep -v '^\s*#' "$work/blocks/install" | grep -v '^\s*$' | while read -r command; do
  echo "package-smoke: $command"
  eval "$command" >/dev/null </dev/null
done
cp "$work/blocks/Program.cs" Program.cs
cp "$work/blocks/appsettings.json" appsettings.json
dotnet build -c Release -nologo -clp:ErrorsOnly -o "$work/out" >/dev/null

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
otlp_port=$(free_port)
python3 "$repo/eng/otlp-receiver.py" "$otlp_port" "$work/otlp" &
pids+=($!)
port=$(free_port)
url=http://127.0.0.1:$port
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$otlp_port OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_METRIC_EXPORT_INTERVAL=1000 \
  dotnet "$work/out/SmokeApp.dll" --urls "$url" > "$work/app.log" 2>&1 &
app_pid=$!
pids+=($app_pid)
for _ in $(seq 1 60); do
  curl -fsS "$url/" >/dev/null 2>&1 && break
  kill -0 "$app_pid" 2>/dev/null || { cat "$work/app.log" >&2; echo "package-smoke: the app exited" >&2; exit 1; }
  sleep 0.5
done
curl -fsS --max-time 10 "$url/" >/dev/null
# One connection held open, so that keepalive.connections has one to report.
python3 -c 'import socket, sys, time; s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); time.sleep(30)' "$port" &
pids+=($!)
expected=("metrics:keepalive.applied_connections" "metrics:keepalive.lost_connections" "metrics:keepalive.connections"
  "metrics:kestrel.active_connections" "logs:KeepAlive.AspNetCore")
received() { for what in "${expected[@]}"; do grep -qa "${what#*:}" "$work/otlp/v1_${what%%:*}" 2>/dev/null || { echo "${what#*:} in the OTLP ${what%%:*}"; return 1; }; done; }
for _ in $(seq 1 40); do received >/dev/null && break; sleep 0.5; done
if ! missing=$(received); then
  echo "package-smoke: not received over OTLP: $missing" >&2
  cat "$work/app.log" >&2
  exit 1
fi
echo "package-smoke: KeepAlive.AspNetCore $packed from the local feed, the package README's Program.cs and appsettings.json: its instruments, Kestrel's and its log records arrive over OTLP"

#!/usr/bin/env bash
# Runs every test of the solution, fault-injection tests included, as CI does.
#
# The fault tests make clients vanish for real: they drop packets with nftables, which needs a
# private network namespace. `unshare -rn` makes one without root; inside it there is only a
# loopback interface, so no test traffic can leave the machine. Restore and build happen first,
# outside it, because the namespace has no route to the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

configuration=${CONFIGURATION:-Release}
results=artifacts/test-results

# What the fault tests run besides the tests themselves: nftables drops packets, the Grafana dashboard's test
# scrapes the sample with a real Prometheus, clients vanish behind a real reverse proxy (nginx), and the Aspire
# dashboard's test reads the dashboard in a real browser (chromium, driven by Playwright; Playwright's own browser
# download is neither used nor possible here). All from the distribution, installed when missing. The Aspire dashboard
# itself comes from NuGet, at the restore below.
missing=()
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing+=(nginx)
[ -x /usr/lib/chromium/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "Installing ${missing[*]} (the fault tests need them)..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "The fault tests need: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

dotnet build KeepAlive.AspNetCore.sln -c "$configuration" -nologo -clp:ErrorsOnly

rm -rf "$results"
# Inside the namespace a fault test that cannot drop packets fails instead of skipping. A test that hangs (the longest
# takes about 2.5 min) is named and its test host stopped after 8 min, rather than the run waiting for CI's limit.
export KEEPALIVE_REQUIRE_FAULT_TESTS=1
status=0
unshare -rn sh -c 'ip link set lo up && exec "$@"' sh \
  dotnet test KeepAlive.AspNetCore.sln -c "$configuration" --no-build -nologo \
    --blame-hang-timeout 8m --blame-hang-dump-type none \
    --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" || status=$?

# One closing line over every test project, from the result files.
python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
counts = {"passed": 0, "failed": 0, "skipped": 0}
for path in glob.glob(sys.argv[1] + "/*.trx"):
    c = ET.parse(path).getroot().find("t:ResultSummary/t:Counters", ns)
    counts["passed"] += int(c.get("passed")); counts["failed"] += int(c.get("failed")) + int(c.get("error"))
    counts["skipped"] += int(c.get("notExecuted"))
print(f"tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
PY
exit $status

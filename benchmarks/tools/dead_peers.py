#!/usr/bin/env python3
"""Dead peers side by side: how long nginx, plain Kestrel and Kestrel with this library hold a
connection whose client vanished, for an idle stream and for a stream the server writes to every 200 ms.

Runs only inside a private network namespace (dead-peers.sh starts it with `unshare -rn`): it drops
packets with nftables. Every server runs at once, each client from its own loopback address
(127.0.0.10 and up), and all clients vanish at the same moment: nftables drops every packet addressed to
them (input hook), so what the servers send leaves their TCP stacks normally and is lost on the way,
as on a real network (no FIN, no RST, no ICMP); see /work/shared/FACTS.md.

Two observations per connection, both measured from the moment the drop was in place:
- kernel: the server's socket is no longer ESTABLISHED (`ss -tn state established`, polled every
  50 ms). The same method for every server: nginx, which logs nothing until the request ends, too.
- app: the server's application saw the stream end. The benchmark app prints "stream-ended client=...
  t=<CLOCK_MONOTONIC ns>" when its response ends; behind nginx that is the upstream app, told the
  client's address by nginx (X-Client), i.e. the moment nginx gave up the client and closed upstream.
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SERVER_DLL = os.path.join(REPO, "benchmarks/KeepAlive.AspNetCore.BenchmarkServer/bin/Release/net10.0/KeepAlive.AspNetCore.BenchmarkServer.dll")
UPSTREAM_PORT = 9000
# The matching policy: the first probe after 1 s of silence, then one a second, dead after 2 unanswered.
POLICY = ["--KeepAlive:Idle=00:00:01", "--KeepAlive:Interval=00:00:01", "--KeepAlive:ProbeCount=2"]

SERVERS = [
    # name, port, what it is
    ("nginx", 8081, "nginx, `listen ... so_keepalive=1s:1s:2`, proxying to plain Kestrel (`proxy_buffering off`, `proxy_read_timeout 1h`)"),
    ("kestrel", 8082, "plain Kestrel (ASP.NET Core, no policy)"),
    ("library", 8083, "Kestrel + `UseKeepAlivePolicy()`: Idle 1 s, Interval 1 s, ProbeCount 2, UserTimeout 3 s (derived: Idle + Interval x ProbeCount)"),
    ("library-no-user-timeout", 8084, "Kestrel + `UseKeepAlivePolicy()`: the same with `UserTimeout` 00:00:00 (off), i.e. what nginx sets"),
]
CASES = [
    ("idle", 0, "dead idle peer: an open stream, one event then silence (SSE between events, a long poll)"),
    ("busy", 200, "dead busy peer: a stream the server writes an event to every 200 ms"),
]

NGINX_CONF = """\
# Written by dead_peers.py. One process, as root: inside `unshare -rn` only uid 0 is mapped, so nginx
# could neither switch worker processes to another user nor chown its temp directories to one.
daemon off;
user root root;
master_process off;
pid {tmp}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 1024; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port} so_keepalive=1s:1s:2;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Client $remote_addr:$remote_port;
            # A stream: pass each event on at once, and let an idle stream be idle (only TCP keepalive ends it).
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


def monotonic_ns():
    return time.monotonic_ns()


class Process:
    """A server process whose stdout is read for stream-ended lines."""

    def __init__(self, name, args, log):
        self.name = name
        self.ended = {}  # client "addr:port" -> monotonic ns
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._log = log
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        pattern = re.compile(r"stream-ended client=(\S+) t=(\d+)")
        for line in self.proc.stdout:
            self._log.write(f"[{self.name}] {line}")
            self._log.flush()
            m = pattern.search(line)
            if m:
                self.ended[m.group(1)] = int(m.group(2))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait_for_port(port, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on port {port} after {timeout} s")


def nft(script, check=True):
    subprocess.run(["nft", "-f", "-"], input=script, text=True, check=check, capture_output=not check)


def established():
    out = subprocess.run(["ss", "-Htn", "state", "established"], capture_output=True, text=True, check=True).stdout
    pairs = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            pairs.add((fields[2], fields[3]))
    return pairs


def open_stream(address, port, every_ms):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((address, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET /events?everyMs={every_ms} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    s.settimeout(10)
    received = b""
    while b"data: 0" not in received:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError(f"port {port} closed the stream before its first event: {received!r}")
        received += chunk
    return s


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cap", type=float, default=30.0, help="seconds to watch after the drop")
    parser.add_argument("--out", required=True, help="directory for the raw results and logs")
    args = parser.parse_args()

    if open("/proc/self/uid_map").read().split() == ["0", "0", "4294967295"]:
        sys.exit("Not in a private namespace: run benchmarks/dead-peers.sh (it starts one with unshare -rn).")
    if not os.path.exists(SERVER_DLL):
        sys.exit(f"{SERVER_DLL} is missing: build the benchmark server in Release first.")

    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "servers.log"), "w")
    tmp = tempfile.mkdtemp(prefix="dead-peers-nginx-")
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(tmp=tmp, port=8081, upstream=UPSTREAM_PORT))

    dotnet = ["dotnet", SERVER_DLL]
    processes = {
        "upstream": Process("upstream", dotnet + ["--variant", "plain", "--urls", f"http://127.0.0.1:{UPSTREAM_PORT}"], log),
        "nginx": Process("nginx", [shutil.which("nginx") or "/usr/sbin/nginx", "-p", tmp, "-c", os.path.join(tmp, "nginx.conf"), "-e", "stderr"], log),
        "kestrel": Process("kestrel", dotnet + ["--variant", "plain", "--urls", "http://127.0.0.1:8082"], log),
        "library": Process("library", dotnet + ["--variant", "keepalive", "--urls", "http://127.0.0.1:8083"] + POLICY, log),
        "library-no-user-timeout": Process("library-no-user-timeout", dotnet + ["--variant", "keepalive", "--urls", "http://127.0.0.1:8084"]
                                           + POLICY + ["--KeepAlive:UserTimeout=00:00:00"], log),
    }
    clients = []
    try:
        for port in (UPSTREAM_PORT, 8081, 8082, 8083, 8084):
            wait_for_port(port)

        # One client per server, case and repeat, each from its own address. The repeats are spread over
        # one keepalive interval (1 s), the same way for every server: where in its probe cycle a connection
        # is when the peer vanishes moves its end by up to an interval, and no server should be favoured.
        host = 10
        for repeat in range(args.repeats):
            for server, port, _ in SERVERS:
                for case, every_ms, _ in CASES:
                    address = f"127.0.0.{host}"
                    host += 1
                    s = open_stream(address, port, every_ms)
                    local = s.getsockname()
                    clients.append({"server": server, "case": case, "repeat": repeat + 1, "socket": s,
                                    "client": f"{local[0]}:{local[1]}", "server_end": f"127.0.0.1:{port}"})
            time.sleep(1.0 / args.repeats)
        time.sleep(1.0)  # the busy streams flowing, the idle ones silent
        before = established()
        missing = [c["client"] for c in clients if (c["server_end"], c["client"]) not in before]
        if missing:
            sys.exit(f"not established on the server side before the drop: {missing}")

        addresses = ", ".join(c["client"].split(":")[0] for c in clients)
        nft("add table inet vanish\n"
            "add chain inet vanish input { type filter hook input priority 0; policy accept; }\n"
            f"add rule inet vanish input ip daddr {{ {addresses} }} drop\n")
        dropped = monotonic_ns()

        open_ = {c["client"]: c for c in clients}
        while open_ and (monotonic_ns() - dropped) / 1e9 < args.cap:
            time.sleep(0.05)
            now = monotonic_ns()
            current = established()
            for key, c in list(open_.items()):
                if (c["server_end"], key) not in current:
                    c["kernel_s"] = (now - dropped) / 1e9
                    del open_[key]
        time.sleep(0.5)  # let the last stream-ended lines arrive
        with open(os.path.join(args.out, "ss-at-end.txt"), "w") as f:
            f.write(subprocess.run(["ss", "-tino", "state", "established"], capture_output=True, text=True).stdout)

        for c in clients:
            source = processes["upstream"] if c["server"] == "nginx" else processes[c["server"]]
            t = source.ended.get(c["client"])
            c["app_s"] = (t - dropped) / 1e9 if t is not None else None
    finally:
        for p in processes.values():
            p.stop()
        nft("delete table inet vanish\n", check=False)  # absent when the run failed before the drop
        for c in clients:
            c["socket"].close()
        shutil.rmtree(tmp, ignore_errors=True)

    raw = [{k: v for k, v in c.items() if k != "socket"} for c in clients]
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"cap_s": args.cap, "connections": raw}, f, indent=1)
    report(raw, args.cap, args.repeats)


def describe(values, cap):
    closed = sorted(v for v in values if v is not None)
    if not closed:
        return f"> {cap:.0f} s (not closed)"
    text = f"{statistics.median(closed):.1f} s" if len(closed) == len(values) else ""
    spread = f"{closed[0]:.1f}-{closed[-1]:.1f} s" if len(closed) > 1 else ""
    if len(closed) < len(values):
        return f"{len(closed)} of {len(values)} closed ({spread or f'{closed[0]:.1f} s'}), the rest > {cap:.0f} s"
    return f"{text} ({spread})" if spread else text


def report(raw, cap, repeats):
    print(f"### Dead peers: time from the client vanishing to the server closing ({repeats} connections each, watched {cap:.0f} s)\n")
    print("| server | dead idle peer: kernel closed | app saw it | dead busy peer (writes every 200 ms): kernel closed | app saw it |")
    print("|---|---|---|---|---|")
    for server, _, what in SERVERS:
        cells = []
        for case, _, _ in CASES:
            rows = [c for c in raw if c["server"] == server and c["case"] == case]
            cells.append(describe([c.get("kernel_s") for c in rows], cap))
            cells.append(describe([c.get("app_s") for c in rows], cap))
        print(f"| {what} | " + " | ".join(cells) + " |")
    print("\nMedian (min-max) over the connections; \"kernel closed\": the server's socket left ESTABLISHED (ss, polled every 50 ms); "
          "\"app saw it\": the app's stream ended (behind nginx: the upstream app, when nginx closed its side).")


if __name__ == "__main__":
    main()

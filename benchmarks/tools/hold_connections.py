#!/usr/bin/env python3
"""Opens COUNT connections to the benchmark server, makes one keep-alive request on each, and holds
them all open and idle until killed: the held connections of the memory benchmark.

    hold_connections.py <port> <count>

Prints "held <count>" once every connection has had its response, then sleeps. Runs in its own
process, so the server's memory is measured without the clients in it.
"""
import resource
import signal
import socket
import sys
import time

REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def main(port, count):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < count + 100:
        sys.exit(f"the hard limit on open files is {hard}; {count} connections need more (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    held = []
    started = time.monotonic()
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(REQUEST)
        response = b""
        # Headers, then the 13-byte body ("Hello, World!").
        while not (b"\r\n\r\n" in response and response.endswith(b"Hello, World!")):
            chunk = s.recv(4096)
            if not chunk:
                sys.exit(f"the server closed connection {len(held) + 1} before its response")
            response += chunk
        if b" 200 " not in response.split(b"\r\n", 1)[0]:
            sys.exit(f"unexpected response: {response[:80]!r}")
        held.append(s)
    print(f"held {len(held)} in {time.monotonic() - started:.1f} s", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))

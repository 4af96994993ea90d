#!/usr/bin/env python3
# A minimal OTLP/HTTP receiver for the smoke scripts: `python3 eng/otlp-receiver.py PORT DIRECTORY` keeps the body of
# each POST (/v1/metrics, /v1/logs, /v1/traces) appended to DIRECTORY/v1_metrics, ... and answers 200. Names travel in
# protobuf as plain strings, so grep -a finds which instruments, log categories and service names arrived.
import http.server, os, sys

port, directory = int(sys.argv[1]), sys.argv[2]
os.makedirs(directory, exist_ok=True)


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(os.path.join(directory, self.path.strip("/").replace("/", "_")), "ab") as f:
            f.write(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", port), Receiver).serve_forever()

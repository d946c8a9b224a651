#!/usr/bin/python3
"""An HTTP sink on loopback for journeyctl deliver's webhooks (test/integration/
deliver.sh and the delivery benchmark). Not a test itself.

Usage: webhook_sink.py DIR SECRET

Checks each request's X-Journey-Signature (t=UNIX,v1=HEX HMAC-SHA256 of
"UNIX.BODY" under SECRET) and appends one JSON line per request to
DIR/requests.jsonl: arrival time, message id, Idempotency-Key, whether the
signature is valid, the attempt number of that key, the answer given. The
payload's "mode" says how to answer:
  ok (default)   200
  fail<N>        500 for the first N attempts of a message, then 200
  always500      500
  reject         400 (a permanent failure)
  slow<MS>       waits MS milliseconds, then 200
  hang           waits 30 s (longer than the sender's timeout), then 200
A request with a bad signature is answered 401. Writes its port to DIR/port.
--count-only: no log lines, DIR/count holds the number of requests, only slow<MS> is
honoured (the benchmark).
"""
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out, secret = sys.argv[1], sys.argv[2].encode()
count_only = "--count-only" in sys.argv
lock = threading.Lock()
attempts = {}
total = [0]


def write(name, text):
    tmp = os.path.join(out, "." + name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(out, name))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, text=""):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        signature = self.headers.get("X-Journey-Signature", "")
        parts = dict(p.split("=", 1) for p in signature.split(",") if "=" in p)
        expected = hmac.new(secret, parts.get("t", "").encode() + b"." + body,
                            hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected, parts.get("v1", ""))
        if count_only:
            mode = str((json.loads(body).get("payload") or {}).get("mode", "ok")) if body else ""
            if mode.startswith("slow"):
                time.sleep(int(mode[4:]) / 1000)
            with lock:
                total[0] += 1
                if total[0] % 50 == 0:
                    write("count", str(total[0]))
            return self.answer(200 if valid else 401)
        message = json.loads(body) if body else {}
        key = self.headers.get("Idempotency-Key", "")
        with lock:
            attempts[key] = attempts.get(key, 0) + 1
            attempt = attempts[key]
        mode = str((message.get("payload") or {}).get("mode", "ok"))
        status = 200
        if not valid:
            status = 401
        elif mode.startswith("fail") and attempt <= int(mode[4:]):
            status = 500
        elif mode == "always500":
            status = 500
        elif mode == "reject":
            status = 400
        elif mode.startswith("slow"):
            time.sleep(int(mode[4:]) / 1000)
        elif mode == "hang":
            time.sleep(30)
        line = {"at": time.time(), "id": message.get("id"), "key": key, "valid": valid,
                "attempt": attempt, "status": status, "channel": message.get("channel"),
                "customer_id": message.get("customer_id")}
        with lock:
            with open(os.path.join(out, "requests.jsonl"), "a") as f:
                f.write(json.dumps(line) + "\n")
        self.answer(status, "bad request: not for us" if status == 400 else "")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
write("port", str(server.server_address[1]))
if count_only:
    def flush():
        while True:
            time.sleep(0.5)
            with lock:
                write("count", str(total[0]))
    threading.Thread(target=flush, daemon=True).start()
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass

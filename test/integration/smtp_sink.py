#!/usr/bin/python3
"""A real SMTP server on loopback for test/integration/deliver.sh and the
delivery benchmark (aiosmtpd, Debian's python3-aiosmtpd). Not a test itself.

Usage: smtp_sink.py DIR [--tls CERT KEY] [--auth USER:PASSWORD]

Writes each accepted mail to DIR/mail-<n>.eml (written, then renamed, so a
reader never sees half a mail), counts connections in DIR/connections, and
writes its port to DIR/port once listening. Recipients decide how it answers:
  bounce-...@   RCPT answered 550 (a hard bounce)
  soft<N>-...@  RCPT answered 451 for the first N tries of that address, then accepted
--tls: STARTTLS offered and required; --auth: AUTH required (after STARTTLS).
--count-only: counts mails (DIR/count) instead of writing them (the benchmark).
"""
import asyncio
import os
import re
import socket
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

out = sys.argv[1]
args = sys.argv[2:]
tls_context = None
auth = None
count_only = "--count-only" in args
if "--tls" in args:
    i = args.index("--tls")
    tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_context.load_cert_chain(args[i + 1], args[i + 2])
if "--auth" in args:
    auth = args[args.index("--auth") + 1].split(":", 1)

lock = threading.Lock()
state = {"mails": 0, "connections": 0, "soft": {}}


def write(name, text):
    tmp = os.path.join(out, "." + name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(out, name))


class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with lock:
            state["connections"] += 1
            write("connections", str(state["connections"]))
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("bounce"):
            return "550 5.1.1 no such mailbox here"
        m = re.match(r"soft(\d+)-", address)
        if m:
            with lock:
                n = state["soft"].get(address, 0) + 1
                state["soft"][address] = n
            if n <= int(m.group(1)):
                return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with lock:
            state["mails"] += 1
            n = state["mails"]
            if count_only:
                if n % 50 == 0:
                    write("count", str(n))
            else:
                data = envelope.original_content or envelope.content
                write("mail-%06d.eml" % n, data.decode("utf-8", "replace"))
        return "250 Message accepted"


def authenticator(server, session, envelope, mechanism, data):
    if isinstance(data, LoginPassword) and auth and \
            data.login.decode() == auth[0] and data.password.decode() == auth[1]:
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


class Sink(Controller):
    def factory(self):
        return SMTP(self.handler, hostname="sink.test", tls_context=tls_context,
                    require_starttls=tls_context is not None,
                    auth_required=auth is not None, auth_require_tls=tls_context is not None,
                    authenticator=authenticator if auth else None)


s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
controller = Sink(Handler(), hostname="127.0.0.1", port=port)
controller.start()
write("port", str(port))
try:
    while True:
        time.sleep(0.5)
        if count_only:
            with lock:
                write("count", str(state["mails"]))
except KeyboardInterrupt:
    pass
finally:
    controller.stop()

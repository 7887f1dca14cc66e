"""A loopback SMTP server for the tests, on aiosmtpd.

Every accepted message is written to <maildir>/new/<n>.eml. Recipients
choose the answer, so a test can provoke each outcome:

- an address whose local part starts with ``tempfail`` is refused once with
  451 (a temporary failure; the second try is accepted);
- one starting with ``reject`` is refused with 550 (permanent), every time;
- anything else is accepted with 250.

Usage: smtp_sink.py HOST PORT MAILDIR
"""

import itertools
import os
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, maildir):
        self.new = os.path.join(maildir, "new")
        os.makedirs(self.new, exist_ok=True)
        self.tempfailed = set()
        self.counter = itertools.count()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("tempfail") and address not in self.tempfailed:
            self.tempfailed.add(address)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = f"{os.getpid()}-{next(self.counter)}.eml"
        tmp = os.path.join(self.new, "." + name)
        with open(tmp, "wb") as out:
            out.write(f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n".encode())
            out.write(envelope.original_content or envelope.content)
        os.replace(tmp, os.path.join(self.new, name))
        return "250 2.0.0 stored"


def main():
    host, port, maildir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    controller = Controller(Sink(maildir), hostname=host, port=port)
    controller.start()
    try:
        # The controller serves from its own thread; this one only waits.
        threading.Event().wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()

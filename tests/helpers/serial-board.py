#!/usr/bin/env python3
"""A serial board, played by a pseudo-terminal pair: the slave side is the
board's port (what /dev/ttyUSB0 is for a real one), the master side is the
board. It prints the port's path, then writes "board line N" every 0.1 s
and appends whatever arrives from the port to OUT, for as long as it runs
(at most LIFETIME seconds: a test that dies leaves nothing behind).

usage: serial-board.py OUT [LIFETIME]
"""
import os
import pty
import select
import sys
import time
import tty


def main():
    out = sys.argv[1]
    lifetime = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    master, slave = pty.openpty()
    tty.setraw(slave)  # no echo, no line discipline: bytes as a UART sends them
    os.set_blocking(master, False)  # a port no one reads fills up: drop lines then
    print(os.ttyname(slave), flush=True)
    end = time.monotonic() + lifetime
    n = 0
    next_line = time.monotonic()
    with open(out, "ab", buffering=0) as log:
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_line:
                n += 1
                try:
                    os.write(master, b"board line %d\n" % n)
                except BlockingIOError:
                    pass
                next_line = now + 0.1
            ready, _, _ = select.select([master], [], [], max(0, next_line - now))
            if ready:
                try:
                    log.write(os.read(master, 4096))
                except (BlockingIOError, OSError):
                    pass


if __name__ == "__main__":
    main()

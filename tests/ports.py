"""Ports for servers that a test starts in another process and must name before that process binds them.

A port the kernel hands out for a bind to port 0 comes from its ephemeral range
(net.ipv4.ip_local_port_range, 32768-60999 by default), which every other port-0 bind on the machine
draws from too: with several test workers, another worker's server could get the same port between the
pick and the child's bind, and answer in its place (a replica test once talked to another test's
hubgate). These are picked at random below that range, where port-0 binds never land, and are checked
free at the time of picking.
"""

from __future__ import annotations

import contextlib
import random
import socket
from pathlib import Path

_LOWEST = 20_000


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_ports(count: int) -> list[int]:
    """`count` distinct ports that were free on 127.0.0.1 just now, outside the ephemeral range."""
    top = max(_ephemeral_start(), _LOWEST + 1_000)
    pick = random.SystemRandom()
    chosen: list[int] = []
    with contextlib.ExitStack() as held:
        while len(chosen) < count:
            port = pick.randrange(_LOWEST, top)
            if port in chosen:
                continue
            sock = held.enter_context(socket.socket())
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use
            chosen.append(port)
    return chosen


def free_port() -> int:
    return free_ports(1)[0]

"""A container seen through the host's /proc: what its PID 1 is, and which TCP ports it listens on.

The Docker daemon runs on this machine, so a container's init process is an ordinary process here
(``State.Pid``); its network namespace's sockets are in ``/proc/<pid>/net/tcp{,6}``. Reading them needs no tool in
the image (many have no ``ps``, ``ss`` or even ``cat``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp
DOCKER_DNS = ipaddress.ip_address("127.0.0.11")  # Docker's embedded DNS listens inside every user network's namespace
SHELLS = frozenset({"sh", "bash", "dash", "ash", "busybox", "zsh"})


@dataclass(frozen=True)
class Listener:
    address: str
    port: int

    @property
    def loopback_only(self) -> bool:
        return ipaddress.ip_address(self.address).is_loopback


@dataclass(frozen=True)
class Process:
    pid: int
    argv: tuple[str, ...]
    children: tuple[int, ...]

    @property
    def name(self) -> str:
        return Path(self.argv[0]).name if self.argv else "?"

    @property
    def is_shell(self) -> bool:
        return self.name in SHELLS

    def command(self, limit: int = 120) -> str:
        text = " ".join(self.argv)
        return text if len(text) <= limit else text[: limit - 3] + "..."


def _address(hex_address: str) -> str:
    """``0100007F`` -> ``127.0.0.1``; 32 hex digits -> an IPv6 address (both stored little-endian per word)."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def parse_listeners(table: str) -> list[Listener]:
    """Listening sockets of one ``/proc/net/tcp`` or ``tcp6`` table (header line first)."""
    found = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != LISTEN:
            continue
        address, port = fields[1].split(":")
        found.append(Listener(_address(address), int(port, 16)))
    return found


def listeners(pid: int, proc: Path = PROC) -> list[Listener]:
    """The container's listening TCP sockets, Docker's DNS resolver left out; sorted by port."""
    found: set[Listener] = set()
    for name in ("tcp", "tcp6"):
        try:
            found.update(parse_listeners((proc / str(pid) / "net" / name).read_text()))
        except FileNotFoundError:
            continue
    return sorted((item for item in found if ipaddress.ip_address(item.address) != DOCKER_DNS), key=lambda i: i.port)


def process(pid: int, proc: Path = PROC) -> Process:
    """A process's argv and its children (every thread's, as the kernel lists them)."""
    base = proc / str(pid)
    argv = tuple(part.decode("utf-8", "replace") for part in (base / "cmdline").read_bytes().split(b"\0") if part)
    children: list[int] = []
    for task in (base / "task").iterdir():
        try:
            children += [int(p) for p in (task / "children").read_text().split()]
        except (FileNotFoundError, ValueError):
            continue
    return Process(pid, argv, tuple(sorted(set(children))))


def readable(pid: int, proc: Path = PROC) -> bool:
    return (proc / str(pid) / "net" / "tcp").is_file()

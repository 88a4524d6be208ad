"""SSH between the hosts of an MPI job, with keys made for that job: nothing secret comes with the image.

The master generates a client key pair and sends the public key to each worker over the job's own connection
(:mod:`cluster`); each worker generates a host key, authorises the master's key for this job only, starts
``sshd`` on the addresses its host name has on the job's network (nowhere else, and with none of the image's
settings: public keys only, root only), and answers with its host key, the only one the master's ``ssh`` then
accepts for that host.
"""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from sm_contract.errors import ConfigurationError

logger = logging.getLogger(__name__)

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
PORT = 22
# This job's keys, root's alone: sshd (StrictModes) accepts an authorized_keys file only under directories that
# no one else may write, which rules out /tmp.
SSH_DIR = Path("/run/sm-ssh")
CLIENT_KEY, HOST_KEY, AUTHORIZED, KNOWN_HOSTS = "id_ed25519", "ssh_host_ed25519_key", "authorized_keys", "known_hosts"
_PUBLIC_KEY = re.compile(r"ssh-ed25519 [A-Za-z0-9+/]+={0,2}")


def _keygen(path: Path, comment: str) -> str:
    """A new ed25519 key pair at ``path`` (and ``.pub``); returns the public key (``ssh-ed25519 AAAA...``)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for old in (path, Path(f"{path}.pub")):
        old.unlink(missing_ok=True)
    command = [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL)
    return public_key(Path(f"{path}.pub").read_text(encoding="ascii"))


def public_key(text: str) -> str:
    """``ssh-ed25519 <base64>`` out of a line, or :class:`ConfigurationError` for anything else."""
    match = _PUBLIC_KEY.match(text.strip())
    if match is None:
        raise ConfigurationError(f"not an ed25519 public key: {text.strip()[:80]!r}")
    return match.group(0)


def client_key(folder: Path = SSH_DIR) -> str:
    """The master's key pair for this job's ``mpirun``; returns the public key the workers authorise."""
    return _keygen(folder / CLIENT_KEY, "sagemaker-job-master")


def trust_hosts(host_keys: Mapping[str, str], folder: Path = SSH_DIR) -> None:
    """``known_hosts`` for the master's ``ssh``: exactly the host keys the workers sent for this job."""
    lines = "".join(f"{host} {public_key(key)}\n" for host, key in sorted(host_keys.items()))
    (folder / KNOWN_HOSTS).write_text(lines, encoding="ascii")


def options(folder: Path = SSH_DIR) -> str:
    """What ``mpirun`` passes to ``ssh`` (``plm_rsh_args``): this job's key, and only the workers' host keys."""
    return " ".join(
        [
            f"-i {folder / CLIENT_KEY}",
            "-o IdentitiesOnly=yes",
            f"-o UserKnownHostsFile={folder / KNOWN_HOSTS}",
            "-o StrictHostKeyChecking=yes",
            "-o CheckHostIP=no",
            "-o BatchMode=yes",
            "-o LogLevel=ERROR",
        ]
    )


def prepare_sshd(master_key: str, folder: Path = SSH_DIR) -> str:
    """Authorise ``master_key`` (this job's only login) and make a host key; returns the host's public key."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    authorized = folder / AUTHORIZED
    authorized.write_text(f"restrict {public_key(master_key)} sagemaker-job-master\n", encoding="ascii")
    authorized.chmod(0o600)
    return _keygen(folder / HOST_KEY, "sagemaker-job-host")


def listen_addresses(host: str, interface: str) -> list[str]:
    """Where sshd listens: the IPv4 addresses the job's hosts reach ``host`` at, else ``interface``'s address."""
    found = sorted(a for a in _resolve(host) if ":" not in a and not a.startswith("127."))
    if found:
        return found
    address = _interface_address(interface)
    if address is None:
        raise ConfigurationError(f"no address for host {host} or interface {interface}: cannot start sshd on it")
    return [address]


def _resolve(host: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError):
        return set()


def _interface_address(interface: str) -> str | None:
    """The IPv4 address of a network interface (Linux ``SIOCGIFADDR``)."""
    import fcntl
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            packed = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", interface.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def start_sshd(addresses: Sequence[str], folder: Path = SSH_DIR, wait_s: float = 30.0) -> subprocess.Popen[bytes]:
    """The worker's SSH daemon on ``addresses`` only, in the foreground of a child process (ended with the worker).

    ``-f /dev/null``: none of the image's sshd settings apply, only these: this job's host key and authorised
    key, public keys only, root only. Returns once it accepts connections.
    """
    if not Path(SSHD).is_file():
        raise ConfigurationError("this image has no sshd: it cannot run MPI across several hosts")
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # its privilege separation directory
    settings = {
        "HostKey": folder / HOST_KEY,
        "AuthorizedKeysFile": folder / AUTHORIZED,
        "PidFile": folder / "sshd.pid",
        "PermitRootLogin": "prohibit-password",
        "AllowUsers": "root",
        "PubkeyAuthentication": "yes",
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "UsePAM": "no",
    }
    options = [f"{key}={value}" for key, value in settings.items()] + [f"ListenAddress={a}" for a in addresses]
    command = [SSHD, "-D", "-e", "-f", "/dev/null", *(arg for option in options for arg in ("-o", option))]
    daemon = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    _wait_listening(daemon, addresses, wait_s)
    logger.info("sshd started (pid %d) on %s, port %d", daemon.pid, ", ".join(addresses), PORT)
    return daemon


def _wait_listening(daemon: subprocess.Popen[bytes], addresses: Sequence[str], wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        if daemon.poll() is not None:
            raise ConfigurationError(f"sshd exited {daemon.returncode} at start (its error is in the log above)")
        try:
            socket.create_connection((addresses[0], PORT), timeout=1.0).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                daemon.terminate()
                raise ConfigurationError(
                    f"sshd did not listen on {addresses[0]}:{PORT} within {wait_s:.0f} s"
                ) from None
            time.sleep(0.05)

"""This job's SSH keys: made at start, traded over the job's connection, nothing from the image."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sm_contract.errors import ConfigurationError
from sm_contract.script_mode import mpi, ssh


def test_each_job_makes_new_keys_and_authorises_only_the_masters(tmp_path: Path) -> None:
    master, worker = tmp_path / "master", tmp_path / "worker"
    client = ssh.client_key(master)
    assert client.startswith("ssh-ed25519 ") and (master / ssh.CLIENT_KEY).stat().st_mode & 0o077 == 0
    host = ssh.prepare_sshd(client, worker)
    assert (worker / ssh.AUTHORIZED).read_text() == f"restrict {client} sagemaker-job-master\n"
    assert (worker / ssh.AUTHORIZED).stat().st_mode & 0o777 == 0o600 and worker.stat().st_mode & 0o777 == 0o700
    ssh.trust_hosts({"algo-2": host}, master)
    assert (master / ssh.KNOWN_HOSTS).read_text() == f"algo-2 {host}\n"
    assert ssh.client_key(master) != client  # a second job: new keys
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(worker / f"{ssh.HOST_KEY}.pub")], capture_output=True, text=True, check=True
    )
    assert "ED25519" in fingerprint.stdout


@pytest.mark.parametrize(
    "sent",
    [
        'command="touch /x" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB',  # options of its own
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ",
        "",
        "garbage",
    ],
)
def test_anything_but_a_bare_ed25519_key_is_refused(tmp_path: Path, sent: str) -> None:
    with pytest.raises(ConfigurationError, match="not an ed25519 public key"):
        ssh.prepare_sshd(sent, tmp_path)
    assert not (tmp_path / ssh.AUTHORIZED).exists()


def test_a_key_line_carries_nothing_after_its_newline(tmp_path: Path) -> None:
    key = ssh.client_key(tmp_path / "m")
    ssh.prepare_sshd(f"{key}\nssh-ed25519 AAAAC3Nza+attacker", tmp_path / "w")
    assert (tmp_path / "w" / ssh.AUTHORIZED).read_text().count("ssh-ed25519") == 1


def test_mpirun_uses_only_this_jobs_key_and_the_workers_host_keys(tmp_path: Path) -> None:
    options = ssh.options(tmp_path)
    assert f"-i {tmp_path / ssh.CLIENT_KEY}" in options and "-o IdentitiesOnly=yes" in options
    assert f"-o UserKnownHostsFile={tmp_path / ssh.KNOWN_HOSTS}" in options
    assert "-o StrictHostKeyChecking=yes" in options and "-o BatchMode=yes" in options
    settings = mpi.MpiSettings(enabled=True)
    command = mpi.mpirun_command(["algo-1", "algo-2"], settings, "eth0", {}, ["python", "t.py"], tmp_path, ssh=options)
    assert command[command.index("plm_rsh_args") + 1] == options


def test_sshd_listens_on_the_hosts_own_address_else_its_interfaces(tmp_path: Path) -> None:
    assert ssh.listen_addresses("localhost", "lo") == ["127.0.0.1"]  # loopback names fall back to the interface
    with pytest.raises(ConfigurationError, match="no address for host algo-9 or interface nope0"):
        ssh.listen_addresses("algo-9", "nope0")

"""ECR push (``byoc_pipelines.aws.ecr`` and ``cli push``) against moto's ECR and a recording stand-in for Docker."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto", reason="needs the pipelines venv (moto)")

import boto3
import docker.errors
from moto import mock_aws

from byoc_pipelines import cli
from byoc_pipelines.aws import docker_push
from byoc_pipelines.aws import ecr as ecr_mod
from byoc_pipelines.cli.images import default_repository
from byoc_pipelines.errors import ConfigurationError, PushError
from utils.aws import REGION, isolate_aws_env

ACCOUNT = "123456789012"  # moto's default account
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials or region from anywhere."""
    isolate_aws_env(monkeypatch, tmp_path, fake_credentials=False)


@pytest.fixture
def fake_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_env(monkeypatch, tmp_path, fake_credentials=True)


@pytest.fixture
def ecr(fake_aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ecr", region_name=REGION)


class FakeImage:
    def __init__(self, calls: list[tuple[Any, ...]]) -> None:
        self.calls = calls

    def tag(self, repository: str, tag: str) -> bool:
        self.calls.append(("tag", repository, tag))
        return True


class FakeImages:
    def __init__(self, calls: list[tuple[Any, ...]], messages: list[dict[str, Any]] | None) -> None:
        self.calls = calls
        self.messages = messages

    def get(self, name: str) -> FakeImage:
        if name != "byoc/chainer-mnist:latest":
            raise docker.errors.ImageNotFound(f"No such image: {name}")
        return FakeImage(self.calls)

    def push(self, repository: str, tag: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.calls.append(("push", repository, tag, kwargs["auth_config"]))  # None: no credentials sent
        assert kwargs["stream"] and kwargs["decode"]
        default = [
            {"status": f"The push refers to repository [{repository}]"},
            {"status": "Preparing", "progressDetail": {}, "id": "0a1b"},
            {"status": "Pushing", "progressDetail": {"current": 1}, "progress": "[=>   ]", "id": "0a1b"},
            {"status": "Pushing", "progressDetail": {"current": 2}, "progress": "[==>  ]", "id": "0a1b"},
            {"status": "Pushed", "progressDetail": {}, "id": "0a1b"},
            {"status": f"{tag}: digest: sha256:{'c' * 64} size: 529"},
            {"progressDetail": {}, "aux": {"Tag": tag, "Digest": f"sha256:{'c' * 64}", "Size": 529}},
        ]
        return iter(default if self.messages is None else self.messages)


class FakeDocker:
    """Records login, tag and push; push answers with ``messages`` (a successful push by default)."""

    def __init__(self, messages: list[dict[str, Any]] | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.images = FakeImages(self.calls, messages)

    def login(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(("login", kwargs))
        return {"Status": "Login Succeeded"}


# ---- repository -------------------------------------------------------------------------------------------


def test_creates_repository_with_scan_on_push(ecr: Any) -> None:
    repo, created = ecr_mod.ensure_repository(ecr, "byoc/chainer-mnist")
    assert created
    assert repo["registryId"] == ACCOUNT
    assert repo["repositoryUri"] == f"{REGISTRY}/byoc/chainer-mnist"
    described = ecr.describe_repositories(repositoryNames=["byoc/chainer-mnist"])["repositories"][0]
    assert described["imageScanningConfiguration"] == {"scanOnPush": True}
    # a revision tag names one build for good; only `latest` moves
    assert described["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert described["imageTagMutabilityExclusionFilters"] == [{"filterType": "WILDCARD", "filter": "latest"}]


def test_second_call_reuses_the_repository(ecr: Any) -> None:
    first, created_first = ecr_mod.ensure_repository(ecr, "byoc/keras-text")
    log = io.StringIO()
    second, created_second = ecr_mod.ensure_repository(ecr, "byoc/keras-text", log)
    assert (created_first, created_second) == (True, False)
    assert second["repositoryArn"] == first["repositoryArn"]
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == ["byoc/keras-text"]
    assert log.getvalue() == ""


def test_existing_repository_without_scan_is_left_alone_with_a_warning(ecr: Any) -> None:
    ecr.create_repository(repositoryName="byoc/legacy", imageScanningConfiguration={"scanOnPush": False})
    log = io.StringIO()
    repo, created = ecr_mod.ensure_repository(ecr, "byoc/legacy", log)
    assert not created
    assert repo["imageScanningConfiguration"] == {"scanOnPush": False}
    assert log.getvalue() == (
        "warning: ECR repository byoc/legacy exists without scan on push; leaving it unchanged\n"
        "warning: ECR repository byoc/legacy lets tags be overwritten; deploys use digests regardless\n"
    )


# ---- authorization token ------------------------------------------------------------------------------------


def test_authorization_token_from_moto_is_decoded(ecr: Any) -> None:
    auth = ecr_mod.registry_auth(ecr, ACCOUNT)
    raw = ecr.get_authorization_token(registryIds=[ACCOUNT])["authorizationData"][0]
    assert f"{auth.username}:{auth.password}" == base64.b64decode(raw["authorizationToken"]).decode()
    assert auth.username == "AWS"
    assert auth.password
    assert auth.proxy_endpoint == f"https://{REGISTRY}"
    assert auth.host == REGISTRY


def test_password_may_contain_colons() -> None:
    token = base64.b64encode(b"AWS:eyJ:pay:load==").decode()
    auth = ecr_mod.decode_authorization({"authorizationToken": token, "proxyEndpoint": f"https://{REGISTRY}"})
    assert (auth.username, auth.password) == ("AWS", "eyJ:pay:load==")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"authorizationToken": "%%%", "proxyEndpoint": "https://x"}, "unreadable authorization token"),
        ({"authorizationToken": base64.b64encode(b"no-colon").decode(), "proxyEndpoint": "https://x"}, "user:pass"),
        ({"authorizationToken": base64.b64encode(b"AWS:pw").decode()}, "no proxyEndpoint"),
    ],
)
def test_bad_authorization_data_is_one_clear_line(data: dict[str, str], message: str) -> None:
    with pytest.raises(PushError, match=message) as caught:
        ecr_mod.decode_authorization(data)
    assert "\n" not in str(caught.value)


def test_registry_host_strips_scheme_and_path() -> None:
    assert docker_push.registry_host(f"https://{REGISTRY}") == REGISTRY
    assert docker_push.registry_host(f"{REGISTRY}/byoc/x") == REGISTRY
    assert docker_push.registry_host("127.0.0.1:5000") == "127.0.0.1:5000"
    assert ecr_mod.image_uri(f"https://{REGISTRY}/", "byoc/x", "abc") == f"{REGISTRY}/byoc/x:abc"


# ---- the push, with a recording Docker client -------------------------------------------------------------------


def test_push_tags_revision_and_latest_and_returns_the_ecr_uri(ecr: Any) -> None:
    docker_client, log = FakeDocker(), io.StringIO()
    result = ecr_mod.push(
        "byoc/chainer-mnist:latest",
        "byoc/chainer-mnist",
        ecr_client=ecr,
        docker_client=docker_client,
        revision="1a2b3c4",
        log=log,
    )
    assert result.uri == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/byoc/chainer-mnist:1a2b3c4"
    assert re.fullmatch(r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/byoc/chainer-mnist:[\w.-]+", result.uri)
    assert result.uris == (result.uri, f"{REGISTRY}/byoc/chainer-mnist:latest")
    assert result.digest == f"sha256:{'c' * 64}"
    assert result.repository_created

    auth = ecr_mod.registry_auth(ecr, ACCOUNT)
    credentials = {"username": "AWS", "password": auth.password}
    target = f"{REGISTRY}/byoc/chainer-mnist"
    assert docker_client.calls == [
        ("login", {**credentials, "registry": f"https://{REGISTRY}", "reauth": True}),
        ("tag", target, "1a2b3c4"),
        ("tag", target, "latest"),
        ("push", target, "1a2b3c4", credentials),
        ("push", target, "latest", credentials),
    ]
    lines = log.getvalue().splitlines()
    assert lines[0] == f"created ECR repository byoc/chainer-mnist (account {ACCOUNT})"
    assert lines.count("0a1b: Pushing") == 2  # once per push, not once per progress tick
    assert "0a1b: Pushed" in lines


def test_registry_url_gets_the_image_but_never_the_ecr_token(ecr: Any) -> None:
    docker_client, log = FakeDocker(), io.StringIO()
    result = ecr_mod.push(
        "byoc/chainer-mnist:latest",
        "byoc/chainer-mnist",
        ecr_client=ecr,
        docker_client=docker_client,
        revision="latest",
        registry_url="http://127.0.0.1:5999",
        log=log,
    )
    assert result.uris == ("127.0.0.1:5999/byoc/chainer-mnist:latest",)  # latest only once
    assert docker_client.calls == [  # no login, and the push carries no credentials
        ("tag", "127.0.0.1:5999/byoc/chainer-mnist", "latest"),
        ("push", "127.0.0.1:5999/byoc/chainer-mnist", "latest", None),
    ]
    assert f"pushing to 127.0.0.1:5999 without the ECR token (it is sent only to {REGISTRY})" in log.getvalue()


def test_credentials_are_never_pushed_to_another_host() -> None:
    auth = docker_push.RegistryAuth("AWS", "secret", f"https://{REGISTRY}")
    with pytest.raises(PushError, match=f"refusing to send the credentials for {REGISTRY} to evil.example:443"):
        docker_push.push_reference(FakeDocker(), "evil.example:443/byoc/x", "r1", auth)


def test_a_token_for_another_registry_than_the_repository_is_refused(ecr: Any) -> None:
    class OtherEndpoint:
        """An ECR client whose token names a registry other than the repository's."""

        def __getattr__(self, name: str) -> Any:
            return getattr(ecr, name)

        def get_authorization_token(self, **kwargs: Any) -> dict[str, Any]:
            answer = ecr.get_authorization_token(**kwargs)
            answer["authorizationData"][0]["proxyEndpoint"] = "https://attacker.example"
            return answer

    docker_client = FakeDocker()
    with pytest.raises(PushError, match=f"ECR issued a token for attacker.example, not for .*{REGISTRY}"):
        ecr_mod.push(
            "byoc/chainer-mnist:latest",
            "byoc/chainer-mnist",
            ecr_client=OtherEndpoint(),
            docker_client=docker_client,
            revision="r1",
        )
    assert docker_client.calls == []


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        (f"{REGISTRY}/byoc/x@sha256:{'a' * 64}", True),
        (f"{REGISTRY}/byoc/x:1a2b3c4", True),
        ("127.0.0.1:5000/byoc/x:1a2b3c4-dirty", True),
        (f"{REGISTRY}/byoc/x:latest", False),
        (f"{REGISTRY}/byoc/x", False),
        ("127.0.0.1:5000/byoc/x", False),
        (f"{REGISTRY}/byoc/x@sha256:short", False),
    ],
)
def test_pipelines_take_images_by_digest_or_revision_only(image: str, pinned: bool) -> None:
    if pinned:
        assert ecr_mod.require_pinned(image) == image
    else:
        with pytest.raises(ConfigurationError, match="is not pinned"):
            ecr_mod.require_pinned(image)


def test_error_in_push_stream_fails_with_one_line(ecr: Any) -> None:
    messages = [
        {"status": "Preparing", "progressDetail": {}, "id": "0a1b"},
        {"errorDetail": {"message": "denied: not authorized\nto push"}, "error": "denied: not authorized\nto push"},
        {"status": "never reached"},
    ]
    with pytest.raises(PushError) as caught:
        ecr_mod.push(
            "byoc/chainer-mnist:latest",
            "byoc/chainer-mnist",
            ecr_client=ecr,
            docker_client=FakeDocker(messages),
            revision="1a2b3c4",
        )
    assert str(caught.value) == f"push of {REGISTRY}/byoc/chainer-mnist:1a2b3c4 failed: denied: not authorized to push"


def test_missing_local_image_fails_before_any_aws_call(ecr: Any) -> None:
    with pytest.raises(PushError, match="local image byoc/nope:latest not found"):
        ecr_mod.push("byoc/nope:latest", "byoc/nope", ecr_client=ecr, docker_client=FakeDocker(), revision="r1")
    assert ecr.describe_repositories()["repositories"] == []


def test_default_repository_is_the_image_name_without_tag() -> None:
    assert default_repository("byoc/chainer-mnist:latest") == "byoc/chainer-mnist"
    assert default_repository("byoc/chainer-mnist") == "byoc/chainer-mnist"
    assert default_repository("127.0.0.1:5000/byoc/x@sha256:00") == "127.0.0.1:5000/byoc/x"


# ---- configuration errors (exit 2) --------------------------------------------------------------------------


def run_main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_no_credentials_is_one_line_and_exit_2(no_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    code, out, err = run_main("push", "byoc/chainer-mnist:latest", "--tag-revision", "r1")
    assert (code, out) == (2, "")
    assert err.startswith("error: no AWS credentials found")
    assert err.count("\n") == 1


def test_no_credentials_raised_by_botocore_is_handled_too(fake_aws_env: None) -> None:
    import botocore.exceptions

    def no_credentials(service: str) -> Any:
        raise botocore.exceptions.NoCredentialsError()

    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["push", "byoc/chainer-mnist:latest", "--tag-revision", "r1"], no_credentials, out, err)
    assert code == 2
    assert err.getvalue().startswith("error: no AWS credentials found") and err.getvalue().count("\n") == 1


def test_cli_push_prints_only_the_uri_on_stdout(ecr: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    docker_client = FakeDocker()
    monkeypatch.setattr("byoc_pipelines.cli.images.docker.from_env", lambda **kwargs: docker_client)
    out, err = io.StringIO(), io.StringIO()
    argv = ["push", "byoc/chainer-mnist:latest", "--tag-revision", "r1", "--region", REGION]
    assert cli.main(argv, lambda service: ecr, out, err) == 0, err.getvalue()
    assert out.getvalue() == f"{REGISTRY}/byoc/chainer-mnist:r1\n"  # the repository defaults to the image name
    assert err.getvalue().startswith("created ECR repository byoc/chainer-mnist")
    assert err.getvalue().endswith(
        f"pushed {REGISTRY}/byoc/chainer-mnist:r1, {REGISTRY}/byoc/chainer-mnist:latest (sha256:{'c' * 64})\n"
    )
    assert [call[0] for call in docker_client.calls] == ["login", "tag", "tag", "push", "push"]


def test_cli_ecr_api_error_is_one_line_and_exit_1(ecr: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.stub import Stubber

    monkeypatch.setattr("byoc_pipelines.cli.images.docker.from_env", lambda **kwargs: FakeDocker())
    with Stubber(ecr) as stub:
        stub.add_client_error("create_repository", "AccessDeniedException", "not allowed\nat all")
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(["push", "byoc/chainer-mnist:latest", "--tag-revision", "r1"], lambda service: ecr, out, err)
    assert (code, out.getvalue()) == (1, "")
    assert err.getvalue().startswith(
        "error: An error occurred (AccessDeniedException) when calling the CreateRepository"
    )
    assert err.getvalue().endswith("not allowed at all\n") and err.getvalue().count("\n") == 1


def test_no_region_is_one_line_and_exit_2(no_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    code, out, err = run_main("push", "byoc/chainer-mnist:latest", "--tag-revision", "r1")
    assert (code, out) == (2, "")
    assert err.startswith("error: no AWS region") and err.count("\n") == 1


def test_invalid_tag_revision_is_exit_2(fake_aws_env: None) -> None:
    code, _, err = run_main("push", "byoc/chainer-mnist:latest", "--tag-revision", "bad/tag")
    assert code == 2
    assert err == "error: 'bad/tag' is not a valid Docker tag (letters, digits, '_', '.', '-'; max 128)\n"


def test_module_entry_point_reports_missing_credentials(no_aws_env: None, tmp_path: Path) -> None:
    env = {**os.environ, "AWS_DEFAULT_REGION": REGION}
    done = subprocess.run(
        [sys.executable, "-m", "byoc_pipelines.cli", "push", "byoc/x:latest", "--tag-revision", "r1"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: no AWS credentials found") and done.stderr.count("\n") == 1


# ---- revision tag ---------------------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    config = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"]
    return subprocess.run(["git", *config, *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def work_tree(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / ".gitignore").write_text("build/\n")
    (repo / "Dockerfile").write_text("FROM scratch\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def test_clean_tree_gives_the_short_sha(work_tree: Path) -> None:
    head = git(work_tree, "rev-parse", "HEAD").strip()
    revision = ecr_mod.git_revision(work_tree)
    assert re.fullmatch(r"[0-9a-f]{7,40}", revision)
    assert head.startswith(revision)


def test_modified_tracked_file_adds_dirty(work_tree: Path) -> None:
    (work_tree / "Dockerfile").write_text("FROM scratch\nLABEL x=1\n")
    assert ecr_mod.git_revision(work_tree) == ecr_mod.git_revision(work_tree).removesuffix("-dirty") + "-dirty"
    git(work_tree, "add", "Dockerfile")  # staged but not committed is still dirty
    assert ecr_mod.git_revision(work_tree).endswith("-dirty")


def test_untracked_file_is_dirty_but_ignored_file_is_not(work_tree: Path) -> None:
    (work_tree / "build").mkdir()
    (work_tree / "build" / "out.bin").write_bytes(b"x")
    assert not ecr_mod.git_revision(work_tree).endswith("-dirty")
    (work_tree / "new.py").write_text("")
    assert ecr_mod.git_revision(work_tree).endswith("-dirty")


def test_new_commit_changes_the_revision(work_tree: Path) -> None:
    before = ecr_mod.git_revision(work_tree)
    (work_tree / "Dockerfile").write_text("FROM scratch\nLABEL x=2\n")
    git(work_tree, "commit", "-q", "-am", "second")
    after = ecr_mod.git_revision(work_tree)
    assert after != before and not after.endswith("-dirty")


def test_outside_a_git_repository_asks_for_tag_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(ConfigurationError, match=r"cannot work out the git revision .*pass --tag-revision"):
        ecr_mod.git_revision(tmp_path)


def test_repository_without_commits_asks_for_tag_revision(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    with pytest.raises(ConfigurationError, match="pass --tag-revision") as caught:
        ecr_mod.git_revision(tmp_path)
    assert "\n" not in str(caught.value)


def test_registry_credentials_never_show_their_password() -> None:
    auth = docker_push.RegistryAuth("AWS", "s3cr3t-token", f"https://{REGISTRY}")
    assert "s3cr3t-token" not in repr(auth) and "s3cr3t-token" not in str(auth)
    assert "AWS" in repr(auth) and REGISTRY in repr(auth)


def test_a_revision_tag_is_resolved_to_its_digest_and_anything_else_refused(ecr: Any) -> None:
    ecr.create_repository(repositoryName="byoc/x")
    manifest = '{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}'
    digest = ecr.put_image(repositoryName="byoc/x", imageManifest=manifest, imageTag="1a2b3c4")["image"]["imageId"][
        "imageDigest"
    ]
    assert ecr_mod.pin(ecr, f"{REGISTRY}/byoc/x:1a2b3c4") == f"{REGISTRY}/byoc/x@{digest}"
    assert ecr_mod.pin(ecr, f"{REGISTRY}/byoc/x@sha256:{'a' * 64}") == f"{REGISTRY}/byoc/x@sha256:{'a' * 64}"
    for image, message in (
        (f"{REGISTRY}/byoc/x:latest", "is not pinned"),
        ("127.0.0.1:5000/byoc/x:1a2b3c4", "is not in ECR"),
        (f"{REGISTRY}/byoc/x:0000000", "no image tagged 0000000"),
        (f"{ACCOUNT}.dkr.ecr.ap-south-1.amazonaws.com/byoc/x:1a2b3c4", "is in region ap-south-1"),
    ):
        with pytest.raises(ConfigurationError, match=message):
            ecr_mod.pin(ecr, image)


def test_pushing_a_revision_tag_again_says_why_it_is_refused(ecr: Any) -> None:
    refused = "tag invalid: The image tag '1a2b3c4-dirty' already exists in the 'byoc/chainer-mnist' repository "
    refused += "and cannot be overwritten because the repository is immutable."
    messages = [{"errorDetail": {"message": refused}, "error": refused}]
    with pytest.raises(PushError, match=r"cannot be moved: commit the changes .* or pass --tag-revision"):
        ecr_mod.push(
            "byoc/chainer-mnist:latest",
            "byoc/chainer-mnist",
            ecr_client=ecr,
            docker_client=FakeDocker(messages),
            revision="1a2b3c4-dirty",
        )

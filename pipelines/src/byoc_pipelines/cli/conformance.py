"""``conformance IMAGE``: check any local image against SageMaker's container contract.

Prints a line per check as it finishes, then the table; writes ``report.json`` and ``junit.xml`` under
``--out/<image>/`` with every container's log in ``work/logs/``. Exit status: 0 every check passed or was skipped,
1 a check failed, 2 nothing could be checked (a bad argument, an unreadable descriptor, no such image, an error of
the suite itself).
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

from byoc_pipelines.cli.context import Context
from byoc_pipelines.errors import ConfigurationError

OUT = Path("build/conformance")
DEFAULT_FAMILIES = ("training", "serving", "batch", "multi-model")


def _pairs(values: list[str], what: str) -> dict[str, str]:
    found = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"{what} {value!r}: expected NAME=VALUE")
        found[key] = rest
    return found


def _descriptor(args: argparse.Namespace) -> Any:
    from byoc_pipelines import descriptor

    try:
        if args.no_descriptor:
            return None
        if args.descriptor:
            return descriptor.load(Path(args.descriptor))
        return descriptor.for_image(args.image)
    except descriptor.DescriptorError as exc:
        raise ConfigurationError(str(exc)) from None


def _check_image(image: str) -> None:
    import docker
    import docker.errors

    try:
        docker.from_env().images.get(image)
    except docker.errors.ImageNotFound:
        raise ConfigurationError(f"no local image {image}: build it first") from None


def _options(args: argparse.Namespace) -> Any:
    """The run's options from the command line, checked before anything runs."""
    from byoc_pipelines.conformance import catalog
    from byoc_pipelines.conformance.context import SERVERLESS_MEMORY_MB, Options

    families = set(args.families.split(",")) if args.families else set(DEFAULT_FAMILIES)
    unknown = families - set(catalog.FAMILIES)
    if unknown:
        raise ConfigurationError(f"--families: unknown {sorted(unknown)}; choose from {', '.join(catalog.FAMILIES)}")
    if args.serverless is not None:
        low, high = SERVERLESS_MEMORY_MB
        if not low <= args.serverless <= high:
            raise ConfigurationError(f"--serverless {args.serverless}: serverless memory is {low}-{high} MB")
        families.add("serverless")
    return Options(
        stop_wait_s=args.stop_wait,
        serverless_memory_mb=args.serverless,
        families=frozenset(families),
        model=Path(args.model) if args.model else None,
    )


def cmd_conformance(args: argparse.Namespace, ctx: Context) -> int:
    from byoc_pipelines.conformance import catalog, inputs, report
    from byoc_pipelines.conformance.runner import Run

    if args.list_checks:
        ctx.out.write(catalog.markdown_table() + "\n")
        return 0
    if not args.image:
        raise ConfigurationError("give an IMAGE (or --list-checks)")
    options = _options(args)
    _check_image(args.image)
    found = _descriptor(args)
    channels = {k: Path(v) for k, v in _pairs(args.channel, "--channel").items()}
    given = inputs.from_options(found, channels, _pairs(args.hyperparameter, "--hyperparameter"))
    lock = threading.Lock()

    def progress(result: Any) -> None:
        with lock:
            ctx.out.write(report.progress_line(result) + "\n")
            ctx.out.flush()

    described = f"descriptor {found.path}" if found else "no descriptor: generic inputs"
    ctx.out.write(f">> conformance of {args.image} ({described})\n")
    ctx.out.flush()
    run = Run(args.image, given, options, Path(args.out), progress)
    result = run.execute()
    report.table(result, ctx.out)
    json_path, xml_path = report.write(result, run.out)
    ctx.out.write(f"reports: {json_path}, {xml_path}; container logs: {run.out / 'work' / 'logs'}\n")
    for error in run.errors:
        ctx.err.write(f"error: the suite itself failed: {error}\n")
    if run.errors:
        return 2
    return 0 if result.ok else 1


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "conformance", parents=[common], help="check a local image against SageMaker's container contract"
    )
    parser.add_argument("image", metavar="IMAGE", nargs="?", help="a local image, e.g. byoc/chainer-mnist:latest")
    parser.add_argument("--descriptor", help="the image's image.toml (default: containers/<name>/image.toml if any)")
    parser.add_argument("--no-descriptor", action="store_true", help="generic inputs only, even if a descriptor exists")
    parser.add_argument("--channel", action="append", default=[], metavar="NAME=DIR", help="a training channel's data")
    parser.add_argument("--hyperparameter", action="append", default=[], metavar="KEY=VALUE", help="smoke job value")
    parser.add_argument("--model", help="serve this model folder or model.tar.gz instead of the smoke job's")
    parser.add_argument("--serverless", type=int, metavar="MB", help="also run the serverless profile, --memory MB")
    parser.add_argument("--families", help=f"comma-separated subset of {', '.join(DEFAULT_FAMILIES)}, serverless")
    parser.add_argument(
        "--stop-wait",
        type=float,
        default=120.0,
        metavar="S",
        help="patience after SIGTERM (AWS: 120 s train, 30 s serve)",
    )
    parser.add_argument("--out", default=str(OUT), help=f"reports and logs go to OUT/<image>/ (default: {OUT})")
    parser.add_argument("--list-checks", action="store_true", help="print the table of checks (Markdown) and exit")
    parser.set_defaults(handler=cmd_conformance, long_run=True)

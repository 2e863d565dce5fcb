"""The `hubgate sbom` and `hubgate report` command lines; mirror.inventory.commands runs them."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from mirror.inventory.vocabulary import FORMATS, GROUPINGS, KINDS


def add_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    local: Callable[[str], Callable[[argparse.Namespace], int]],
    settings_flags: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add `sbom` and `report` to the CLI; `local` and `settings_flags` are the CLI's own helpers (`local`
    takes the "module:function" that runs the command, imported only then)."""
    sbom = sub.add_parser(
        "sbom", help="CycloneDX 1.6 ML-BOM of what hubgate served (all of it, a repo or a revision)"
    )
    settings_flags(sbom)
    sbom.add_argument("repo", nargs="?", metavar="org/repo[@commit]", help="default: the whole inventory")
    sbom.add_argument("--repo-type", default="model", choices=["model", "dataset", "space"])
    sbom.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here instead of stdout")
    sbom.set_defaults(run=local("mirror.inventory.commands:sbom_command"))
    report = sub.add_parser(
        "report",
        help="where what hubgate served comes from, under which licences, and what the Hub no longer serves",
    )
    settings_flags(report)
    report.add_argument("kind", choices=KINDS)
    report.add_argument("--format", default="table", choices=FORMATS)
    report.add_argument(
        "--by",
        default="publisher",
        choices=GROUPINGS,
        help="origins: group by who published a revision (publisher) or by what it is built on (lineage)",
    )
    report.set_defaults(run=local("mirror.inventory.commands:report_command"))

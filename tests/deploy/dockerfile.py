"""Read the Dockerfile the way the image build does, for the parts a test can run without a Docker engine.

Only what the final stage sets up at run time matters here: its ENV, USER, WORKDIR, EXPOSE, LABEL,
HEALTHCHECK, ENTRYPOINT and CMD (exec form only: a shell form would need /bin/sh in the image and would
hide hubgate from SIGTERM behind a shell).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"

_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


def instructions(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments (including ones inside a RUN) dropped."""
    found: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        found.append(Instruction(keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return found


def stages(text: str) -> list[Stage]:
    result: list[Stage] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(base=words[0], name=name))
        elif result:
            result[-1].instructions.append(instruction)
    return result


def global_args(text: str) -> dict[str, str]:
    """ARGs declared before the first FROM, with their defaults (they may name the base images)."""
    args: dict[str, str] = {}
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            name, _, default = instruction.arguments.partition("=")
            args[name] = default
    return args


def expand(value: str, variables: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), value)


def env_pairs(arguments: str) -> list[tuple[str, str]]:
    """`ENV a=1 b="two words"` or the legacy `ENV a 1`."""
    words = shlex.split(arguments)
    if words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]
    pairs: list[tuple[str, str]] = []
    for word in words:
        name, _, value = word.partition("=")
        pairs.append((name, value))
    return pairs


def exec_form(arguments: str) -> list[str]:
    parsed = json.loads(arguments)
    assert isinstance(parsed, list), arguments
    assert all(isinstance(item, str) for item in parsed), arguments
    return parsed


@dataclass(frozen=True)
class Runtime:
    """What the final stage hands to a container at start."""

    base: str
    env: dict[str, str]  # ENV values with $VARIABLES expanded against the base image's environment
    user: str
    workdir: str
    exposed: list[str]
    labels: dict[str, str]
    entrypoint: list[str]
    cmd: list[str]
    healthcheck_options: dict[str, str]
    healthcheck: list[str]

    @property
    def command(self) -> list[str]:
        return [*self.entrypoint, *self.cmd]


def runtime(base_env: Mapping[str, str], path: Path = DOCKERFILE) -> Runtime:
    """The final stage's runtime settings; `base_env` stands in for the base image's own ENV."""
    text = path.read_text(encoding="utf-8")
    final = stages(text)[-1]
    env: dict[str, str] = {}
    labels: dict[str, str] = {}
    values: dict[str, list[str]] = {}
    options: dict[str, str] = {}
    for instruction in final.instructions:
        keyword, arguments = instruction.keyword, instruction.arguments
        if keyword == "ENV":
            for name, value in env_pairs(arguments):
                env[name] = expand(value, {**base_env, **env})
        elif keyword == "LABEL":
            labels.update(env_pairs(arguments))
        elif keyword in ("ENTRYPOINT", "CMD"):
            values[keyword] = exec_form(arguments)
        elif keyword == "HEALTHCHECK":
            rest = arguments
            while option := re.match(r"--([\w-]+)=(\S+)\s+", rest):
                options[option.group(1)] = option.group(2)
                rest = rest[option.end() :]
            assert rest.startswith("CMD "), arguments
            values["HEALTHCHECK"] = exec_form(rest[4:])
        elif keyword in ("USER", "WORKDIR"):
            values[keyword] = [arguments]
        elif keyword == "EXPOSE":
            values.setdefault("EXPOSE", []).extend(arguments.split())
    return Runtime(
        base=expand(final.base, global_args(text)),
        env=env,
        user=values.get("USER", ["root"])[0],
        workdir=values.get("WORKDIR", ["/"])[0],
        exposed=values.get("EXPOSE", []),
        labels=labels,
        entrypoint=values.get("ENTRYPOINT", []),
        cmd=values.get("CMD", []),
        healthcheck_options=options,
        healthcheck=values.get("HEALTHCHECK", []),
    )

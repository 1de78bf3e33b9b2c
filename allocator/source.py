"""Reading scenario files: YAML or TOML text -> plain data, plus the line of every field."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Problem, ScenarioError

__all__ = ["Source", "read_source", "parse_text", "format_path"]

PathKey = tuple[str | int, ...]


@dataclass
class Source:
    """Parsed file content and where each field stands in it (YAML only gives lines)."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: PathKey) -> int | None:
        """Line of the deepest part of `path` that exists in the file."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def format_path(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _walk_yaml(node: yaml.Node, path: PathKey, lines: dict, problems: list, file: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(Problem(file, format_path(path + (key,)),
                                        f"duplicate key '{key}' (first given on line {seen[key]}); "
                                        "keep one of them", line))
            seen[key] = line
            lines[path + (key,)] = line
            _walk_yaml(value_node, path + (key,), lines, problems, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk_yaml(item, path + (i,), lines, problems, file)


def parse_text(text: str, file: str, fmt: str = "yaml") -> Source:
    """Parse YAML or TOML text; syntax errors become a ScenarioError with the line."""
    if not text.strip():
        raise ScenarioError.single(file, "the file is empty; start from `allocator init PATH` "
                                   "or a file in scenarios/")
    if fmt == "toml":
        try:
            return Source(file, tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError.single(file, f"TOML syntax error: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(s for s in (exc.context, exc.problem) if s)
        raise ScenarioError.single(file, f"YAML syntax error: {what}; check indentation, "
                                   "colons and quotes around this line", line=line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError.single(file, f"YAML syntax error: {exc}") from None
    if node is None or data is None:
        raise ScenarioError.single(file, "the file holds only comments; start from "
                                   "`allocator init PATH` or a file in scenarios/")
    lines: dict[PathKey, int] = {}
    problems: list[Problem] = []
    _walk_yaml(node, (), lines, problems, file)
    if problems:
        raise ScenarioError(problems)
    return Source(file, data, lines)


def read_source(path: str | Path) -> Source:
    """Read a .yaml/.yml/.toml scenario file."""
    path = Path(path)
    file = str(path)
    if not path.exists():
        raise ScenarioError.single(file, "no such file; check the path "
                                   "(example scenarios are in scenarios/)")
    if path.is_dir():
        raise ScenarioError.single(file, "is a folder; give a .yaml or .toml scenario file")
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise ScenarioError.single(file, f"unknown file type '{suffix}'; a scenario is a "
                                   ".yaml, .yml or .toml file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScenarioError.single(file, "is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise ScenarioError.single(file, f"cannot be read: {exc.strerror}") from None
    return parse_text(text, file, "toml" if suffix == ".toml" else "yaml")

"""Reading scenario files: YAML or TOML text -> plain data, plus the line of every field."""

from __future__ import annotations

import gc
import re
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Problem, ScenarioError

__all__ = ["Source", "read_source", "parse_text", "parse_value", "format_path", "no_gc"]

PathKey = tuple[str | int, ...]


_MAP, _SEQ, _STR, _FLOAT = ("tag:yaml.org,2002:" + t for t in ("map", "seq", "str", "float"))
_MERGE = "tag:yaml.org,2002:merge"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's C parser when present
    """Safe YAML with numbers as YAML 1.2 reads them: `1e6` and `1.5e6` are numbers, where
    YAML 1.1 (PyYAML's default) reads them as text."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._plain: dict[str, str] = {}
        self._merges = "<<" in stream  # no '<<', no merge key: skip looking for one

    def resolve(self, kind, value, implicit):
        # a plain scalar's tag depends on its text alone: keys and words repeat thousands
        # of times in a big file, and the regular expressions were a third of the parse
        if kind is yaml.ScalarNode and implicit[0]:
            try:
                return self._plain[value]
            except KeyError:
                tag = self._plain[value] = super().resolve(kind, value, implicit)
                return tag
        return super().resolve(kind, value, implicit)

    # The parser calls these around every node for path resolvers, which this loader has
    # none of: no-ops spare a tenth of the parse.
    def descend_resolver(self, current_node, current_index):
        pass

    def ascend_resolver(self):
        pass

    def build(self, node: yaml.Node, path: PathKey, lines: dict, problems: list, file: str,
              shared: dict) -> Any:
        """The node's value, as the library's constructor gives it, noting on the way the
        line of every key and list item and each key given twice: one pass instead of
        construct + walk, most of the time a large file took. Tags other than plain maps,
        lists and strings go to the library's own constructors."""
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag == _FLOAT:
            try:  # the common case without the library's general float reader
                return float(node.value)
            except ValueError:  # .inf, 1:30, 1__0.5: the library knows them
                pass
        if isinstance(node, yaml.ScalarNode) and tag in self.yaml_constructors:
            return self.yaml_constructors[tag](self, node)  # numbers, booleans, null, dates
        if tag not in (_MAP, _SEQ):
            return self.construct_object(node, deep=True)
        if id(node) in shared:  # an alias: the same object, as the library makes it
            return shared[id(node)]
        if isinstance(node, yaml.SequenceNode):
            items = shared[id(node)] = []
            for i, item in enumerate(node.value):
                lines[path + (i,)] = item.start_mark.line + 1
                items.append(self.build(item, path + (i,), lines, problems, file, shared))
            return items
        own = None  # the keys written here, not merged in
        if self._merges and any(k.tag == _MERGE for k, _ in node.value):  # `<<: *base`
            own = {id(k) for k, _ in node.value}
            self.flatten_mapping(node)  # the library merges
        out = shared[id(node)] = {}
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if key_node.tag == _STR else \
                self.build(key_node, path, lines, problems, file, shared)
            line = key_node.start_mark.line + 1
            if own is None or id(key_node) in own:
                try:
                    first = seen.get(key)
                except TypeError:  # a list or mapping as a key
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        "found unhashable key", key_node.start_mark) from None
                if first is None:
                    seen[key] = line
                else:
                    problems.append(Problem(file, format_path(path + (key,)),
                                            f"duplicate key '{key}' (first given on line "
                                            f"{first}); keep one of them", line))
            sub = path + (key,)
            lines[sub] = line
            out[key] = value_node.value if value_node.tag == _STR else \
                self.build(value_node, sub, lines, problems, file, shared)
        return out


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"))

# A few kB of nested aliases ("billion laughs") expand to gigabytes; a real scenario that
# reuses an anchored curve stays far below this.
ALIAS_EXPANSION = 4
ALIAS_FLOOR = 100_000


@dataclass
class Source:
    """Parsed file content and where each field stands in it (YAML only gives lines)."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)
    overrides: dict[PathKey, str] = field(default_factory=dict)  # path -> "--set PATH=VALUE"

    def line_of(self, path: PathKey) -> int | None:
        """Line of the deepest part of `path` that exists in the file."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def blame(self, path: PathKey, file: str | None = None) -> tuple[str, int | None]:
        """Where a problem at `path` comes from: the override that set it (`--set PATH=VALUE`),
        else the file (or the name given for it) and the line."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.overrides:
                return self.overrides[path[:end]], None
        return file or self.file, self.line_of(path)


def format_path(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _expanded_size(root: yaml.Node, file: str) -> tuple[int, int]:
    """(values written, values once aliases are expanded), without expanding anything."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            if sizes[key] < 0:
                raise ScenarioError.single(file, "a YAML alias refers to the value that holds "
                                           "it (a loop); write the value out instead",
                                           line=node.start_mark.line + 1)
            return sizes[key]
        sizes[key] = -1  # being counted: meeting it again below is a loop
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(v) for v in node.value)
        else:
            total = 1
        sizes[key] = total
        return total

    total = size(root)
    return len(sizes), total


def _check_aliases(node: yaml.Node, text: str, file: str) -> None:
    """Refuse a file whose aliases expand it far beyond what is written (billion laughs)."""
    if "*" not in text:  # no '*', no alias: nothing to count
        return
    written, expanded = _expanded_size(node, file)
    if expanded > max(ALIAS_FLOOR, ALIAS_EXPANSION * written):
        raise ScenarioError.single(file, f"YAML aliases (*name) expand {written:,} written "
                                   f"values to {expanded:,}; refused beyond {ALIAS_FLOOR:,} "
                                   f"or {ALIAS_EXPANSION}x the values written: write the "
                                   "repeated parts out")


@contextmanager
def no_gc():
    """The cyclic collector off while a big file turns into millions of small objects: it
    would rescan them all again and again (2 of the 3 seconds a 4 MB file takes)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _parse_yaml(text: str, file: str) -> Source:
    """One parse (in C when libyaml is there): compose, refuse alias bombs, construct, and
    note the line of every field. The node tree is dropped on return."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = None
        if node is not None:
            _check_aliases(node, text, file)
            lines: dict[PathKey, int] = {(): node.start_mark.line + 1}
            problems: list[Problem] = []
            data = loader.build(node, (), lines, problems, file, {})
    finally:
        loader.dispose()
    if data is None:
        raise ScenarioError.single(file, "the file holds only comments; start from "
                                   "`allocator init PATH` or a file in scenarios/")
    if problems:
        raise ScenarioError(problems)
    return Source(file, data, lines)


def parse_text(text: str, file: str, fmt: str = "yaml") -> Source:
    """Parse YAML or TOML text; syntax errors become a ScenarioError with the line."""
    text = text.removeprefix("\ufeff")  # a byte-order mark, as Windows editors write it
    if not text.strip():
        raise ScenarioError.single(file, "the file is empty; start from `allocator init PATH` "
                                   "or a file in scenarios/")
    try:
        with no_gc():
            if fmt == "toml":
                return Source(file, tomllib.loads(text))
            return _parse_yaml(text, file)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError.single(file, f"TOML syntax error: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(s for s in (exc.context, exc.problem) if s)
        raise ScenarioError.single(file, f"YAML syntax error: {what}; check indentation, "
                                   "colons and quotes around this line", line=line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError.single(file, f"YAML syntax error: {exc}") from None
    except RecursionError:
        raise ScenarioError.single(file, "values are nested too deeply to be a scenario; "
                                   "check the brackets and indentation") from None


def parse_value(text: str, where: str = "--set") -> Any:
    """One value as the scenario loader reads it (`--set` values): YAML, 1e6 a number."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_aliases(node, text, where)
        return loader.construct_document(node)
    finally:
        loader.dispose()


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

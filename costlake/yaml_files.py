"""Reading the YAML files people write (costlake.yaml, tag rules, capability and price tables)
within limits, so a hostile or mistaken file fails at once with a clear error.

PyYAML's safe loader builds each anchored value once, but whoever walks the result (pydantic,
a printer, a node walker) expands every alias: nine levels of ten aliases ("billion laughs")
stand for 10**9 strings in a 1 KiB file. So the document is composed first, counting aliases as
they are met (at most ``MAX_ALIASES``), and the number of values it stands for once expanded is
counted over its distinct nodes (at most ``MAX_NODES``) before anything is built from it. Files
over ``MAX_BYTES`` are refused unread.

Messages say where (line, column) and what PyYAML found wrong, but never quote the line: it may
be a ``password: ...`` written into the wrong file by mistake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024  # these files are a few KiB
MAX_ALIASES = 100  # YAML aliases (*name) in one file
MAX_NODES = 100_000  # values in the document once every alias is expanded


class YamlFileError(ValueError):
    """A YAML file that cannot be read: ``line`` (1-based, None when it is the whole file) and
    ``reason`` (never quoting the file); ``str()`` is ``line N, column M: reason``."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None) -> None:
        self.reason, self.line, self.column = reason, line, column
        where = f"line {line}" + (f", column {column}" if column else "") + ": " if line else ""
        super().__init__(where + reason)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting the aliases it meets."""

    aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise YamlFileError(f"more than {MAX_ALIASES} YAML aliases", mark.line + 1)
        return super().compose_node(parent, index)


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values ``node`` stands for once its aliases are expanded; each distinct node
    is counted once (``sizes``), so this takes time in the nodes written, not expanded."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # a node that contains itself counts once
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    else:
        size = 1
    sizes[id(node)] = min(size, MAX_NODES + 1)
    return sizes[id(node)]


def _refusal(exc: yaml.YAMLError) -> YamlFileError:
    """What PyYAML found wrong and where, without the snippet of the line it quotes."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        reason = ": ".join(p for p in (exc.context, exc.problem) if p) or type(exc).__name__
        if mark is None:
            return YamlFileError(reason)
        return YamlFileError(reason, mark.line + 1, mark.column + 1)
    return YamlFileError(type(exc).__name__)


def _document(text: str | bytes, build: bool) -> Any:
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_NODES:
            raise YamlFileError(f"its aliases expand to more than {MAX_NODES} values")
        return loader.construct_document(node) if build else node
    except yaml.YAMLError as exc:
        refusal = _refusal(exc)
    finally:
        loader.dispose()
    raise refusal  # outside the handler: the YAML error, which quotes the line, is not chained


def compose(text: str | bytes) -> yaml.Node | None:
    """The document's node tree (with line numbers), within the limits; ``YamlFileError``
    saying where and what, without quoting the file."""
    return _document(text, build=False)


def load(text: str | bytes) -> Any:
    """The document as Python values (``yaml.safe_load``), within the limits."""
    return _document(text, build=True)


def read_text(path: str | Path) -> str:
    """A YAML file's text, refused (``YamlFileError``) beyond ``MAX_BYTES`` or when it is not
    UTF-8; ``OSError`` as ``open`` raises it."""
    with open(path, "rb") as stream:
        data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise YamlFileError(f"larger than {MAX_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(f"not UTF-8 text (byte {exc.start})") from None

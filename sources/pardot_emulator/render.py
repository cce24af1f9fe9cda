"""Serialising response trees: Pardot's XML envelope and its XML-to-JSON rendering.

XML: ``<rsp stat="ok" version="1.0">`` around the tree, text escaped, empty values as
empty elements, money with two decimals. JSON: the same tree the way Pardot converts
it, root attributes under ``@attributes`` (``version`` the number 1), typed leaves,
``null`` for empty, and a repeated tag becomes an object when it occurs once, an array
when it occurs more often, and is absent when it does not occur.
"""

import json
from typing import Any

from .views import Node
from .xmltext import XML_DECLARATION, escape


def _xml(node: Node, out: list[str]) -> None:
    tag, content = node
    if isinstance(content, list):
        if not content:
            out.append(f"<{tag}/>")
            return
        out.append(f"<{tag}>")
        for child in content:
            _xml(child, out)
        out.append(f"</{tag}>")
    elif content is None:
        out.append(f"<{tag}/>")
    elif isinstance(content, str):
        out.append(f"<{tag}>{escape(content)}</{tag}>")
    elif isinstance(content, float):
        out.append(f"<{tag}>{content:.2f}</{tag}>")
    else:
        out.append(f"<{tag}>{content}</{tag}>")


def xml_ok(nodes: list[Node]) -> bytes:
    """A success envelope around ``nodes``."""
    out = [XML_DECLARATION, '<rsp stat="ok" version="1.0">\n']
    for node in nodes:
        _xml(node, out)
        out.append("\n")
    out.append("</rsp>\n")
    return "".join(out).encode("utf-8")


def xml_error(code: int, message: str, param: str | None = None) -> bytes:
    """A failure envelope with one ``<err>``."""
    attr = f' param="{escape(param)}"' if param else ""
    return (
        f'{XML_DECLARATION}<rsp stat="fail" version="1.0">\n'
        f'   <err code="{code}"{attr}>{escape(message)}</err>\n</rsp>\n'
    ).encode()


def _json_value(content: Any) -> Any:
    if isinstance(content, list):
        return _json_children(content) if content else None
    return content


def _json_children(nodes: list[Node]) -> dict[str, Any]:
    grouped: dict[str, list[Any]] = {}
    for tag, content in nodes:
        grouped.setdefault(tag, []).append(_json_value(content))
    return {tag: values[0] if len(values) == 1 else values for tag, values in grouped.items()}


def json_ok(nodes: list[Node]) -> bytes:
    """The JSON rendering of a success envelope."""
    doc: dict[str, Any] = {"@attributes": {"stat": "ok", "version": 1}}
    doc.update(_json_children(nodes))
    return json.dumps(doc, separators=(",", ":")).encode()


def json_error(code: int, message: str) -> bytes:
    """The JSON rendering of a failure envelope."""
    doc = {"@attributes": {"stat": "fail", "version": 1, "err_code": code}, "err": message}
    return json.dumps(doc, separators=(",", ":")).encode()

"""A report as a list of simple blocks, rendered to Markdown (with PNG files beside it) or to one
self-contained HTML page (PNG images inlined as base64, no external resources; the only script is
the inline one of a :class:`RawHtml` block such as the comparison slider).
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from replication.fsutil import atomic_open, write_text_atomic


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str  # plain text; `code` spans and **bold** are understood by both renderers


@dataclass(frozen=True)
class Banner:
    text: str
    comparable: bool  # True: results at the paper's scale; False: smoke/study, NOT comparable


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Image:
    name: str  # file name used by the Markdown renderer (under the static dir), e.g. "curves_net.png"
    png: bytes
    caption: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class RawHtml:
    html: str  # a self-contained fragment built by this package (e.g. report/slider.py), inserted as is
    markdown: str  # what the Markdown renderer writes in its place


@dataclass(frozen=True)
class Details:
    """A collapsed section: ``summary`` is always shown, ``blocks`` after a click (``<details>``, which
    GitHub's Markdown renders too)."""

    summary: str
    blocks: tuple[Heading | Paragraph | Table | Image | Bullets, ...]


Block = Heading | Paragraph | Banner | Table | Image | Bullets | RawHtml | Details


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Document, static_dir: str) -> tuple[str, dict[str, bytes]]:
    """(Markdown text, {relative path: PNG bytes}) — the caller writes the PNGs beside the file."""
    out = [f"# {doc.title}", ""]
    files: dict[str, bytes] = {}
    _md_blocks(doc.blocks, static_dir, out, files)
    return "\n".join(out), files


def _md_blocks(blocks, static_dir: str, out: list[str], files: dict[str, bytes]) -> None:
    for b in blocks:
        if isinstance(b, Details):
            out += ["<details>", f"<summary>{html.escape(b.summary)}</summary>", ""]
            _md_blocks(b.blocks, static_dir, out, files)
            out += ["</details>", ""]
        elif isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Paragraph):
            out += [b.text, ""]
        elif isinstance(b, Banner):
            mark = "✅" if b.comparable else "⚠️"
            out += [f"> {mark} **{b.text}**", ""]
        elif isinstance(b, Bullets):
            out += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, Table):
            if b.caption:
                out += [f"*{b.caption}*", ""]
            out.append("| " + " | ".join(_md_cell(c) for c in b.columns) + " |")
            out.append("|" + "|".join("---" for _ in b.columns) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("")
        elif isinstance(b, Image):
            rel = f"{static_dir}/{b.name}"
            files[rel] = b.png
            out += [f"![{b.caption}]({rel})", "", f"*{b.caption}*", ""]
        elif isinstance(b, RawHtml):
            out += [b.markdown, ""]


_INLINE = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
]


def _inline_html(text: str) -> str:
    text = html.escape(text, quote=False)
    for pattern, repl in _INLINE:
        text = pattern.sub(repl, text)
    return text


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em;max-width:100%}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top;overflow-wrap:break-word}
td code,th code,li code{overflow-wrap:anywhere}
th{background:#f3f3f3}
caption{caption-side:top;text-align:left;font-style:italic;padding:.3em 0}
.banner{padding:1em;margin:1em 0;font-weight:bold;font-size:1.1em;border-radius:4px}
.banner.no{background:#fde2e1;border:2px solid #c0392b}
.banner.yes{background:#e3f6e5;border:2px solid #2e8b57}
figure{margin:1em 0}
figure img{max-width:100%;box-sizing:border-box;border:1px solid #ddd}
figcaption{font-style:italic;font-size:.9em}
details{margin:.5em 0 1.5em}
summary{cursor:pointer;font-weight:bold}
code{background:#f4f4f4;padding:0 .2em}
"""


def to_html(doc: Document) -> str:
    """One self-contained page: inline CSS, images as data: URIs, no network (scripts only in RawHtml)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(doc.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(doc.title)}</h1>",
    ]
    _html_blocks(doc.blocks, parts)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_blocks(blocks, parts: list[str]) -> None:
    for b in blocks:
        if isinstance(b, Details):
            parts.append(f"<details><summary>{_inline_html(b.summary)}</summary>")
            _html_blocks(b.blocks, parts)
            parts.append("</details>")
        elif isinstance(b, Heading):
            parts.append(f"<h{b.level}>{_inline_html(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            parts.append(f"<p>{_inline_html(b.text)}</p>")
        elif isinstance(b, Banner):
            parts.append(f'<div class="banner {"yes" if b.comparable else "no"}">{_inline_html(b.text)}</div>')
        elif isinstance(b, Bullets):
            parts.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            cap = f"<caption>{_inline_html(b.caption)}</caption>" if b.caption else ""
            head = "".join(f"<th>{_inline_html(c)}</th>" for c in b.columns)
            body = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in b.rows)
            parts.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(b, Image):
            data = base64.b64encode(b.png).decode("ascii")
            alt = html.escape(b.caption)
            parts.append(
                f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"><figcaption>{alt}</figcaption></figure>'
            )
        elif isinstance(b, RawHtml):
            parts.append(b.html)


def write_markdown(doc: Document, path: Path, static_dir: str = "static") -> list[Path]:
    """Write ``path`` and its PNGs (under ``path.parent / static_dir``) atomically; returns every file."""
    text, files = to_markdown(doc, static_dir)
    written = []
    for rel, png in files.items():
        target = path.parent / rel
        with atomic_open(target, "wb") as fh:
            fh.write(png)
        written.append(target)
    write_text_atomic(path, text)
    return [*written, path]

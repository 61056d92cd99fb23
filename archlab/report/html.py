"""report.html: the document as one self-contained page (CSS inline, charts as data URIs,
no network)."""

import base64
from pathlib import Path

import jinja2

from archlab.report.content import Document, Figure, Para, Table


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _block(block, charts: dict[str, Path]) -> tuple[str, object, str]:
    if isinstance(block, Para):
        return "para", block, ""
    if isinstance(block, Table):
        return "table", block, ""
    if isinstance(block, Figure):
        return "figure", block, _data_uri(charts[block.name])
    raise TypeError(f"no HTML for {type(block).__name__}")


def render(doc: Document, charts: dict[str, Path]) -> str:
    """The page's HTML; `charts` maps a figure's name to its PNG file."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("archlab.report", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    sections = [{"id": s.id, "title": s.title,
                 "blocks": [_block(b, charts) for b in s.blocks]} for s in doc.sections]
    return env.get_template("report.html.j2").render(
        doc={"title": doc.title, "subtitle": doc.subtitle, "sections": sections})

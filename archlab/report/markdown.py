"""report.md: the same document in Markdown, linking charts/*.png."""

from archlab.report.content import Document, Figure, Para, Table


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> list[str]:
    rule = ["---:" if a == "r" else "---" for a in t.align]
    lines = ["| " + " | ".join(_cell(c) or " " for c in t.columns) + " |",
             "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows]
    return lines + (["", f"*{t.caption}*"] if t.caption else [])


def _block(block) -> list[str]:
    if isinstance(block, Para):
        text = f"**{block.term}** {block.text}" if block.term else block.text
        if block.kind == "lead":
            return [f"**{text}**"]
        return [f"> **Caution:** {text}"] if block.kind == "warning" else [text]
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return [f"![{block.title}](charts/{block.name}.png)", "",
                f"*{block.title}.* {block.caption}"]
    raise TypeError(f"no Markdown for {type(block).__name__}")


def render(doc: Document) -> str:
    """The report as Markdown text."""
    lines = [f"# {doc.title}", "", doc.subtitle, ""]
    lines += [f"- [{s.title}](#{s.id})" for s in doc.sections] + [""]
    for s in doc.sections:
        lines += [f'<a id="{s.id}"></a>', "", f"## {s.title}", ""]
        for block in s.blocks:
            lines += _block(block) + [""]
    lines.append("Built by `archlab report` from the raw files of this run folder.")
    return "\n".join(lines) + "\n"

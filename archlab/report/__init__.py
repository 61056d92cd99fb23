"""`archlab report`: summary.json, charts/*.png, report.html and report.md of a run
folder, rebuilt from its raw files alone (which are only ever read)."""

import json
from pathlib import Path

from archlab.errors import LabError
from archlab.report import content, html, markdown
from archlab.report.raw import read_run
from archlab.report.summary import build_summary


def build(run_dir: Path) -> Path:
    """Rebuild everything derived in `run_dir`; returns the path of report.html."""
    run_dir = Path(run_dir)
    summary = build_summary(read_run(run_dir))
    try:
        from archlab.report import charts
    except ImportError as exc:
        raise LabError(f"charts need matplotlib ({exc}); install the bench extra: "
                       "pip install -e '.[bench]'") from None
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    files = charts.draw_all(summary, run_dir / "charts")
    doc = content.document(summary, set(files))
    (run_dir / "report.md").write_text(markdown.render(doc))
    out = run_dir / "report.html"
    out.write_text(html.render(doc, files))
    return out

"""An executed notebook as one HTML file that opens offline: nbconvert's templates, else a plain page of our own."""

from __future__ import annotations

import html
import re
from pathlib import Path

from fallkd_lib.io import write_text_atomic

TEMPLATES = ("lab", "classic", "basic")  # nbconvert's, tried in order; a pip install without them uses ours
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def notebook_html(nb) -> str:
    """The notebook as HTML with nbconvert's first template found offline, else plain_html."""
    try:
        from nbconvert import HTMLExporter
    except ImportError:
        return plain_html(nb)
    for template in TEMPLATES:
        try:
            body, _ = HTMLExporter(template_name=template).from_notebook_node(nb)
            return body
        except Exception:  # noqa: BLE001 - a missing template or theme shows up as jinja, OSError or ValueError
            continue
    return plain_html(nb)


def _output_html(output: dict) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return f"<pre>{html.escape(ANSI.sub('', output.get('text', '')))}</pre>"
    if kind == "error":
        trace = ANSI.sub("", "\n".join(output.get("traceback", [])))
        return f'<pre class="error">{html.escape(trace)}</pre>'
    data = output.get("data", {})
    if "image/png" in data:
        return f'<img src="data:image/png;base64,{data["image/png"].strip()}">'
    if "text/html" in data:
        return data["text/html"]
    if "text/plain" in data:
        return f"<pre>{html.escape(ANSI.sub('', data['text/plain']))}</pre>"
    return ""


def plain_html(nb) -> str:
    """A minimal page: markdown and code as preformatted text, text, HTML, PNG and error outputs."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(f'<div class="md"><pre>{html.escape(cell.source)}</pre></div>')
        elif cell.cell_type == "code":
            parts.append(f'<pre class="code">{html.escape(cell.source)}</pre>')
            parts.extend(_output_html(output) for output in cell.get("outputs", []))
    style = "pre.code{background:#f4f4f4;padding:6px}pre.error{color:#a00}.md pre{font-family:sans-serif}"
    return f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><style>{style}</style></head><body>\n" + (
        "\n".join(parts) + "\n</body></html>\n"
    )


def write_notebook_html(nb, path: str | Path) -> Path:
    """Write the notebook's HTML to path, atomically."""
    return write_text_atomic(path, notebook_html(nb))

"""Write a generated section into a doc (default docs/performance.md) between ``<!-- name:begin -->`` and
``<!-- name:end -->``; the file is replaced atomically. A doc without the markers gets the section appended
(under ``heading``, unless the doc has that line already)."""

from __future__ import annotations

import os
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def write_section(name: str, body: str, doc: Path = DOC, heading: str | None = None) -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = doc.read_text() if doc.exists() else "# Performance\n"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        if heading is not None and heading not in text.splitlines():
            text = text.rstrip() + f"\n\n{heading}"
        text = text.rstrip() + f"\n\n{block}\n"
    doc.parent.mkdir(exist_ok=True)
    tmp = doc.with_suffix(doc.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, doc)

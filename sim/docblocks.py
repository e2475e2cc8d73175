"""Generated blocks in the docs: text between ``<!-- BEGIN name -->`` and ``<!-- END name -->``
that a command writes (its name is stamped next to the block)."""

from __future__ import annotations

import re


def replace_block(text: str, name: str, body: str) -> str:
    """Replace the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->``."""
    pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"the document lacks the markers <!-- BEGIN {name} --> ... <!-- END {name} -->")
    return pattern.sub(lambda m: m.group(1) + body.strip() + "\n" + m.group(2), text)

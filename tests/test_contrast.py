"""Colour contrast of the stylesheet's text/background pairs (WCAG 2.1 AA: 4.5:1 for text)."""

import re

import pytest

from app.config import PROJECT_ROOT

CSS = (PROJECT_ROOT / "app" / "static" / "maillage.css").read_text()
VARS = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{3,6})", CSS))


def luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def ratio(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize("text,background,what", [
    ("ink", "#ffffff", "body text"),
    ("accent", "#ffffff", "links and secondary buttons"),
    ("#ffffff", "accent", "primary buttons, selected suggestion"),
    ("muted", "#ffffff", "hints"),
    ("warn-ink", "warn-bg", "demo banner, warnings, à confirmer"),
    ("ok", "#ffffff", "« Pourquoi » lines, the tenant's own landlord, the sector's CMP"),
    ("bad", "#ffffff", "« Aucun … » lines"),
    ("bad", "#fde8e8", "error boxes"),
])
def test_text_contrast_meets_aa(text, background, what):
    colour = lambda v: v if v.startswith("#") else VARS[v]  # noqa: E731
    assert ratio(colour(text), colour(background)) >= 4.5, what

"""``distill lint``: rules over notebook analyses, the engine that applies them, output formats."""

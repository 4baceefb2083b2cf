"""Static analysis of Python source: frozen records made by pure functions (stdlib only)."""

"""The command line: thin commands over the API; the only place that prints and exits."""

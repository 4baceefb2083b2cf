"""Pipelines: the ``@step`` decorator, projects, the graph and its params."""

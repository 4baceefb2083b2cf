"""Helpers of Nb: the functions and classes the notebook defined.

The notebook variables a function used to read are now keyword-only parameters (of
`__init__` for a class, which keeps them as attributes).
"""

import contextlib
import re
import sqlite3
from pathlib import Path


def run_query(sql_file, database, parameters, setup=None):
    """Rows of the query in ``sql_file`` as a DataFrame.

    ``database`` is a SQLite file (a ``Path``), a SQLAlchemy URL, or ``None``: a new SQLite
    database in memory, built by running the SQL file ``setup`` first. A ``:name`` in the
    query is bound to ``parameters[name]``; a ``{name}`` is replaced by its value, which must be
    a number or a plain name (a column or a table), or, written ``'{name}'``, text without a quote.
    """
    import pandas as pd

    def put(match):
        name = match.group(1) or match.group(2)
        value = parameters[name]
        if match.group(1) and "'" not in str(value):
            return f"'{value}'"  # NB: written in quotes, '{name}': any text without a quote
        if isinstance(value, (int, float)) or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(value)):
            return str(value)
        raise ValueError(f"{{{name}}} in {sql_file} must be a number or a name, not {value!r}: set the param "
                         f"{name} to one, or write '{{{name}}}' in quotes in the query for text")

    query = re.sub(r"'\{(\w+)\}'|\{(\w+)\}", put, Path(sql_file).read_text())
    if isinstance(database, Path):
        with contextlib.closing(sqlite3.connect(database)) as connection:
            return pd.read_sql_query(query, connection, params=parameters)
    if database is None:
        with contextlib.closing(sqlite3.connect(":memory:")) as connection:
            if setup is not None:
                connection.executescript(Path(setup).read_text())
            return pd.read_sql_query(query, connection, params=parameters)
    import sqlalchemy

    engine = sqlalchemy.create_engine(database)
    with engine.connect() as connection:
        return pd.read_sql_query(sqlalchemy.text(query), connection, params=parameters)

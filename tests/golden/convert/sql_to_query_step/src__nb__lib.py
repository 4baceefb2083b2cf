"""Helpers of Nb: the functions and classes the notebook defined.

The notebook variables a function used to read are now keyword-only parameters (of
`__init__` for a class, which keeps them as attributes).
"""

import contextlib
import sqlite3
from pathlib import Path


def run_query(sql_file, database, parameters):
    """Rows of the query in ``sql_file`` as a DataFrame, its ``:name`` placeholders bound.

    ``database`` is a SQLite file (a ``Path``) or a SQLAlchemy URL.
    """
    import pandas as pd

    query = Path(sql_file).read_text()
    if isinstance(database, Path):
        with contextlib.closing(sqlite3.connect(database)) as connection:
            return pd.read_sql_query(query, connection, params=parameters)
    import sqlalchemy

    engine = sqlalchemy.create_engine(database)
    with engine.connect() as connection:
        return pd.read_sql_query(sqlalchemy.text(query), connection, params=parameters)

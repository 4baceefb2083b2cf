-- builds the in-memory database the queries after it run on, from these cells of nb.ipynb
-- cell 2
CREATE TABLE t (name, n);
INSERT INTO t VALUES ('a', 1);
INSERT INTO t VALUES ('b', 2);

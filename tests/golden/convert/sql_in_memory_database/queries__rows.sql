-- rows: from cell 4 of nb.ipynb
SELECT * FROM t WHERE {col} = 'b' AND n > :low

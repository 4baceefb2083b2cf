-- big: from cell 3 of nb.ipynb
SELECT customer, total FROM orders WHERE total >= :MIN_TOTAL ORDER BY total

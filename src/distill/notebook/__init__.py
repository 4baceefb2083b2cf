"""Reading Jupyter notebooks: files to frozen records, IPython syntax to analysable Python."""

"""Wine cultivar classification: an example distill project."""

"""Planning what is stale, and carrying the plan out."""

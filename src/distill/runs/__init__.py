"""The run registry: runs, step runs, the cache index."""

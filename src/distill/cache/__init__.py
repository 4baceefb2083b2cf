"""Fingerprints, keys, serializers and the content-addressed object store."""

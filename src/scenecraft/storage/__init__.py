"""Storage: content-addressed encrypted blobs (backends.py, crypto.py), assets and versions
(store.py), upload checks (uploads.py)."""

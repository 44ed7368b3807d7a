"""The HTTP API (FastAPI). Never imports torch: the API starts fast on a machine without a GPU."""

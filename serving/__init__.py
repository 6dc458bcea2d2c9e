"""The FastAPI service that serves the registry's active run (built on yts_assets.ml)."""

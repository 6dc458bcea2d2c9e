"""The platform core: configuration, paths, atomic files, manifest, registry and payload I/O. No Dagster, no ML."""

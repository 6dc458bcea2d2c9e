"""Plain data and ML logic for yts. Nothing in this package imports Dagster."""

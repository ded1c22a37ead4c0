"""A deterministic sample workspace generator, used by `gtmflow demo`."""

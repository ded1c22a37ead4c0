"""Prompt templates, one file per agent task, versioned."""

"""`python -m gtmflow` runs the command line."""

from gtmflow.cli import app

app()

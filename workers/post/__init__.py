"""Post-processing steps applied after the templates are merged (§6.3-§6.5), one module per concern."""

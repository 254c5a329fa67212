"""Reports of a run read from its journal: JSON, Markdown and self-contained HTML."""

"""Reports for people and for CI: terminal summaries (and, later, HTML, JUnit,
gates and comparisons).  Pure: they turn recorded figures into text."""

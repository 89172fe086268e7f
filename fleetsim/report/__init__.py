"""Reports for people and for CI: terminal summaries, the HTML report,
thresholds (gates) and their JUnit XML, comparisons of two runs.  Pure: they
turn recorded figures into text (folder.py reads a results folder with plain
file IO); the CLI writes the files."""

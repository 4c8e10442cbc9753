"""One module per pipeline stage: its parameter schema (`PARAMS`), and the tables, figures and findings
only that stage draws. A stage's notebook imports its own module and the shared ones it needs, so DVC
re-runs a stage when, and only when, code it uses changes."""

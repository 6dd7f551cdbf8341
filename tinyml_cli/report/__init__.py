"""Tables, Markdown/JSON reports and plots."""

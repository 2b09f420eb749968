"""Tables and plots: the reproduction report, rendered from jinja2 templates, and the matplotlib figures."""

"""What the filters did: the funnel in the terminal, report.html, and sampled documents per drop reason."""

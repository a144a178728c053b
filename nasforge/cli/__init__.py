"""The ``nasforge`` command line. Library code never parses arguments or exits; this package does."""

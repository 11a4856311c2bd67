"""The command-line interface; see ``edgeq --help``."""

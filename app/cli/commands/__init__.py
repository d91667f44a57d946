"""One module per subcommand. Each defines ``register(subparsers)`` which adds its parser
and sets ``func`` (taking the parsed args, returning an exit code)."""

"""Built-in sources; each is registered by an entry point in the `etl.sources` group."""

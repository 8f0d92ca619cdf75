"""runc's command line over the runtime library: parse, call, print, exit code.

`dispatch.main` parses the line and imports only the module of the verb it runs
(`create`, `lifecycle`, `query`, ...): start-up time is a feature. Nothing here is
imported eagerly.
"""

"""The supervisor: the one reaper of this process's children, process handles, the event
stream, the foreground `run`, and the async API that runs many containers in one process.

Nothing here is imported eagerly: each module is imported by the code that needs it.
"""

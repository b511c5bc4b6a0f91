"""One module per command: file-level orchestration over the library modules, callable without Click."""

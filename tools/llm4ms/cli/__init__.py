"""The ``llm4ms`` command line: one thin module per command over llm4ms.steps."""

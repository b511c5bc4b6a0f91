from .cli.main import main

main(prog_name="llm4ms")

"""`python -m mentora` runs the CLI."""

from mentora.cli import main

main()

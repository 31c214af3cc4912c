"""`python -m tribe.cli`, as `tribe run` starts the web app."""

from tribe.cli import main

main()

"""The political-legal committee's view of referred cases and their chains."""

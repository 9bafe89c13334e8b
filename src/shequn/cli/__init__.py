"""Command line (命令行): the ``shequn`` command, built with Typer and Rich.

Owns: parsing arguments, printing tables and JSON, turning user errors into one line and an exit status.
May import: everything (it is the outermost layer); it holds no logic of its own beyond presentation.
"""

"""The ``diffembed`` command line (typer + rich); see :mod:`diffembed.cli.app`.

Nothing is imported here, so ``import diffembed.cli`` stays cheap; the console script calls
:func:`diffembed.cli.app.main`.
"""

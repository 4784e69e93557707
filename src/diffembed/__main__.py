"""``python -m diffembed``: the ``diffembed`` command line."""

from diffembed.cli.app import main

if __name__ == "__main__":
    main()

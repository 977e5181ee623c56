"""``python -m tablevault_redis``: the same command line as ``tablevault-redis``."""

from .cli import main

if __name__ == "__main__":
    main()

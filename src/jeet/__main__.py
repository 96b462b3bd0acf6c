"""`python -m jeet`: the same as the `jeet` command."""

if __name__ == "__main__":  # worker processes re-import the main module; they must not re-run the CLI
    from .cli.main import app

    app()

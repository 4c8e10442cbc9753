"""The papers' numbers, each file with its source (SOURCES.md): `load_reference(name)`."""

from importlib import resources


def load_reference(name: str):
    """A paper-number file from avlib/reference (CSV -> DataFrame, YAML -> dict)."""
    file = resources.files("avlib") / "reference" / name
    if not file.is_file():
        raise FileNotFoundError(f"no reference file {name!r} in avlib/reference")
    if name.endswith(".csv"):
        import pandas as pd

        return pd.read_csv(file, comment="#")
    import yaml

    return yaml.safe_load(file.read_text())

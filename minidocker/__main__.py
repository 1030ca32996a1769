"""python -m minidocker"""
from .cli import entry

entry()

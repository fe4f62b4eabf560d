"""Small shared utilities (I/O, run metadata)."""

from sua_exp.utils.io import write_json_atomic, write_jsonl_atomic

__all__ = ["write_json_atomic", "write_jsonl_atomic"]

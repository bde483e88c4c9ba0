"""The workload of the co-design problem: GEMM layers and a small CSV table format.

Every layer is a GEMM ``(M x K) @ (K x N)`` run ``count`` times (a convolution in its GEMM
view: ``M = P*Q*batch``, ``K = C*R*S``, ``N = K_out``). A table is a CSV file with the header
``name,M,K,N,count`` (``count`` may be omitted and then defaults to 1), one layer a row::

    name,M,K,N,count
    resnet50.conv1,12544,147,64,1
    bert.ffn1,128,768,3072,1

The baseline workload of the spec (ResNet-50 and BERT-base, batch 1, about 2.45 GMAC)
ships with the package as ``default_layers.csv``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_LAYERS_CSV",
    "Layer",
    "default_layers",
    "load_layers",
    "read_layers_csv",
    "write_layers_csv",
]

#: The spec's baseline workload, shipped as package data.
DEFAULT_LAYERS_CSV = Path(__file__).with_name("default_layers.csv")

_COLUMNS = ("name", "M", "K", "N", "count")


@dataclass(frozen=True)
class Layer:
    """One GEMM layer: ``M x K`` times ``K x N``, executed ``count`` times."""

    name: str
    M: int
    K: int
    N: int
    count: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"layer name must be a non-empty string, got {self.name!r}")
        for field in ("M", "K", "N", "count"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"layer {self.name!r}: {field} must be a positive integer, got {value!r}"
                )

    @property
    def macs(self) -> int:
        """Multiply-accumulates of all ``count`` executions."""
        return self.M * self.K * self.N * self.count

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "M": self.M, "K": self.K, "N": self.N, "count": self.count}


def _to_int(value: Any, what: str) -> int:
    """Parse an integer field strictly (``"12"`` and ``12`` pass, ``"1.5"`` and ``True`` fail)."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{what} must be a positive integer, got {value!r}")


def _layer_from_mapping(row: Mapping[str, Any], where: str) -> Layer:
    missing = [c for c in ("name", "M", "K", "N") if c not in row or row[c] in (None, "")]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}; needed: name, M, K, N[, count]")
    unknown = sorted(set(row) - set(_COLUMNS))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; valid: {', '.join(_COLUMNS)}")
    count = row.get("count")
    name = str(row["name"]).strip()
    return Layer(
        name=name,
        M=_to_int(row["M"], f"{where} ({name}): M"),
        K=_to_int(row["K"], f"{where} ({name}): K"),
        N=_to_int(row["N"], f"{where} ({name}): N"),
        count=1 if count in (None, "") else _to_int(count, f"{where} ({name}): count"),
    )


def _check_unique(layers: Sequence[Layer]) -> None:
    names = [layer.name for layer in layers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"layer names must be unique, duplicated: {duplicates}")


def read_layers_csv(path: str | os.PathLike[str]) -> tuple[Layer, ...]:
    """Read a layer table (CSV with columns ``name,M,K,N[,count]``).

    Errors name the file and what was expected, never the file's contents (a wrong path
    may point at a file that is not a layer table).
    """
    path = Path(path)
    expected = "a CSV text file whose first line is the header name,M,K,N[,count]"
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            if not {"name", "M", "K", "N"} <= set(header):
                raise ValueError(
                    f"{path}: not a layer table: its first line lacks the columns "
                    f"name, M, K, N; expected {expected}"
                )
            rows = [
                _layer_from_mapping(
                    {k.strip(): v for k, v in row.items() if k is not None}, f"{path}:{i + 2}"
                )
                for i, row in enumerate(reader)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(
            f"{path}: cannot read the layer table ({type(exc).__name__}); expected {expected}"
        ) from None
    if not rows:
        raise ValueError(f"{path}: the layer table is empty")
    _check_unique(rows)
    return tuple(rows)


def write_layers_csv(layers: Iterable[Layer], path: str | os.PathLike[str]) -> Path:
    """Write ``layers`` as a CSV table readable by :func:`read_layers_csv`."""
    path = Path(path)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(_COLUMNS))
        writer.writeheader()
        for layer in layers:
            writer.writerow(layer.as_dict())
    return path


def default_layers() -> tuple[Layer, ...]:
    """The spec's baseline workload (ResNet-50 and BERT-base GEMMs, batch 1)."""
    return read_layers_csv(DEFAULT_LAYERS_CSV)


def load_layers(
    layers: str | os.PathLike[str] | Sequence[Layer | Mapping[str, Any]] | None,
) -> tuple[Layer, ...]:
    """Normalise a layer specification: ``None`` (baseline), a CSV path, or a sequence of
    :class:`Layer` objects or dicts with keys ``name, M, K, N[, count]``."""
    if layers is None:
        return default_layers()
    if isinstance(layers, (str, os.PathLike)):
        return read_layers_csv(layers)
    if isinstance(layers, Mapping) or not isinstance(layers, Sequence):
        raise TypeError(
            "layers must be None, a CSV path, or a sequence of Layer objects / dicts with "
            f"keys name, M, K, N[, count]; got {type(layers).__name__}"
        )
    out: list[Layer] = []
    for i, item in enumerate(layers):
        if isinstance(item, Layer):
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(_layer_from_mapping(item, f"layers[{i}]"))
        else:
            raise TypeError(
                f"layers[{i}] must be a Layer or a dict with keys name, M, K, N[, count]; "
                f"got {type(item).__name__}"
            )
    if not out:
        raise ValueError("layers must contain at least one layer")
    _check_unique(out)
    return tuple(out)

"""The training configuration ("hypes" JSON): the authors' keys plus ours, checked against one table.

The table lives in :mod:`refinet_edge.hypes_schema` (its names are re-exported
here): :data:`SCHEMA` maps every ``(section, key)`` (section ``""`` = top level)
to its accepted JSON types and default (:data:`REQUIRED` = no default). Keys the
authors' files carry but that change nothing here are listed in
:data:`NO_EFFECT` (:meth:`Hypes.unused_keys` names the ones a file sets).

Resolution rules, all checked at load time:

* ``data.type`` accepts the authors' names (depth, base/vitruvian, pcloud) and
  ours; it is stored as the stage name: patch, skeleton or pointcloud.
* The model config is ``model.preset`` with the ``model.*`` fields applied.
  The authors' keys ``data.num_keypoints``, ``data.patch_dim`` (patch) and
  ``network.linear_size/residual/batch_norm/dropout`` (skeleton; dropout
  true = the preset's rate, false = 0) set the same fields; giving both with
  different values is an error. ``network.activation`` must be relu.
* ``data_aug.sigma/mu`` (authors) are the stage's noise: ``noise.sigma_px/mu_px``
  for patch and skeleton, ``noise.sigma_mm/mu_mm`` for pointcloud; giving both
  with different values is an error.
* ``preprocess.mode`` (metric | authors) is the default mode of the free-form
  ``preprocess.patch/points/skeleton`` dicts (keys: :data:`PREPROCESS_KEYS`);
  :meth:`Hypes.preprocess_settings` turns them into the configs' keyword
  arguments (patch "authors" -> itop_authors or baracca_authors by dataset).
* Overrides (the authors' ``main.py`` style): ``--batch_size 32`` (a leaf name,
  unique across sections), ``--data.batch_size 32``, ``--key=value``; values
  parse as JSON when they can (numbers, true/false, null, lists), else strings.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import RefinetError, did_you_mean
from .hypes_schema import (
    CHECKS,
    CHOICES,
    NO_EFFECT,
    PREPROCESS_KEYS,
    PREPROCESS_MODES,
    REQUIRED,
    SCHEMA,
    SECTIONS,
    STAGE_ALIASES,
    TYPE_NAMES,
)
from .models.config import CONFIG_CLASSES, ModelConfig, preset_config
from .stage_io import NUM_EVIDENCE, NUM_PATCH_EVIDENCE

_TYPE_NAMES = TYPE_NAMES  # scripts/hypes_reference.py reads the type names from here

__all__ = ["CHECKS", "CHOICES", "NO_EFFECT", "PREPROCESS_KEYS", "PREPROCESS_MODES", "REQUIRED", "SCHEMA", "SECTIONS",
           "STAGE_ALIASES", "Hypes", "Section", "dump_hypes", "load_hypes", "parse_overrides"]


def _dotted(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types) or (float in types and isinstance(value, int))


def _check_value(section: str, key: str, value: Any, where: str) -> Any:
    """Type-, choice- and range-check one value; returns it (choices normalised)."""
    types, _ = SCHEMA[(section, key)]
    name = _dotted(section, key)
    if not _type_ok(value, types):
        expected = " or ".join(dict.fromkeys(TYPE_NAMES[t] for t in types))
        raise RefinetError(f"{where}: {name} must be {expected}, got {json.dumps(value)}")
    if (section, key) in CHOICES:
        choices = CHOICES[(section, key)]
        match = [c for c in choices if c.lower() == value.lower()]
        if not match:
            raise RefinetError(f"{where}: {name} must be one of {', '.join(choices)}, got {value!r}"
                               f"{did_you_mean(value, choices)}")
        value = STAGE_ALIASES[match[0]] if (section, key) == ("data", "type") else match[0]
    check = CHECKS.get((section, key))
    if check and value is not None and not check[0](value):
        raise RefinetError(f"{where}: {name} must be {check[1]}, got {json.dumps(value)}")
    if section == "preprocess" and key in PREPROCESS_KEYS:
        for sub in value:
            if sub not in PREPROCESS_KEYS[key]:
                raise RefinetError(f"{where}: unknown key '{name}.{sub}'{did_you_mean(sub, PREPROCESS_KEYS[key])}; "
                                   f"valid: {', '.join(PREPROCESS_KEYS[key])}")
        if value.get("mode", "metric") not in PREPROCESS_MODES[key]:
            raise RefinetError(f"{where}: {name}.mode must be one of {', '.join(PREPROCESS_MODES[key])}, "
                               f"got {value['mode']!r}")
    return value


def _unknown(where: str, section: str, key: str) -> RefinetError:
    here = [k for s, k in SCHEMA if s == section]
    elsewhere = [_dotted(s, k) for s, k in SCHEMA if k == key and s != section]
    hint = f" (it belongs in {', '.join(elsewhere)})" if elsewhere else did_you_mean(key, here)
    scope = f"section {section!r}" if section else "the top level"
    return RefinetError(f"{where}: unknown key {_dotted(section, key)!r}{hint}; valid in {scope}: {', '.join(here)}")


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise RefinetError(f"{path}: hypes file not found")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RefinetError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise RefinetError(f"{path}: a hypes file must hold a JSON object, got {type(raw).__name__}")
    return raw


def _flatten(raw: dict, where: str) -> dict[tuple[str, str], Any]:
    """The file's values keyed by (section, key), unknown keys rejected."""
    flat = {}
    for key, value in raw.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise RefinetError(f"{where}: {key!r} must be an object, got {json.dumps(value)}")
            for sub, sub_value in value.items():
                if (key, sub) not in SCHEMA:
                    raise _unknown(where, key, sub)
                flat[(key, sub)] = sub_value
        elif ("", key) in SCHEMA:
            flat[("", key)] = value
        else:
            raise _unknown(where, "", key)
    return flat


def parse_overrides(overrides: list[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """``["--batch_size", "32", "--data.from_gt=false"]`` -> ``{"batch_size": 32, "data.from_gt": False}``."""
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        return dict(overrides)
    parsed: dict[str, Any] = {}
    tokens = list(overrides)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or token == "--":
            raise RefinetError(f"override {token!r}: expected --key value or --key=value")
        if "=" in token:
            name, text = token[2:].split("=", 1)
            i += 1
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            name, text = token[2:], tokens[i + 1]
            i += 2
        else:
            raise RefinetError(f"override {token} needs a value (--key value or --key=value)")
        try:
            parsed[name] = json.loads(text)
        except json.JSONDecodeError:
            parsed[name] = text
    return parsed


def _resolve_override(name: str) -> tuple[str, str, str | None]:
    """Override name -> (section, key, free-form sub-key or None)."""
    parts = name.split(".")
    if len(parts) == 1:
        hits = [(s, k) for s, k in SCHEMA if k == name]
        if len(hits) > 1:
            raise RefinetError(f"override --{name} is ambiguous; use one of: "
                               + ", ".join(f"--{_dotted(s, k)}" for s, k in hits))
        if not hits:
            names = sorted({k for _, k in SCHEMA} | {_dotted(s, k) for s, k in SCHEMA})
            raise RefinetError(f"override --{name}: no such hypes key{did_you_mean(name, names)}")
        return hits[0][0], hits[0][1], None
    section, key, sub = parts[0], parts[1], ".".join(parts[2:]) or None
    if section not in SECTIONS:
        raise RefinetError(f"override --{name}: no hypes section {section!r}{did_you_mean(section, SECTIONS)}; "
                           f"valid: {', '.join(SECTIONS)}")
    if (section, key) not in SCHEMA:
        raise _unknown("override --" + name, section, key)
    if sub is not None and not (section == "preprocess" and key in PREPROCESS_KEYS):
        raise RefinetError(f"override --{name}: {_dotted(section, key)} has no sub-keys")
    return section, key, sub


class Section(Mapping):
    """A read-only hypes section with attribute access: ``hypes.data.batch_size``."""

    __slots__ = ("_name", "_data")

    def __init__(self, name: str, data: Mapping[str, Any]) -> None:
        self._name, self._data = name, data

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        if isinstance(value, dict):
            return MappingProxyType(value)
        return tuple(value) if isinstance(value, list) else value

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        if key not in self._data:
            hint = did_you_mean(key, list(self._data))
            raise AttributeError(f"hypes section {self._name!r} has no key {key!r}{hint}")
        return self[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True)
class Hypes:
    """Resolved hypes: ``hypes.epochs``, ``hypes.data.batch_size``, ``hypes.stage``, ``hypes.model_config``."""

    source: str  # the JSON file
    values: Mapping[str, Any]  # nested; sections are dicts
    explicit: frozenset[str]  # dotted keys the file or the overrides set
    model_config: ModelConfig

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self.values:
            raise AttributeError(name)
        value = self.values[name]
        return Section(name, value) if name in SECTIONS else value

    def __repr__(self) -> str:
        return f"Hypes({self.source!r}, stage={self.stage!r})"

    @property
    def stage(self) -> str:
        """patch, skeleton or pointcloud."""
        return self.values["data"]["type"]

    def get(self, dotted: str, default: Any = None) -> Any:
        """``hypes.get("data.batch_size")``, ``hypes.get("preprocess.points.num_points")``; ``default`` if unset."""
        value: Any = self.values
        for part in dotted.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return default
            value = value[part]
        return value

    def to_dict(self) -> dict:
        """The resolved hypes as plain JSON data (loads back to the same Hypes)."""
        return copy.deepcopy(dict(self.values))

    def preprocess_settings(self, kind: str) -> dict[str, Any]:
        """Keyword arguments for PatchConfig / PointConfig / SkeletonConfig (kind: patch | points | skeleton).

        ``preprocess.mode`` is the default of every kind; for patches "authors"
        means the dataset's variant (``itop_authors`` or ``baracca_authors``).
        """
        if kind not in PREPROCESS_KEYS:
            raise RefinetError(f"unknown pre-processing kind {kind!r}; valid: {', '.join(PREPROCESS_KEYS)}")
        settings = {"mode": self.values["preprocess"]["mode"], **self.values["preprocess"][kind]}
        if kind == "patch" and settings["mode"] == "authors":
            settings["mode"] = "baracca_authors" if self.values["dataset"] == "Baracca" else "itop_authors"
        if kind == "patch" and self.stage == "patch":
            settings["size"] = self.model_config.patch_size  # type: ignore[union-attr]
        if kind == "points" and self.stage == "pointcloud":
            settings["num_points"] = self.model_config.num_points  # type: ignore[union-attr]
        if kind == "points" and "data.pcloud_dim" in self.explicit and "cube_side_m" not in settings:
            settings["cube_side_m"] = self.values["data"]["pcloud_dim"] / 1000.0
        return settings

    def unused_keys(self) -> list[str]:
        """Keys this file sets that change nothing in refinet-edge (the authors' extras)."""
        unused = set(self.explicit & NO_EFFECT)
        if self.stage != "skeleton":
            unused |= {k for k in self.explicit if k.split(".")[0] == "network" and k.split(".")[1] in
                       ("linear_size", "residual", "dropout", "batch_norm", "activation", "alpha", "beta", "gamma")}
        return sorted(unused)


def _pick(where: str, rank: dict[str, int], first: str, first_value: Any, second: str, second_value: Any) -> Any:
    """Two keys that set one thing: the command line beats the file, the file beats a default; ties must agree."""
    r1, r2 = rank.get(first, 0), rank.get(second, 0)
    if r1 == r2 and r1 > 0 and first_value != second_value:
        raise RefinetError(f"{where}: {first} ({json.dumps(first_value)}) contradicts {second} "
                           f"({json.dumps(second_value)}); set only one of them")
    return first_value if r1 >= r2 else second_value


def _resolve_noise(where: str, merged: dict, rank: dict[str, int]) -> None:
    """data_aug.sigma/mu (authors) and the stage's noise key end up equal (see the module docstring)."""
    suffix = "mm" if merged["data"]["type"] == "pointcloud" else "px"
    for aug, ours in (("sigma", f"sigma_{suffix}"), ("mu", f"mu_{suffix}")):
        if merged["data_aug"][aug] is not None:
            given = merged["data_aug"][aug]
            value = _pick(where, rank, f"data_aug.{aug}", given, f"noise.{ours}", merged["noise"][ours])
            merged["data_aug"][aug] = merged["noise"][ours] = value


def _model_config(where: str, merged: dict, rank: dict[str, int]) -> ModelConfig:
    """The preset, the authors' keys and the model.* fields, merged and validated (see the module docstring)."""
    stage, net, model = merged["data"]["type"], merged["network"], merged["model"]
    fields = CONFIG_CLASSES[stage]().to_dict()
    for key in model:
        if key != "preset" and key not in fields:
            raise RefinetError(f"{where}: model.{key} is not a field of the {stage} model"
                               f"{did_you_mean(key, list(fields))}; valid: preset, {', '.join(fields)}")
    authors = {"num_joints": ("data", "num_keypoints")}
    if stage == "patch":
        authors["patch_size"] = ("data", "patch_dim")
    if stage == "skeleton":
        if net["activation"] is not None and net["activation"].lower() != "relu":
            raise RefinetError(f"{where}: network.activation {net['activation']!r} is not supported; use relu")
        authors.update({name: ("network", name) for name in ("linear_size", "residual", "batch_norm", "dropout")})
    overrides = {k: v for k, v in model.items() if k != "preset"}
    if stage == "skeleton":
        pre = merged["preprocess"]["skeleton"]
        rays, evidence = pre.get("rays") is True, pre.get("evidence") is True
        patch_ev = pre.get("patch_evidence") is True
        # x, y, z + the two ray features + the evidence + the patch evidence
        wanted = 3 + 2 * rays + NUM_EVIDENCE * evidence + NUM_PATCH_EVIDENCE * patch_ev
        if wanted != 3:
            features = overrides.setdefault("input_features", wanted)
            if features != wanted:
                option = "patch_evidence" if patch_ev else "evidence" if evidence else "rays"
                raise RefinetError(f"{where}: preprocess.skeleton.{option} needs model.input_features {wanted}, "
                                   f"got {features}")
    for name, (section, key) in authors.items():
        value = merged[section][key]
        if name == "dropout" and isinstance(value, bool):
            value = None if value else 0.0  # the authors' true: dropout at the preset's rate
        if rank.get(f"{section}.{key}", 0) == 0 or value is None:
            continue
        if name in overrides:
            value = _pick(where, rank, f"model.{name}", overrides[name], f"{section}.{key}", value)
            merged[section][key] = merged["model"][name] = value
        overrides[name] = value
    try:
        config = preset_config(stage, model["preset"], **overrides)
    except RefinetError as exc:
        raise RefinetError(f"{where}: {exc}") from None
    checks = {"patch": ("patch", "size", "patch_size"), "pointcloud": ("points", "num_points", "num_points")}
    if stage in checks:
        kind, key, field = checks[stage]
        given = merged["preprocess"][kind].get(key)
        if given is not None and given != getattr(config, field):
            raise RefinetError(f"{where}: preprocess.{kind}.{key} ({given}) does not match the model's {field} "
                               f"({getattr(config, field)}); set the model's size instead")
    return config


def load_hypes(path: str | Path, overrides: list[str] | Mapping[str, Any] | None = None) -> Hypes:
    """Read, override, validate and resolve a hypes file (see the module docstring)."""
    path = Path(path)
    flat = _flatten(_read_json(path), str(path))
    rank = {_dotted(s, k): 1 for s, k in flat}
    for name, value in parse_overrides(overrides).items():
        try:
            section, key, sub = _resolve_override(name)
        except RefinetError as exc:
            raise RefinetError(f"{path}: {exc}") from None
        rank[_dotted(section, key) if sub is None else f"{section}.{key}.{sub}"] = 2
        where = f"{path}: override --{name}"
        if sub is None:
            flat[(section, key)] = _check_value(section, key, value, where)
        else:
            flat[(section, key)] = _check_value(section, key, {**flat.get((section, key), {}), sub: value}, where)
    explicit = {_dotted(s, k) for s, k in flat}
    merged: dict[str, Any] = {s: {} for s in SECTIONS}
    for (section, key), (_, default) in SCHEMA.items():
        if (section, key) in flat:
            value = _check_value(section, key, flat[(section, key)], str(path))
        elif default is REQUIRED:
            if section == "model":
                continue
            raise RefinetError(f"{path}: missing required key {_dotted(section, key)!r}")
        else:
            value = copy.deepcopy(default)
        (merged[section] if section else merged)[key] = value
    _resolve_noise(str(path), merged, rank)
    config = _model_config(str(path), merged, rank)
    return Hypes(str(path), merged, frozenset(explicit), config)


def dump_hypes(hypes: Hypes) -> dict[str, Any]:
    """Everything a run log or checkpoint needs: source, stage, resolved hypes and model config."""
    return {"source": hypes.source, "stage": hypes.stage, "hypes": hypes.to_dict(),
            "model_config": hypes.model_config.to_dict(), "unused_keys": hypes.unused_keys()}

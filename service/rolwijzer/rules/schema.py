"""The structure of each kind of rule file as declarative models, and the JSON Schemas generated from them.

The models say which keys an entry has, which are required and what type each value is. The loader validates
each parsed file with them and builds the rule set from the validated models (loader.py), and the JSON Schemas in
`rules/schema/` are generated from them (`rolwijzer-rules schema rules/schema`) so an editor (the VS Code YAML
extension, see .vscode/settings.json) flags a misspelt key or a missing text while a lawyer types. Names are not
checked here: whether a fact, code or predicate exists is a cross-check of the whole release (validate.py).

pydantic v2, because `model_json_schema()` turns the same models that validate a parsed file into a standard JSON
Schema (draft 2020-12), recursive conditions included, with no schema written by hand that could drift from them.

Texts (`{nl: ..., en: ...}`) tolerate extra keys: every shipped release has flow-mapping texts whose unquoted
comma made the rest of the sentence a key (`{nl: Een dienstverband of contract, of ...}`), and released files are
immutable; the loader accepts them likewise.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    model_validator,
)

__all__ = [
    "FILE_KINDS",
    "SCHEMA_FOLDER",
    "Conclusion",
    "Rule",
    "RulesetFile",
    "StageFile",
    "Symbol",
    "file_kind",
    "keys",
    "required_keys",
    "schema_texts",
    "structure_problems",
    "write_schemas",
]

SCHEMA_FOLDER = "schema"  # under the rules root: rules/schema/<kind>.schema.json
_DRAFT = "https://json-schema.org/draft/2020-12/schema"


class _Entry(BaseModel):
    """An entry whose keys are exactly the fields: a misspelt key is a problem, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# A text as readers see it: surrounding white space is no text, so a blank one is refused like an empty one.
Wording = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# A date as YAML reads `2026-01-01`: strict, so a quoted date or a number (read as a Unix time) is refused.
Date = Annotated[dt.date, Field(strict=True)]
# true or false as YAML reads them: strict, so `yes`, "true" or 1 is refused, as the loader's own checks did.
Flag = Annotated[bool, Field(strict=True)]


class Text(BaseModel):
    """A text in Dutch and English."""

    model_config = ConfigDict(extra="allow", frozen=True, title="Text")
    nl: Wording = Field(description="Dutch")
    en: Wording = Field(description="English")


Cite = Annotated[
    list[str],
    Field(min_length=1, description="sources: each starts with a source id of sources.yaml, then its section"),
]
Scalar = str | bool | float
Codes = str | list[str]


class _ParamName(_Entry):
    param: str = Field(description="a parameter of parameters.yaml")


class _GroupName(_Entry):
    group: str = Field(description="a group of facts.yaml")


Symbols = list[str] | _GroupName | _ParamName
Number = float | _ParamName


# ---- conditions (conditions.py) ----


class AllOf(_Entry):
    all: list[Condition] = Field(min_length=1)


class AnyOf(_Entry):
    any: list[Condition] = Field(min_length=1)


class NotOf(_Entry):
    not_: Condition = Field(alias="not")


class PredicateTest(_Entry):
    predicate: str = Field(description="a predicate of predicates.yaml written above (or in predicates.yaml)")


class ParamTest(_Entry):
    param: str
    is_: Scalar = Field(alias="is")


class RoleTest(_Entry):
    role: Codes


class DeployerTest(_Entry):
    volunteer_deployer: Codes


class CodeTest(_Entry):
    code: Codes


class AggregateTest(_Entry):
    aggregate: str
    is_: Flag = Field(alias="is")


_FACT_OPS = (
    "is",
    "is_not",
    "in",
    "above",
    "at_least",
    "at_most",
    "below",
    "known",
    "contains",
    "contains_any",
    "only",
    "absent",
    "conflicting",
)


class FactTest(_Entry):
    """`{fact: NAME, <one test>: OPERAND}`."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 2, "maxProperties": 2})
    fact: str = Field(description="a fact of facts.yaml")
    is_: Scalar | None = Field(None, alias="is")
    is_not: Scalar | None = None
    in_: Symbols | None = Field(None, alias="in")
    above: Number | None = None
    at_least: Number | None = None
    at_most: Number | None = None
    below: Number | None = None
    known: Literal[True] | None = None
    contains: Scalar | None = None
    contains_any: Symbols | None = None
    only: Symbols | None = None
    absent: Literal[True] | None = None
    conflicting: Literal[True] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_test(cls, data: Any) -> Any:  # noqa: ANN401 - pydantic hands over the raw value
        if isinstance(data, dict) and len([k for k in data if k in _FACT_OPS]) != 1:
            raise ValueError(f"a fact test has exactly one test of {list(_FACT_OPS)}")
        return data


# Each kind of condition by the key only it has: pydantic validates a condition against that kind alone, instead of
# trying all ten (a union), which costs a reload time and names ten mismatches for one mistake.
_CONDITION_KINDS: dict[str, type[BaseModel]] = {
    "all": AllOf,
    "any": AnyOf,
    "not": NotOf,
    "predicate": PredicateTest,
    "param": ParamTest,
    "role": RoleTest,
    "volunteer_deployer": DeployerTest,
    "code": CodeTest,
    "aggregate": AggregateTest,
    "fact": FactTest,
}


def _condition_kind(data: Any) -> str | None:  # noqa: ANN401 - pydantic hands over the raw value
    if isinstance(data, dict):
        return next((key for key in data if key in _CONDITION_KINDS), None)
    return None


Condition = Annotated[
    Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")]
    | Annotated[PredicateTest, Tag("predicate")]
    | Annotated[ParamTest, Tag("param")]
    | Annotated[RoleTest, Tag("role")]
    | Annotated[DeployerTest, Tag("volunteer_deployer")]
    | Annotated[CodeTest, Tag("code")]
    | Annotated[AggregateTest, Tag("aggregate")]
    | Annotated[FactTest, Tag("fact")],
    Discriminator(
        _condition_kind,
        custom_error_type="condition",
        custom_error_message="a condition is a mapping with one of the keys " + ", ".join(_CONDITION_KINDS),
    ),
]

for _model in (AllOf, AnyOf, NotOf):
    _model.model_rebuild()  # `Condition` is recursive: resolved once it is defined


# ---- the files ----


class Source(_Entry):
    id: str = Field(description="cited as the start of a citation: `<id> § <section>`")
    title: str = Field(description="organisation — title (year), never a file name")


class SourcesFile(_Entry):
    """sources.yaml: every source a citation may name."""

    sources: list[Source]


class Symbol(_Entry):
    value: str
    nl: Wording
    en: Wording
    means: list[str] | None = Field(None, min_length=2, description="a shorthand for at least two other symbols")


class Bucket(_Entry):
    label: str
    value: str | float


class Buckets(_Entry):
    buckets: list[Bucket] = Field(min_length=2)


class Split(_Entry):
    split_at: _ParamName
    boundary: _ParamName | None


class Fact(_Entry):
    name: str
    type: Literal["symbol", "boolean", "number", "set"]
    symbols: list[Symbol] | None = Field(None, description="symbol and set facts: their values")
    unknown: Flag = False
    default: Scalar | list[str] | None = Field(None, description="a value, or `conditional` (set by an A1 rule)")
    decides_role: Flag = False
    enumerate: Literal["symbols"] | Buckets | Split | None = None
    question: Text
    help: Text
    unit: Text | None = None
    cite: Cite
    maximum: Annotated[float, Field(strict=True)] | None = Field(
        None, gt=0, description="number facts: the largest answer accepted"
    )


class Group(_Entry):
    name: str
    fact: str
    symbols: list[str]
    explain: Text
    cite: Cite


class FactsFile(_Entry):
    """facts.yaml: the facts asked, and named groups of their symbols."""

    facts: list[Fact] = []
    groups: list[Group] = []


class Parameter(_Entry):
    name: str
    explain: Text
    unit: str | None = None
    values: dict[Date, Scalar | list[str]] = Field(min_length=1, description="the value from each date on")
    allowed: list[str] | None = None
    fact: str | None = None
    texts: dict[str, dict[str, Text]] | None = Field(None, description="placeholder -> allowed value -> text")
    cite: Cite


class ParametersFile(_Entry):
    """parameters.yaml: values that change by date."""

    parameters: list[Parameter]


class RoleDef(_Entry):
    code: str
    text: Text
    cite: Cite


class CodeDef(_Entry):
    code: str
    kind: Literal["context", "liability", "obligation", "flag"]
    text: Text
    party: Text | None = None
    cite: Cite
    aggregate: Literal["all", "any"] = "all"
    pattern: Flag = False
    safety: Flag = False


class CodesFile(_Entry):
    """codes.yaml: roles, volunteer deployers and the codes rules conclude."""

    roles: list[RoleDef] = []
    deployers: list[RoleDef] = []
    codes: list[CodeDef] = []


class Predicate(_Entry):
    name: str
    when: Condition
    explain: Text
    cite: Cite


class PredicatesFile(_Entry):
    """predicates.yaml: named conditions; each may use the ones above it."""

    predicates: list[Predicate]


class Conclusion(_Entry):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    role: str | None = None
    volunteer_deployer: str | None = None
    codes: list[str] | None = None
    set: dict[str, Scalar] | None = None
    exclude: dict[str, Scalar | list[Scalar]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _concludes(cls, data: Any) -> Any:  # noqa: ANN401 - pydantic hands over the raw value
        # minProperties above is for the JSON Schema only; pydantic needs saying it too.
        if isinstance(data, dict) and not data:
            raise ValueError("a rule concludes something: `then` needs some of " + ", ".join(cls.model_fields))
        return data


class Rule(_Entry):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    stage: str
    when: Condition
    then: Conclusion
    explain: Text
    cite: Cite
    note: str | None = None
    valid_from: Date | None = None
    valid_until: Date | None = None


class StageFile(_Entry):
    """stage-*.yaml (any file holding `rules:`): the rules."""

    rules: list[Rule]


class Change(_Entry):
    release: str | None = None
    what: str | None = None
    date: Date | None = None
    parameter: str | None = None
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    cite: str | None = None


class RulesetFile(_Entry):
    """ruleset.yaml: the release's id, version, title and the dates it decides."""

    id: str = Field(min_length=1)
    version: str = Field(min_length=1)
    title: Text
    specification: str | None = None
    valid_from: Date
    valid_until: Date | None = None
    supersedes: list[str] = []
    changes: list[Change] | None = None


class ManifestFile(_Entry):
    """manifest.yaml: every file of the release and its sha256 (written by `rolwijzer-rules manifest`)."""

    files: dict[
        Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.yaml$")],
        Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")],
    ]


# The kind of each file by name; any other `*.yaml` holding `rules:` is a stage file.
FILE_KINDS: dict[str, type[BaseModel]] = {
    "ruleset": RulesetFile,
    "sources": SourcesFile,
    "facts": FactsFile,
    "codes": CodesFile,
    "parameters": ParametersFile,
    "predicates": PredicatesFile,
    "stage": StageFile,
    "manifest": ManifestFile,
}


def keys(model: type[BaseModel]) -> frozenset[str]:
    """The keys an entry of `model` may have, as written in the files (`is`, `from`, not `is_`, `from_`)."""
    return frozenset(field.alias or name for name, field in model.model_fields.items())


def required_keys(model: type[BaseModel]) -> frozenset[str]:
    """The keys an entry of `model` must have."""
    return frozenset(field.alias or name for name, field in model.model_fields.items() if field.is_required())


def file_kind(name: str) -> str:
    """The kind of the release file `name` (`facts.yaml` -> `facts`); `stage` for the rule files."""
    stem = name.removesuffix(".yaml")
    return stem if stem in FILE_KINDS else "stage"


def schema_texts() -> dict[str, str]:
    """Each published schema file's name (`facts.schema.json`) and its text, as `write_schemas` writes it."""
    texts: dict[str, str] = {}
    for kind, model in FILE_KINDS.items():
        schema = {"$schema": _DRAFT, **model.model_json_schema(by_alias=True)}
        schema["title"] = f"Rolwijzer rule file: {kind}" + (".yaml" if kind != "stage" else "-*.yaml")
        texts[f"{kind}.schema.json"] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return texts


def write_schemas(folder: Path) -> list[Path]:
    """Write every schema into `folder` (created if needed); the paths whose content changed."""
    folder.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in schema_texts().items():
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def structure_problems(name: str, document: object) -> list[tuple[tuple[str | int, ...], str]]:
    """What in the parsed file `name` does not fit its model: (path of keys and indexes, message) for each.

    An empty list means the file's structure is sound; its names are checked when the release is loaded.
    """
    try:
        FILE_KINDS[file_kind(name)].model_validate(document)
    except ValidationError as err:
        return [(tuple(error["loc"]), error["msg"]) for error in err.errors()]
    return []

"""Typed, immutable objects for a loaded rule set. Nothing here knows YAML or durable-rules."""

from __future__ import annotations

import datetime as dt
import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

LANGUAGES = ("nl", "en")
UNKNOWN = "unknown"

# The stages of the decision procedure (domain.md §6), in the order the engine runs them. A1 and A normalise the
# input; H-enumeration prunes the combinations of unknown facts; B decides the role (first match); B-context to G
# conclude per combination; H judges the combinations together.
STAGE_IDS = ("A1", "A", "H-enumeration", "B", "B-context", "C", "D1", "D2", "D", "E", "F", "G", "H")


class FactType(enum.StrEnum):
    """The kind of value a fact takes."""

    SYMBOL = "symbol"
    BOOLEAN = "boolean"
    NUMBER = "number"
    SET = "set"


class CodeKind(enum.StrEnum):
    """Where an output code is reported."""

    CONTEXT = "context"
    LIABILITY = "liability"
    OBLIGATION = "obligation"
    FLAG = "flag"


class Aggregate(enum.StrEnum):
    """How a flag survives stage H: raised by every combination, or by any one."""

    ALL = "all"
    ANY = "any"


@dataclass(frozen=True)
class Text:
    """A text in Dutch and English."""

    nl: str
    en: str

    def get(self, language: str) -> str:
        """Return the text in `language` ("nl" or "en")."""
        return self.en if language == "en" else self.nl


@dataclass(frozen=True)
class Citation:
    """A reference to a source, as written in the rule files."""

    source: str
    reference: str
    title: str


@dataclass(frozen=True)
class SymbolDef:
    """One allowed symbol of a fact, with its labels.

    A symbol with `means` is accepted as input and read as "one of these, not known which" (for example
    `contracted`: agency worker or self-employed); it is enumerated like a one_of but is not a conflicting report.
    """

    value: str
    label: Text
    means: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParamRef:
    """A reference to a parameter, resolved against the date of evaluation."""

    name: str


@dataclass(frozen=True)
class GroupRef:
    """A reference to a named group of symbols."""

    name: str


@dataclass(frozen=True)
class Bucket:
    """One value stage H tries for an unknown fact, with the label a person reads."""

    label: str
    value: str | float


@dataclass(frozen=True)
class Enumeration:
    """How stage H enumerates an unknown ★ fact: all symbols, explicit buckets, or a split at a parameter."""

    buckets: tuple[Bucket, ...] = ()
    split_at: ParamRef | None = None
    boundary: ParamRef | None = None


Scalar = str | float


@dataclass(frozen=True)
class FactDef:
    """One fact of the facts catalogue (domain.md §5)."""

    name: str
    type: FactType
    symbols: tuple[SymbolDef, ...]
    unknown_allowed: bool
    default: Scalar | frozenset[str] | None
    default_conditional: bool
    decides_role: bool
    enumeration: Enumeration | None
    question: Text
    help: Text
    unit: Text | None
    citations: tuple[Citation, ...]
    # Number facts: the largest value that makes sense (a week has 168 hours); larger is refused as input.
    maximum: float | None = None

    @functools.cached_property
    def symbol_values(self) -> tuple[str, ...]:
        """The allowed symbols (for booleans "true" and "false", and "unknown" where allowed).

        Kept once found (in the instance's `__dict__`, as `aliases`): every symbol of every request is checked
        against it."""
        return tuple(s.value for s in self.symbols)

    @functools.cached_property
    def aliases(self) -> Mapping[str, tuple[str, ...]]:
        """The symbols that stand for one of several others, with what they mean."""
        return {s.value: s.means for s in self.symbols if s.means}

    @property
    def plain_symbols(self) -> tuple[str, ...]:
        """The symbols that say one definite thing: neither `unknown` nor an alias for several others."""
        return tuple(v for v in self.symbol_values if v != UNKNOWN and v not in self.aliases)


@dataclass(frozen=True)
class Group:
    """A named subset of one fact's symbols, for example the relations that count as 'related'."""

    name: str
    fact: str
    symbols: frozenset[str]
    explain: Text
    citations: tuple[Citation, ...]


@dataclass(frozen=True)
class Parameter:
    """A parameter with dated values (openfisca style): the latest value dated on or before a day applies.

    `texts` gives the wording a text's placeholder takes under each allowed value: {placeholder: {value: Text}},
    for example {"hours": {"strict": "meer dan {intensity_hours} uur", "inclusive": "minimaal ..."}}.
    """

    name: str
    explain: Text
    values: tuple[tuple[dt.date, Scalar | tuple[str, ...]], ...]
    allowed: tuple[str, ...]
    fact: str | None
    citations: tuple[Citation, ...]
    texts: Mapping[str, Mapping[str, Text]] = field(default_factory=dict)

    def value_on(self, day: dt.date) -> Scalar | tuple[str, ...] | None:
        """Return the value in force on `day`, or None when the parameter has no value yet."""
        current: Scalar | tuple[str, ...] | None = None
        for since, value in self.values:
            if since <= day:
                current = value
        return current


@dataclass(frozen=True)
class CodeDef:
    """An output code (domain.md §7) with its texts and sources."""

    code: str
    kind: CodeKind
    text: Text
    party: Text | None
    citations: tuple[Citation, ...]
    aggregate: Aggregate = Aggregate.ALL
    pattern: bool = False
    # Obligations and flags about safety (reserved procedures, medication, risk): follow-up questions that can
    # change one are asked before administrative ones.
    safety: bool = False


@dataclass(frozen=True)
class RoleDef:
    """A role or a volunteer deployer, with its text and sources."""

    code: str
    text: Text
    citations: tuple[Citation, ...]


# --- conditions -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllOf:
    """True when every item is true."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    """True when at least one item is true."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Named:
    """A predicate used by name; it means exactly `item`. Kept so a rule reads as it was written."""

    name: str
    item: Condition


@dataclass(frozen=True)
class Not:
    """True when the item is false."""

    item: Condition


class FactOp(enum.StrEnum):
    """The tests a condition can make on one fact."""

    IS = "is"
    IS_NOT = "is_not"
    IN = "in"
    ABOVE = "above"
    AT_LEAST = "at_least"
    AT_MOST = "at_most"
    BELOW = "below"
    KNOWN = "known"
    CONTAINS = "contains"
    CONTAINS_ANY = "contains_any"
    ONLY = "only"
    ABSENT = "absent"
    CONFLICTING = "conflicting"


SymbolsOperand = tuple[str, ...] | GroupRef | ParamRef
NumberOperand = float | ParamRef


@dataclass(frozen=True)
class FactTest:
    """A test on one fact. `fact` is "*" only for the conflicting-facts rule, which applies to every fact."""

    fact: str
    op: FactOp
    operand: Scalar | bool | SymbolsOperand | NumberOperand


@dataclass(frozen=True)
class ParamTest:
    """A test on a parameter's value; it is decided when the rule set is compiled for a date."""

    param: str
    value: str


@dataclass(frozen=True)
class RoleTest:
    """True when the role found in stage B is one of `roles`."""

    roles: tuple[str, ...]


@dataclass(frozen=True)
class DeployerTest:
    """True when the volunteer deployer found in stage B is one of `deployers`."""

    deployers: tuple[str, ...]


@dataclass(frozen=True)
class CodeTest:
    """True when an earlier stage concluded one of `codes`."""

    codes: tuple[str, ...]


@dataclass(frozen=True)
class AggregateTest:
    """Stage H only: a test on what the combinations of unknown facts have in common."""

    name: str
    value: bool


Condition = AllOf | AnyOf | Not | Named | FactTest | ParamTest | RoleTest | DeployerTest | CodeTest | AggregateTest

AGGREGATES = ("role_determined", "deployer_determined", "liability_determined", "all_volunteer")


@dataclass(frozen=True)
class Conclusion:
    """What a rule concludes when it fires."""

    role: str | None = None
    volunteer_deployer: str | None = None
    codes: tuple[str, ...] = ()
    set_facts: Mapping[str, Scalar] = field(default_factory=dict)
    exclude: Mapping[str, tuple[Scalar, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """One rule: id, stage, condition, conclusion, explanation and sources."""

    id: str
    stage: str
    when: Condition
    then: Conclusion
    explain: Text
    citations: tuple[Citation, ...]
    file: str
    note: str = ""
    # A dated entry: a change in the law that adds or ends a rule on a day; None is open.
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None

    def in_force_on(self, day: dt.date) -> bool:
        """True when the rule applies on `day` (always, unless it is dated)."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day <= self.valid_until
        )


@dataclass(frozen=True)
class Predicate:
    """A named condition that rules refer to; it is inlined when loaded."""

    name: str
    when: Condition
    explain: Text
    citations: tuple[Citation, ...]


@dataclass(frozen=True)
class RuleSet:
    """A complete, validated rule set: catalogues, parameters and rules."""

    id: str
    version: str
    title: Text
    sha256: str
    valid_from: dt.date
    valid_until: dt.date | None
    folder: str
    facts: Mapping[str, FactDef]
    groups: Mapping[str, Group]
    parameters: Mapping[str, Parameter]
    roles: Mapping[str, RoleDef]
    deployers: Mapping[str, RoleDef]
    codes: Mapping[str, CodeDef]
    predicates: Mapping[str, Predicate]
    rules: tuple[Rule, ...]
    sources: Mapping[str, str]
    # The earlier releases this release corrects: they are never chosen by date while this one is loaded.
    supersedes: tuple[str, ...] = ()

    def in_force_on(self, day: dt.date) -> bool:
        """True when `day` lies in the window this release covers."""
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    def window(self) -> str:
        """The validity window as a person reads it, for example "2015-01-01..2026-12-31" or "2027-01-01.."."""
        return f"{self.valid_from.isoformat()}..{self.valid_until.isoformat() if self.valid_until else ''}"

    def rule(self, rule_id: str) -> Rule:
        """Return the rule with id `rule_id`."""
        return self._rules_by_id[rule_id]

    @property
    def _rules_by_id(self) -> Mapping[str, Rule]:
        cached: Mapping[str, Rule] | None = self.__dict__.get("_by_id")
        if cached is None:
            cached = {r.id: r for r in self.rules}
            object.__setattr__(self, "_by_id", cached)
        return cached

    def code(self, code: str) -> CodeDef:
        """Return the catalogue entry of `code`, expanding the CONFLICT_<FACT> pattern."""
        found = self.codes.get(code)
        if found is not None:
            return found
        return self.codes["CONFLICT_<FACT>"]

    def stage_rules(self, stage: str, day: dt.date | None = None) -> tuple[Rule, ...]:
        """The rules of one stage, in the order the files state them; on `day`, only the rules in force then."""
        return tuple(r for r in self.rules if r.stage == stage and (day is None or r.in_force_on(day)))

    def change_dates(self) -> set[dt.date]:
        """The days inside the window on which a dated entry (of a parameter or a rule) takes or ends effect."""
        days = {since for p in self.parameters.values() for since, _ in p.values}
        days.update(r.valid_from for r in self.rules if r.valid_from is not None)
        days.update(r.valid_until + dt.timedelta(days=1) for r in self.rules if r.valid_until is not None)
        return {d for d in days if self.in_force_on(d)} | {self.valid_from}


def conflict_code(fact: str) -> str:
    """The flag raised when `fact` is given as a list of possible values (domain.md §6 A6)."""
    return f"CONFLICT_{fact.upper()}"


def version_key(version: str) -> tuple[tuple[int, str], ...]:
    """A release version as a sort key: "1.10.0" after "1.9.0"; parts that are not numbers compare as text."""
    return tuple((int(part), "") if part.isdigit() else (-1, part) for part in version.split("."))
